import ArgumentParser
import Foundation
import ONNX
import Synapse

/// A training sample's output folder and the run's life cycle around it: the folder is checked
/// before any training; a checkpoint is written at the end of every epoch; `--resume` continues
/// from it; Ctrl-C or SIGTERM stops after the current batch with a checkpoint and a note on how
/// to continue; the model set (weights, architecture, log, curves, extra files) replaces the
/// folder's contents as a whole (`ModelFolder`).
public struct TrainingRun {
    public let folder: ModelFolder
    let options: TrainingOptions
    let communicator: any Communicator
    /// Held for the run: a second run on the same folder stops with an error naming it.
    let lock: ModelFolder.Lock?

    /// Locks the folder for this run, prepares it (finishes or removes what an interrupted run
    /// left, creates it) and checks that it can be written, so that problems show up before
    /// training. Across ranks
    /// only rank 0 touches the folder (the others wait for it, then read its checkpoint with
    /// `--resume`: the folder must be the same on every rank, a shared one across machines).
    public init(output: String, options: TrainingOptions, communicator: any Communicator = SingleProcess()) throws {
        folder = try ModelFolder(URL(fileURLWithPath: output, isDirectory: true))
        lock = communicator.isRoot ? try folder.lock() : nil
        if communicator.isRoot { try folder.prepare() }
        communicator.barrier()
        self.options = options
        self.communicator = communicator
    }

    /// Checkpoints the trainer into the folder, turns Ctrl-C and SIGTERM into a stop request,
    /// and with `--resume` restores the checkpoint (with the state of `callbacks`), saying from
    /// where; without a checkpoint it starts fresh and says so.
    public func start(_ trainer: Trainer, callbacks: [any Callback] = []) throws {
        if options.exportOnnx != nil {
            // A model ONNX cannot express is found now, not after training.
            do { _ = try ONNXExporter.export(trainer.model) } catch {
                throw ValidationError("--export-onnx: \(error)")
            }
        }
        let checkpoint = folder.checkpointURL
        let exists = FileManager.default.fileExists(atPath: checkpoint.path)
        if options.resume && exists {
            try trainer.loadCheckpoint(from: checkpoint, callbacks: callbacks)
            if let position = trainer.position {
                note("resuming from \(checkpoint.path): epoch \(trainer.epoch + 1), after batch \(position.batch)")
            } else {
                note("resuming from \(checkpoint.path): after epoch \(trainer.epoch)" + (trainer.stopTraining ? " (early stopping had ended training)" : ""))
            }
        } else if options.resume {
            note("no checkpoint in \(folder.url.path): starting fresh")
        } else if exists {
            note("starting fresh; --resume would continue from \(checkpoint.path), which this run replaces")
        }
        trainer.checkpointURL = checkpoint
        trainer.stopRequest = StopRequest.onSignals()
    }

    /// Runs `fit`; when a stop request ended it, prints how to continue and exits with 128 + the
    /// signal number (1 without a signal).
    public func fit(_ trainer: Trainer, _ body: () throws -> History) throws -> History {
        do { return try body() } catch let stopped as TrainingStopped {
            note("\(stopped)")
            var arguments = CommandLine.arguments
            if !arguments.contains("--resume") { arguments.append("--resume") }
            note("continue with: " + arguments.map(quoted).joined(separator: " "))
            throw ExitCode(trainer.stopRequest?.signal.map { 128 + $0 } ?? 1)
        }
    }

    /// Replaces the folder's model set: model.safetensors and model.json (with `training`),
    /// log.csv from the history, curves.svg when `curves` names the plot, and whatever `extra`
    /// writes into the folder it is given. The checkpoint is carried over. With `--export-onnx`,
    /// the model is written as ONNX to that file too (atomically). Only rank 0 writes.
    public func save(_ model: any Model, training: [String: ConfigValue], history: History, curves: String?,
                     extra: (URL) throws -> Void = { _ in }) throws {
        guard communicator.isRoot else { return }
        try folder.replace { staging in
            try model.save(to: staging.appendingPathComponent("model.safetensors"), training: training)
            try AtomicFile.write(Data(CSVLogger.text(history).utf8), to: staging.appendingPathComponent("log.csv"))
            if let curves {
                try AtomicFile.write(Data(CurvePlot.svg(history, title: curves).utf8), to: staging.appendingPathComponent("curves.svg"))
            }
            try extra(staging)
        }
        if let path = options.exportOnnx {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try ONNXExporter.write(model, to: url)
            note("ONNX model: \(path)")
        }
    }

    /// The saved weights' path (for messages).
    public var weights: URL { folder.url.appendingPathComponent("model.safetensors") }
}

/// A shell word: quoted when it holds anything but letters, digits and -_./=:,+
func quoted(_ word: String) -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+")
    return !word.isEmpty && word.allSatisfy(plain.contains) ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
