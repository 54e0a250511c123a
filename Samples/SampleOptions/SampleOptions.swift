import ArgumentParser
import Foundation
import Synapse

/// Options every training sample takes.
public struct TrainingOptions: ParsableArguments {
    @Option(help: "Data root holding mnist/, imdb/, ... (default: $SYNAPSE_DATA, else ~/.cache/synapse).")
    public var data: String?

    @Option(help: "Random seed: fixes initialisation, shuffling, dropout and the validation split.")
    public var seed: UInt64 = 1

    @Option(help: "OpenBLAS threads (1 is fastest for small batches on two cores).")
    public var threads: Int = 1

    @Option(help: "Cores that share each batch, one model replica and one OpenBLAS thread each (default: 1; lenet uses 2 where there are two or more cores).")
    public var workers: Int?

    @Flag(help: "No progress bar.")
    public var quiet = false

    @Option(help: "Exit with failure when the test accuracy (percent) ends below this (for CI).")
    public var requireAccuracy: Double?

    @Option(help: ArgumentHelp("Also write the trained model as ONNX (opset 17) to this file, beside the model set in the output folder.",
                               valueName: "path"))
    public var exportOnnx: String?

    @Flag(help: "Continue from the checkpoint in the output folder (written at the end of every epoch and when Ctrl-C or SIGTERM stops training); without one, start fresh.")
    public var resume = false

    public init() {}

    /// Checks the options before anything is read, built or written.
    public func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256, got \(threads)") }
        if let workers, !(1...256).contains(workers) { throw ValidationError("--workers must be 1...256, got \(workers)") }
        if let exportOnnx, exportOnnx.isEmpty || exportOnnx.hasSuffix("/") {
            throw ValidationError("--export-onnx takes the path of the file to write, got '\(exportOnnx)'")
        }
        if let requireAccuracy, !(0...100).contains(requireAccuracy) {
            throw ValidationError("--require-accuracy is a percentage, 0...100, got \(requireAccuracy)")
        }
        // A data root named on the command line must exist: a mistyped path is not created and
        // filled with downloads. (SYNAPSE_DATA is set once for every command, including those
        // that read no data set, and is used as it is.)
        if let data {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: data, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("--data \(data): no such folder; create it (missing data sets are fetched into it) or leave --data out to use $SYNAPSE_DATA or ~/.cache/synapse")
            }
        }
    }

    /// Applies the thread count and returns the data directory.
    public func prepare() -> DataDirectory {
        BLAS.threads = threads
        return DataDirectory.resolve(data)
    }

    /// Splits the trainer's batches across `--workers` cores, else `defaultWorkers`. With more than
    /// one worker, OpenBLAS runs one thread per worker whatever `--threads` says.
    /// Across the ranks of `communicator` (`--distributed`) each rank takes `--workers` cores,
    /// default 1.
    public func configure(_ trainer: Trainer, defaultWorkers: Int = 1, communicator: any Communicator = SingleProcess()) throws {
        let count = workers ?? (communicator.size > 1 ? 1 : defaultWorkers)
        guard count >= 1 else { throw ValidationError("--workers must be at least 1") }
        try trainer.use(workers: count, communicator: communicator)
        trainer.verbose = false  // the samples pass `progressCallbacks` themselves (none with --quiet)
    }

    /// Prints the closing `test accuracy: NN.NN%` line, then fails if `--require-accuracy` is unmet.
    public func report(testAccuracy: Double) throws {
        print(String(format: "test accuracy: %.2f%%", 100 * testAccuracy))
        if let requireAccuracy, 100 * testAccuracy < requireAccuracy {
            note(String(format: "test accuracy %.2f%% is below the required %.2f%%", 100 * testAccuracy, requireAccuracy))
            throw ExitCode.failure
        }
    }

    /// The progress bar, unless `--quiet`.
    public var progressCallbacks: [any Callback] { quiet || SampleOutput.silenced ? [] : [ProgressBar()] }
}

/// Checks the training settings a sample takes, before anything is read or built: an option
/// that would make training do nothing or fail later is an error now, naming the option.
public func checkTraining(epochs: Int?, batchSize: Int, lr: Float? = nil, decay: Float? = nil) throws {
    if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    guard batchSize >= 1 && batchSize <= 1 << 20 else { throw ValidationError("--batch-size must be 1...1048576, got \(batchSize)") }
    if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
    if let decay, !(decay > 0 && decay <= 1) { throw ValidationError("--decay must be in (0, 1], got \(decay)") }
}

/// Prints a line to standard error (progress and notes; standard output carries the results).
public func note(_ text: String) { noteInPlace(text + "\n") }

/// Prints to standard error without a line break (for progress redrawn with "\r").
public func noteInPlace(_ text: String) {
    if !SampleOutput.silenced { FileHandle.standardError.write(Data(text.utf8)) }
}

/// What the samples print on this rank.
public enum SampleOutput {
    /// True on ranks other than 0 of a distributed run (`DistributedOptions` sets it): notes and
    /// the progress bar stay quiet.
    nonisolated(unsafe) public static var silenced = false
}

/// Starts this program again, the same arguments and environment, with `OPENBLAS_CORETYPE` set
/// when OpenBLAS fell back to kernels without AVX2 on a CPU that has AVX2 or AVX-512
/// (`BLAS.suggestedCoreType`: OpenBLAS 0.3.21 does so on x86 models it does not know, and every
/// matrix product then runs about 4.5 times slower). OpenBLAS reads the variable only as it
/// loads, so the process starts again; it returns at once otherwise, and when
/// `OPENBLAS_CORETYPE` is set (the user's choice stands). Call it first thing in `main`.
public func useOpenBLASVectorKernels() {
    guard let core = BLAS.suggestedCoreType else { return }
    note("OpenBLAS chose its \(BLAS.coreName) kernels (no AVX2) for this CPU, which it does not know; "
         + "starting again with OPENBLAS_CORETYPE=\(core) (set OPENBLAS_CORETYPE to choose)")
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // Only reached when the program could not start again: go on with the kernels there are.
    unsetenv("OPENBLAS_CORETYPE")
    note("could not start again (\(String(cString: strerror(errno)))); going on with OpenBLAS's \(BLAS.coreName) kernels")
}
