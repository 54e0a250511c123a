import Foundation

/// Hooks the training loop calls. Every method has an empty default; a callback stops training
/// by setting `trainer.stopTraining`.
public protocol Callback: AnyObject {
    func trainingBegan(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int)
    func epochBegan(_ trainer: Trainer, epoch: Int)
    /// `logs` holds the running means of the epoch so far (`loss`, the metric) and `samples`.
    func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double])
    /// `logs` holds the epoch's means, validation results (`val_loss`, ...) and `lr`.
    func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws
    func trainingEnded(_ trainer: Trainer)
}

extension Callback {
    public func trainingBegan(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int) {}
    public func epochBegan(_ trainer: Trainer, epoch: Int) {}
    public func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double]) {}
    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {}
    public func trainingEnded(_ trainer: Trainer) {}
}

/// Which way a monitored quantity improves: down for losses and errors, up for accuracies.
func improves(_ monitor: String) -> (Double, Double) -> Bool {
    monitor.hasSuffix("accuracy") ? { $0 > $1 } : { $0 < $1 }
}

/// Stops training when `monitor` has not improved by more than `minDelta` for `patience`
/// epochs; optionally puts back the weights of the best epoch.
public final class EarlyStopping: Callback {
    public let monitor: String, patience: Int, minDelta: Double, restoreBestWeights: Bool
    public private(set) var bestEpoch: Int?
    public private(set) var stoppedEpoch: Int?
    private var best: Double?
    private var wait = 0
    private var bestWeights: [Tensor] = []

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

/// Saves a training checkpoint (weights, optimizer state, schedule, epoch, random state) after
/// an epoch: every epoch, or only when `monitor` improves. The model architecture goes beside it
/// as JSON, so `Sequential.load` reads the file as a model too.
public final class ModelCheckpoint: Callback {
    public let url: URL, monitor: String, bestOnly: Bool
    private var best: Double?

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

/// Writes one CSV row per epoch (epoch, then the logs' keys in sorted order); the file is
/// rewritten atomically after each epoch, so it is never half-written.
public final class CSVLogger: Callback {
    public let url: URL
    private var keys: [String] = []
    private var rows: [String] = []

    public init(url: URL) { self.url = url }

    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if keys.isEmpty { keys = logs.keys.sorted() }
        rows.append(([String(epoch + 1)] + keys.map { logs[$0].map { String($0) } ?? "" }).joined(separator: ","))
        let text = ((["epoch"] + keys).joined(separator: ",") + "\n" + rows.joined(separator: "\n") + "\n")
        try AtomicFile.write(Data(text.utf8), to: url)
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
    private let metricKeys = ["loss", "accuracy", "mae"]

    public init() {}

    public func trainingBegan(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int) {
        (self.epochs, batches) = (epochs, batchesPerEpoch)
    }

    public func epochBegan(_ trainer: Trainer, epoch: Int) {
        epochStart = Date()
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
        let eta = elapsed / done - elapsed
        let counter = String(batch + 1).leftPadded(to: String(batches).count)
        write("\r\(counter)/\(batches) [\(bar)] - ETA \(formatSeconds(eta))\(format(logs, keys: metricKeys))"
              + " - \(Int(logs["samples", default: 0] / max(elapsed, 1e-9))) samples/s\u{1B}[K")
    }

    public func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) {
        let elapsed = Date().timeIntervalSince(epochStart)
        let keys = metricKeys + metricKeys.map { "val_" + $0 } + ["lr"]
        let prefix = isTerminal ? "\r" : "Epoch \(epoch + 1)/\(epochs): "
        write("\(prefix)\(batches)/\(batches) - \(formatSeconds(elapsed))\(format(logs, keys: keys))"
              + " - \(Int(logs["samples", default: 0] / max(elapsed, 1e-9))) samples/s\(isTerminal ? "\u{1B}[K" : "")\n")
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
