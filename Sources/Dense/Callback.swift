import Foundation

/// Hooks the training loop calls. Every method has an empty default; a callback stops training
/// by setting `trainer.stopTraining`.
public protocol Callback: AnyObject {
    /// `fit` is about to train `epochs` epochs in all (counted from the first, as `fit` counts
    /// them) of `batchesPerEpoch` batches each.
    func trainingBegan(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int)
    /// Epoch `epoch` (from 0) begins.
    func epochBegan(_ trainer: Trainer, epoch: Int)
    /// `logs` holds the running means of the epoch so far (`loss`, the metric) and `samples`.
    func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double])
    /// `logs` holds the epoch's means, validation results (`val_loss`, ...) and `lr`.
    func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws
    /// `fit` ended: every epoch ran, or a callback set `stopTraining`.
    func trainingEnded(_ trainer: Trainer)
    /// `fit` was stopped by its `stopRequest` inside an epoch (`trainingEnded` is not called).
    func trainingStopped(_ trainer: Trainer)
}

extension Callback {
    public func trainingBegan(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int) {}
    public func epochBegan(_ trainer: Trainer, epoch: Int) {}
    public func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double]) {}
    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {}
    public func trainingEnded(_ trainer: Trainer) {}
    public func trainingStopped(_ trainer: Trainer) {}
}

/// A callback with state that a training checkpoint must carry for a resumed run to behave as
/// one that never stopped (early stopping's best value and weights, ...).
public protocol CheckpointedCallback: Callback {
    /// Names the state in the checkpoint; unique among one `fit`'s callbacks.
    var checkpointKey: String { get }
    /// Small values (saved as metadata) and tensors.
    func checkpointState(_ trainer: Trainer) -> (values: [String: String], tensors: [(name: String, tensor: Tensor)])
    /// Checks a saved state against this callback and `trainer` (the checkpoint holds `epochs`
    /// completed epochs) and returns what applies it; throws, changing nothing, when the state is
    /// not one this callback could have saved.
    func restoring(_ values: [String: String], tensors: [String: Tensor], epochs: Int, trainer: Trainer) throws -> () -> Void
}

/// A callback or schedule that reads one quantity of the epoch logs: `fit` checks before the
/// first batch that its logs will hold it.
public protocol MonitorsLogs {
    /// The key it reads (`val_loss`, `accuracy`, ...).
    var monitor: String { get }
}

/// Which way a monitored quantity improves: down for losses and errors, up for accuracies.
func improves(_ monitor: String) -> (Double, Double) -> Bool {
    monitor.hasSuffix("accuracy") ? { $0 > $1 } : { $0 < $1 }
}

/// Stops training when `monitor` has not improved by more than `minDelta` for `patience`
/// epochs; optionally puts back the weights of the best epoch.
public final class EarlyStopping: Callback, MonitorsLogs {
    /// The log watched (`val_loss`; one ending in `accuracy` improves upwards); the epoch's logs
    /// must hold it, which `fit` checks before the first batch.
    public let monitor: String
    /// Epochs without improvement before training stops.
    public let patience: Int
    /// The least change that counts as an improvement.
    public let minDelta: Double
    /// Whether the weights of the best epoch are put back when training ends.
    public let restoreBestWeights: Bool
    /// The epoch (from 0) with the best value so far.
    public private(set) var bestEpoch: Int?
    /// The epoch after which training stopped; nil while it goes on.
    public private(set) var stoppedEpoch: Int?
    private var best: Double?
    private var wait = 0
    private var bestWeights: [Tensor] = []

    /// Stops after `patience` epochs in which `monitor` did not improve by more than `minDelta`.
    public init(monitor: String = "val_loss", patience: Int = 3, minDelta: Double = 0, restoreBestWeights: Bool = true) {
        (self.monitor, self.patience, self.minDelta, self.restoreBestWeights) = (monitor, patience, minDelta, restoreBestWeights)
    }

    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        guard let value = logs[monitor] else {
            throw SynapseError.invalidArgument("EarlyStopping monitors '\(monitor)', which the logs lack (have: \(logs.keys.sorted().joined(separator: ", ")))")
        }
        let better = improves(monitor)
        if let best, !better(value, best + (better(1, 0) ? minDelta : -minDelta)) {
            wait += 1
            if wait >= patience {
                stoppedEpoch = epoch
                trainer.stopTraining = true
            }
            return
        }
        best = value
        bestEpoch = epoch
        wait = 0
        if restoreBestWeights { bestWeights = trainer.model.stateTensors.map { $0.value.copy() } }
    }

    public func trainingEnded(_ trainer: Trainer) {
        guard restoreBestWeights, stoppedEpoch != nil, !bestWeights.isEmpty else { return }
        for (p, saved) in zip(trainer.model.stateTensors, bestWeights) { p.value.assign(saved) }
    }
}

extension EarlyStopping: CheckpointedCallback {
    public var checkpointKey: String { "early_stopping" }

    public func checkpointState(_ trainer: Trainer) -> (values: [String: String], tensors: [(name: String, tensor: Tensor)]) {
        var values = ["monitor": monitor, "wait": String(wait)]
        if let best { values["best"] = String(best.bitPattern) }
        if let bestEpoch { values["best_epoch"] = String(bestEpoch) }
        if let stoppedEpoch { values["stopped_epoch"] = String(stoppedEpoch) }
        let names = trainer.model.stateTensors.map(\.name)
        return (values, bestWeights.count == names.count ? Array(zip(names, bestWeights)) : [])
    }

    public func restoring(_ values: [String: String], tensors: [String: Tensor], epochs: Int, trainer: Trainer) throws -> () -> Void {
        func fail(_ problem: String) -> SynapseError { .invalidArgument("early-stopping state: \(problem)") }
        guard values["monitor"] == monitor else { throw fail("it monitored '\(values["monitor"] ?? "")', this run monitors '\(monitor)'") }
        guard let wait = values["wait"].flatMap({ Int($0) }), wait >= 0, wait <= patience else {
            throw fail("wait '\(values["wait"] ?? "")' is not a whole number of epochs from 0 to \(patience)")
        }
        func epochValue(_ key: String) throws -> Int? {
            guard let text = values[key] else { return nil }
            guard let value = Int(text), value >= 0, value < epochs else { throw fail("\(key) '\(text)' is not one of the \(epochs) epochs trained") }
            return value
        }
        let bestEpoch = try epochValue("best_epoch"), stoppedEpoch = try epochValue("stopped_epoch")
        let best = try values["best"].map { text -> Double in
            guard let bits = UInt64(text), !Double(bitPattern: bits).isNaN else { throw fail("best '\(text)' is not a number") }
            return Double(bitPattern: bits)
        }
        var weights: [Tensor] = []
        if !tensors.isEmpty {
            for p in trainer.model.stateTensors {
                guard let t = tensors[p.name], t.shape == p.shape else { throw fail("best weights lack '\(p.name)' of shape \(p.shape)") }
                weights.append(t)
            }
        }
        return { [self] in
            (self.wait, self.bestEpoch, self.stoppedEpoch, self.best, self.bestWeights) = (wait, bestEpoch, stoppedEpoch, best, weights)
        }
    }
}

/// Saves a training checkpoint (weights, optimizer state, schedule, epoch, random state) after
/// an epoch: every epoch, or only when `monitor` improves. The model architecture goes beside it
/// as JSON, so `Sequential.load` reads the file as a model too.
public final class ModelCheckpoint: Callback, MonitorsLogs {
    /// The checkpoint file (`.safetensors`), replaced atomically each time.
    public let url: URL
    /// The log that decides what is best (`val_loss`; one ending in `accuracy` improves upwards).
    public let monitor: String
    /// Whether to save only when `monitor` improves (else after every epoch).
    public let bestOnly: Bool
    private var best: Double?

    /// Saves to `url` after an epoch: only when `monitor` improved, unless `bestOnly` is false.
    public init(url: URL, monitor: String = "val_loss", bestOnly: Bool = true) {
        (self.url, self.monitor, self.bestOnly) = (url, monitor, bestOnly)
    }

    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if bestOnly {
            guard let value = logs[monitor] else {
                throw SynapseError.invalidArgument("ModelCheckpoint monitors '\(monitor)', which the logs lack")
            }
            if let best, !improves(monitor)(value, best) { return }
            best = value
        }
        try trainer.saveCheckpoint(to: url)
    }
}

extension ModelCheckpoint: CheckpointedCallback {
    public var checkpointKey: String { "model_checkpoint:" + url.lastPathComponent }

    public func checkpointState(_ trainer: Trainer) -> (values: [String: String], tensors: [(name: String, tensor: Tensor)]) {
        (best.map { ["best": String($0.bitPattern)] } ?? [:], [])
    }

    public func restoring(_ values: [String: String], tensors: [String: Tensor], epochs: Int, trainer: Trainer) throws -> () -> Void {
        let best = try values["best"].map { text -> Double in
            guard let bits = UInt64(text), !Double(bitPattern: bits).isNaN else {
                throw SynapseError.invalidArgument("model-checkpoint state: best '\(text)' is not a number")
            }
            return Double(bitPattern: bits)
        }
        return { self.best = best }
    }
}

/// Writes one CSV row per epoch (epoch, then the logs' keys in sorted order); the file is
/// rewritten atomically from the trainer's history after each epoch, so it is never half-written
/// and a resumed run's log lists the epochs before the stop too.
public final class CSVLogger: Callback {
    /// The CSV file, rewritten after every epoch.
    public let url: URL

    /// Logs every epoch to `url`.
    public init(url: URL) { self.url = url }

    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        try AtomicFile.write(Data(CSVLogger.text(trainer.history).utf8), to: url)
    }

    /// The CSV text of a history: a header (epoch, then the first epoch's keys, sorted) and a row
    /// per epoch.
    public static func text(_ history: History) -> String {
        let keys = history.epochs.first?.keys.sorted() ?? []
        let rows = history.epochs.enumerated().map { index, logs in
            ([String(index + 1)] + keys.map { logs[$0].map { String($0) } ?? "" }).joined(separator: ",")
        }
        return ((["epoch"] + keys).joined(separator: ",") + "\n" + rows.map { $0 + "\n" }.joined())
    }
}

/// A Keras-like progress bar on standard error: batch counter, running loss and metric,
/// samples per second and time left. When standard error is not a terminal it prints one plain
/// line per epoch instead.
public final class ProgressBar: Callback {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var epochs = 0, batches = 0
    private var epochStart = Date()
    private var lastDraw = Date.distantPast
    /// Batches and samples of the epoch done before a resumed run began (not timed here).
    private var resumedBatches = 0, resumedSamples = 0.0
    private let metricKeys = ["loss", "accuracy", "mae"]

    /// A progress bar on standard error (a line per epoch when it is not a terminal).
    public init() {}

    public func trainingBegan(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int) {
        (self.epochs, batches) = (epochs, batchesPerEpoch)
    }

    public func epochBegan(_ trainer: Trainer, epoch: Int) {
        epochStart = Date()
        (resumedBatches, resumedSamples) = (trainer.position?.batch ?? 0, Double(trainer.position?.seen ?? 0))
        if isTerminal { write("Epoch \(epoch + 1)/\(epochs)\n") }
    }

    public func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double]) {
        guard isTerminal else { return }
        let now = Date()
        guard batch + 1 == batches || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(epochStart)
        let done = Double(batch + 1) / Double(max(batches, 1))
        let width = 30, filled = Int(done * Double(width))
        let bar = String(repeating: "=", count: max(filled - 1, 0)) + (filled < width ? ">" : "=")
            + String(repeating: ".", count: width - filled)
        let timed = Double(batch + 1 - resumedBatches) / Double(max(batches - resumedBatches, 1))
        let eta = elapsed / timed - elapsed
        let counter = String(batch + 1).leftPadded(to: String(batches).count)
        write("\r\(counter)/\(batches) [\(bar)] - ETA \(formatSeconds(eta))\(format(logs, keys: metricKeys))"
              + " - \(Int((logs["samples", default: 0] - resumedSamples) / max(elapsed, 1e-9))) samples/s\u{1B}[K")
    }

    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) {
        let elapsed = Date().timeIntervalSince(epochStart)
        let keys = metricKeys + metricKeys.map { "val_" + $0 } + ["lr"]
        let prefix = isTerminal ? "\r" : "Epoch \(epoch + 1)/\(epochs): "
        write("\(prefix)\(batches)/\(batches) - \(formatSeconds(elapsed))\(format(logs, keys: keys))"
              + " - \(Int((logs["samples", default: 0] - resumedSamples) / max(elapsed, 1e-9))) samples/s\(isTerminal ? "\u{1B}[K" : "")\n")
    }

    public func trainingStopped(_ trainer: Trainer) {
        if isTerminal { write("\n") }
    }

    private func format(_ logs: [String: Double], keys: [String]) -> String {
        keys.compactMap { key in logs[key].map { " - \(key): " + String(format: key == "lr" ? "%.3g" : "%.4f", $0) } }.joined()
    }

    private func formatSeconds(_ s: Double) -> String {
        s >= 60 ? "\(Int(s) / 60)m\(Int(s) % 60)s" : String(format: "%.1fs", s)
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
