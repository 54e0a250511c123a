import Foundation

/// The record of a `fit`: one dictionary of logs per epoch (`loss`, `accuracy`, `val_loss`, ...).
public struct History: Codable, Equatable {
    /// One dictionary per completed epoch, first epoch first.
    public var epochs: [[String: Double]] = []
    /// One log across the epochs, e.g. `history["val_loss"]`; epochs without it are left out.
    public subscript(key: String) -> [Double] { epochs.compactMap { $0[key] } }
}

/// Trains, evaluates and runs a model (a `Sequential` or a `Graph`). Kept apart from the model: the model only
/// knows its layers; the trainer owns the loss, the optimizer, the schedule and the loop.
///
///     let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(), random: random)
///     let history = try trainer.fit(train, epochs: 10, batchSize: 64,
///                                   validation: .split(0.1, seed: 1), callbacks: [ProgressBar()])
///     let test = try trainer.evaluate(testSet) // ["loss": ..., "accuracy": ...]
public final class Trainer {
    /// What `fit` validates on after every epoch (`val_loss` and the metric as `val_<metric>`).
    public enum Validation {
        /// No validation: the logs hold the training loss and metric only.
        case none
        /// Hold out this fraction of the training data (see `DataSource.split`).
        case split(Double, seed: UInt64)
        /// Validate on these samples, which must fit the model and the loss as the training data do.
        case data(any DataSource)
    }

    /// The model being trained; its parameters are updated in place.
    public let model: any Model
    /// The loss minimised, computed from the model's outputs (logits for the cross-entropies).
    public let loss: any Loss
    /// The update rule; its state (moments, velocities) lives in blocks parallel to the model's.
    public let optimizer: any Optimizer
    /// What the logs report beside the loss (`accuracy` by default for the cross-entropies).
    public var metric: Metric
    /// Sets the optimizer's learning rate before each epoch (and after it, for `ReduceOnPlateau`).
    public var schedule: (any LearningRateSchedule)?
    /// Clip the global gradient norm to this before each step.
    public var clipNorm: Float?
    /// The generator behind shuffling and dropout; saved in checkpoints.
    public let random: RandomGenerator
    /// Epochs completed so far; `fit` continues from here.
    public private(set) var epoch = 0
    /// The logs of every epoch run so far, restored from a checkpoint too.
    public private(set) var history = History()
    /// Set by a callback to end `fit` after the current epoch.
    public var stopTraining = false
    /// Polled after every batch: once it is requested, `fit` writes a checkpoint that includes
    /// the position inside the epoch (when `checkpointURL` is set) and throws `TrainingStopped`.
    public var stopRequest: StopRequest?
    /// Where `fit` writes a checkpoint (atomically) at the end of every epoch and when stopped.
    public var checkpointURL: URL?
    /// Where a stopped `fit` was inside an epoch (restored from a checkpoint, the next `fit`
    /// continues there); nil between epochs.
    public internal(set) var position: EpochPosition?
    /// Set by `loadCheckpoint` when a callback had ended training before the checkpoint.
    var restoredStop = false
    /// Applied to each training batch's inputs, in place, before the forward pass (random
    /// augmentation); draws from `random`. Not applied in evaluation or prediction.
    public var augmentBatch: ((Tensor, RandomGenerator) -> Void)?
    /// Flush denormal floats to zero while `fit` runs (see `FloatingPointMode`). Off by default:
    /// on the sentiment and charrnn samples it changed neither speed nor results (measured), and
    /// off keeps exact IEEE arithmetic; turn it on for long tanh sequences whose gradients fade.
    public var flushDenormals = false
    /// Whether `fit` shows its progress when no `ProgressBar` is among its callbacks (on the
    /// first rank only): a bar on a terminal, one line an epoch otherwise. On by default; set it
    /// to false for a silent `fit`.
    public var verbose = true

    /// Cores that share each batch (see `DataParallel`); set with `use(workers:)`.
    public var workers: Int { group.workers }

    /// The processes that train together (see `use(workers:communicator:)`); one by default.
    public var communicator: any Communicator { group.communicator }

    var group: DataParallel
    private var batchInputs: Tensor?
    private var batchTargets: Tensor?
    private var lossGradient: Tensor?
    /// Per step across ranks: each slice's loss share, metric sum and count, stop flags, and
    /// rank 0's generator state in 32-bit halves (see `reduceStep`).
    var stepSums: [Double] = []

    /// A trainer for `model`. `random` draws the shuffles and dropout masks (and is saved in
    /// checkpoints); `metric` defaults to the loss's (`accuracy` for the cross-entropies, MAE for
    /// mean squared error). One worker and one process until `use(workers:communicator:)`.
    public init(model: any Model, loss: any Loss, optimizer: any Optimizer, random: RandomGenerator,
                metric: Metric? = nil, schedule: (any LearningRateSchedule)? = nil) {
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.random = random
        self.metric = metric ?? loss.defaultMetric
        self.schedule = schedule
        group = DataParallel(model: model)
        model.attach(random: random)
    }

    /// Trains until `epochs` epochs in all are complete (continuing from `epoch`, so a resumed
    /// trainer runs only the rest) or a callback stops it. Returns the history of every epoch.
    ///
    /// `epochs` counts from the first epoch this trainer ever ran, not from this call: a second
    /// `fit(data, epochs: 5)` on a trainer that has run five has nothing to do, and is an error
    /// that says so (pass `epochs: trainer.epoch + k` to train k more) rather than a call that
    /// silently returns. A trainer restored from the checkpoint of a finished run, or whose early
    /// stopping ended training, returns at once with its history (a resumed run that is done).
    @discardableResult
    public func fit(_ data: any DataSource, epochs: Int, batchSize: Int = 32, validation: Validation = .none,
                    shuffle: Bool = true, callbacks: [any Callback] = []) throws -> History {
        if communicator.size > 1 {
            try synchronizeRanks(samples: data.count, batchSize: batchSize, epochs: epochs)
        }
        // Decided once for the fit (`BLAS.withThreadPlan`): OpenBLAS's threads and the budget of
        // every parallel loop, from the first batch to the last; no step changes them.
        let parallel = communicator.size > 1 || workers > 1
        return try BLAS.withThreadPlan(workers: parallel ? max(workers, 2) : 1, splitsRows: model.splitsRowsAcrossThreads) {
            try FloatingPointMode.withDenormalsFlushed(flushDenormals) {
                try train(data, epochs: epochs, batchSize: batchSize, validation: validation, shuffle: shuffle,
                          callbacks: callbacks)
            }
        }
    }

    private func train(_ data: any DataSource, epochs: Int, batchSize: Int, validation: Validation,
                       shuffle: Bool, callbacks: [any Callback]) throws -> History {
        guard batchSize > 0 else { throw SynapseError.invalidArgument("batch size must be positive") }
        guard epochs >= 1 else { throw SynapseError.invalidArgument("fit(epochs: \(epochs)): epochs must be at least 1") }
        guard epochs > epoch || restoredStop || stopTraining || !hasFitted else {
            throw SynapseError.invalidArgument(
                "fit(epochs: \(epochs)) trains until \(epochs) epochs in all are done, and this trainer has done \(epoch): "
                + "nothing to train; pass epochs: \(epoch + 1) or more (trainer.epoch + k trains k more)")
        }
        guard data.sampleShape == model.inputShape else {
            throw SynapseError.shape("data samples have shape \(data.sampleShape), the model takes \(model.inputShape)")
        }
        try optimizer.validate()
        try schedule?.validateSettings()
        var training = data
        var validationSet: (any DataSource)?
        switch validation {
        case .none: break
        case .split(let fraction, let seed): (training, validationSet) = try data.split(validationFraction: fraction, seed: seed)
        case .data(let set): validationSet = set
        }
        guard training.count > 0 else { throw SynapseError.invalidArgument("no training samples") }
        let batches = (training.count + batchSize - 1) / batchSize
        if let position, position.batchSize != batchSize || position.samples != training.count || position.batch > batches {
            throw SynapseError.invalidArgument("the checkpoint stopped after batch \(position.batch) of an epoch of \(position.samples) samples in batches of \(position.batchSize); "
                                               + "this run has \(training.count) samples in batches of \(batchSize)")
        }
        let epochKeys = ["loss", metric.logName, "samples", "lr"] + (validationSet == nil ? [] : ["val_loss", "val_" + metric.logName])
        let readers: [Any] = callbacks.map { $0 as Any } + (schedule.map { [$0 as Any] } ?? [])
        for case let reader as any MonitorsLogs in readers where !epochKeys.contains(reader.monitor) {
            throw SynapseError.invalidArgument(
                "\(type(of: reader)) monitors '\(reader.monitor)', which this fit's epoch logs will not hold; they hold \(epochKeys.joined(separator: ", "))"
                + (validationSet == nil && reader.monitor.hasPrefix("val_") ? " (val_ keys need validation data)" : ""))
        }
        if epoch == 0 && position == nil, let initial = schedule?.initialRate, initial != optimizer.learningRate {
            throw SynapseError.invalidArgument(
                "the optimizer's learning rate is \(optimizer.learningRate) and the schedule starts at \(initial): give the rate once, "
                + "to the optimizer, and leave the schedule's initial out (it starts from the optimizer's rate)")
        }
        stopTraining = restoredStop
        restoredStop = false
        let callbacks = verbose && communicator.isRoot && !callbacks.contains(where: { $0 is ProgressBar })
            ? callbacks + [ProgressBar()] : callbacks
        activeCallbacks = callbacks
        defer { activeCallbacks = [] }
        hasFitted = true
        callbacks.forEach { $0.trainingBegan(self, epochs: epochs, batchesPerEpoch: batches) }
        let parameters = model.parameters
        while epoch < epochs && !stopTraining {
            callbacks.forEach { $0.epochBegan(self, epoch: epoch) }
            // The epoch's order is drawn from the generator as it was when the epoch began; a run
            // stopped inside the epoch saved that state, so the resumed run draws the same order
            // and then carries on from the generator's state after the last batch it finished.
            var progress = position ?? EpochPosition(batch: 0, batchSize: batchSize, samples: training.count,
                                                     epochRandomState: random.state)
            let current = random.state
            random.state = progress.epochRandomState
            let order = shuffle ? random.permutation(training.count) : Array(0..<training.count)
            if position != nil { random.state = current }
            position = nil
            // A resumed epoch streams the rest of its order; the source sees the same epoch.
            let rest = Array(order[min(progress.batch * batchSize, order.count)...])
            // Across ranks, each rank streams its share of every batch; with augmentation, which
            // draws for the whole batch, every rank reads the whole batch and augments it alike.
            let shares = communicator.size > 1 && augmentBatch == nil
            let stream: any BatchStream = shares
                ? ShareStream(source: training, order: rest, batchSize: batchSize, epoch: epoch, training: true, share: group.share)
                : training.batches(order: rest, batchSize: batchSize, epoch: epoch, training: true)
            var b = progress.batch
            while let (batch, y) = try nextBatch(of: stream, from: training, batchSize: batchSize) {
                defer { b += 1 }
                let rows = shares ? (stream as! ShareStream).batchRows : batch.batchSize
                var x = batch, targets = y
                if !shares {
                    augmentBatch?(batch, random)
                    if communicator.size > 1 {
                        let share = group.share(ofBatch: rows)
                        (x, targets) = (batch.rows(share), y.rows(share))
                    }
                }
                // Once per batch, since labels differ from batch to batch (the sample shape was
                // checked once, above).
                try loss.check(targets: targets, outputShape: model.outputShape)
                var (value, m) = group.computeGradients(inputs: x, targets: targets, batchRows: rows, loss: loss, metric: metric,
                                                        random: random)
                // Across ranks the request is polled before the step's reduction, so that every
                // rank learns of any rank's request after the same batch.
                var stopAcross = false
                if communicator.size > 1 { (value, m, stopAcross) = reduceStep(m, stop: stopRequest?.isRequested == true) }
                guard value.isFinite else {
                    throw SynapseError.invalidArgument("the loss became \(value) in epoch \(epoch + 1), batch \(b + 1): lower the learning rate or clip gradients")
                }
                if let clipNorm { clipGradientNorm(parameters, maxNorm: clipNorm) }
                optimizer.step(parameters)
                progress.lossSum += Double(value) * Double(rows)
                progress.metricSum += m.sum
                progress.metricCount += m.count
                progress.seen += rows
                progress.batch = b + 1
                if !callbacks.isEmpty {
                    let logs = ["loss": progress.lossSum / Double(progress.seen),
                                metric.logName: progress.metricSum / Double(progress.metricCount),
                                "samples": Double(progress.seen)]
                    callbacks.forEach { $0.batchEnded(self, batch: b, logs: logs) }
                }
                if communicator.size > 1 ? stopAcross : stopRequest?.isRequested == true {
                    position = progress
                    if let checkpointURL, communicator.isRoot { try saveCheckpoint(to: checkpointURL, callbacks: callbacks) }
                    callbacks.forEach { $0.trainingStopped(self) }
                    throw TrainingStopped(epoch: epoch, batch: b + 1, batches: batches, checkpoint: checkpointURL)
                }
            }
            let seen = Double(max(progress.seen, 1))
            var logs = ["loss": progress.lossSum / seen, metric.logName: progress.metricSum / Double(max(progress.metricCount, 1)),
                        "samples": Double(progress.seen), "lr": Double(optimizer.learningRate)]
            if let validationSet {
                for (key, value) in try evaluate(validationSet, batchSize: max(batchSize, 256)) { logs["val_" + key] = value }
            }
            if let schedule {
                optimizer.learningRate = schedule.rate(after: epoch, current: optimizer.learningRate, logs: logs)
            }
            history.epochs.append(logs)
            epoch += 1
            for callback in callbacks { try callback.epochEnded(self, epoch: epoch - 1, logs: logs) }
            if let checkpointURL, communicator.isRoot { try saveCheckpoint(to: checkpointURL, callbacks: callbacks) }
        }
        callbacks.forEach { $0.trainingEnded(self) }
        return history
    }

    /// Splits every training and evaluation batch across `workers` replicas of the model, one
    /// core each (see `DataParallel`); 1, the default, runs on the calling thread. With more than
    /// one, OpenBLAS runs one thread per worker.
    public func use(workers: Int) throws {
        try use(workers: workers, communicator: communicator)
    }

    /// Trains across the ranks of `communicator` (processes, started by `mpirun` for MPI), each
    /// splitting its share of every batch across `workers` cores. The sequence of global batches,
    /// the dropout and augmentation draws and the optimizer steps are those of one process with
    /// ranks x workers workers; only the order of the gradient sum over more than two slices may
    /// differ (float rounding). At the start of `fit` rank 0 broadcasts the parameters, buffers
    /// and generator, after the ranks have checked they hold the same architecture. Only rank 0
    /// writes checkpoints; printing and saving are the caller's to restrict to rank 0 (`isRoot`).
    /// Every rank holds OpenBLAS to one thread while `fit` runs.
    public func use(workers: Int, communicator: any Communicator) throws {
        model.attach(random: random)
        if workers == 1 && communicator.size == 1 {
            group = DataParallel(model: model)
        } else {
            group = try DataParallel(model: model, workers: workers, communicator: communicator)
        }
    }

    /// Mean loss and metric over `data`, in evaluation mode (no dropout, running statistics);
    /// throws when the samples or targets do not fit the model and the loss.
    public func evaluate(_ data: Dataset, batchSize: Int = 256) throws -> [String: Double] {
        try evaluate(data as any DataSource, batchSize: batchSize)
    }

    /// Mean loss and metric over a source's samples, in evaluation mode; throws what the source
    /// throws.
    /// Across ranks, each rank evaluates its share of every batch and the sums are reduced.
    public func evaluate(_ data: any DataSource, batchSize: Int = 256) throws -> [String: Double] {
        try BLAS.withThreadPlan(workers: communicator.size > 1 || workers > 1 ? max(workers, 2) : 1,
                                splitsRows: model.splitsRowsAcrossThreads) {
            try evaluateBatches(data, batchSize: batchSize)
        }
    }

    private func evaluateBatches(_ data: any DataSource, batchSize: Int) throws -> [String: Double] {
        guard data.sampleShape == model.inputShape else {
            throw SynapseError.shape("data samples have shape \(data.sampleShape), the model takes \(model.inputShape)")
        }
        var lossSum = 0.0, metricSum = 0.0, metricCount = 0, seen = 0
        let order = Array(0..<data.count)
        let stream: any BatchStream = communicator.size > 1
            ? ShareStream(source: data, order: order, batchSize: batchSize, epoch: 0, training: false, share: group.share)
            : data.batches(order: order, batchSize: batchSize, epoch: 0, training: false)
        while let (x, y) = try nextBatch(of: stream, from: data, batchSize: batchSize) {
            guard x.batchSize > 0 else { continue }
            try loss.check(targets: y, outputShape: model.outputShape)
            let output = group.predict(x)
            let gradient = Tensor.reusing(lossGradient, shape: output.shape)
            lossGradient = gradient
            lossSum += Double(loss.compute(predictions: output, targets: y, gradient: gradient)) * Double(x.batchSize)
            let m = metric.accumulate(predictions: output, targets: y)
            metricSum += m.sum
            metricCount += m.count
            seen += x.batchSize
        }
        if communicator.size > 1 {
            let sums = communicator.allReduceSum([lossSum, metricSum, Double(metricCount), Double(seen)])
            (lossSum, metricSum, metricCount, seen) = (sums[0], sums[1], Int(sums[2]), Int(sums[3]))
        }
        return ["loss": lossSum / Double(max(seen, 1)), metric.logName: metricSum / Double(max(metricCount, 1))]
    }

    /// The model's outputs for every sample of `inputs` (N, ...), in evaluation mode; throws
    /// when `inputs` is not a batch of the model's samples.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) throws -> Tensor {
        try model.predict(inputs, batchSize: batchSize)
    }


    func restore(epoch: Int, history: History) {
        self.epoch = epoch
        self.history = history
    }

    /// Whether this trainer has run `fit` in this process (a second call with nothing to train
    /// is an error; a trainer restored from a finished run's checkpoint returns quietly).
    private var hasFitted = false

    /// The callbacks of the `fit` that is running (their state goes into its checkpoints).
    var activeCallbacks: [any Callback] = []

    /// The stream's next batch in the trainer's reused buffers, shaped to the rows it filled.
    private func nextBatch(of stream: any BatchStream, from data: any DataSource, batchSize: Int) throws -> (Tensor, Tensor)? {
        let x = Tensor.reusing(batchInputs, shape: [batchSize] + data.sampleShape)
        let y = Tensor.reusing(batchTargets, shape: [batchSize] + data.targetShape)
        (batchInputs, batchTargets) = (x, y)
        guard let rows = try stream.next(inputs: x, targets: y) else { return nil }
        return (Tensor.reusing(x, shape: [rows] + data.sampleShape), Tensor.reusing(y, shape: [rows] + data.targetShape))
    }
}

/// One rank's share of every batch of `order`: the share's rows (`share(n)` of a batch of n
/// rows, possibly none) through two streams of the source, one for the full batches and one for
/// the last. `batchRows` is the size of the whole batch the last share came from.
final class ShareStream: BatchStream {
    private let full: (any BatchStream)?, last: (any BatchStream)?
    private let fullBatches: Int, lastRows: Int, batchSize: Int
    private let fullShare: Range<Int>, lastShare: Range<Int>
    private var index = 0
    private(set) var batchRows = 0

    init(source: any DataSource, order: [Int], batchSize: Int, epoch: Int, training: Bool, share: (Int) -> Range<Int>) {
        fullBatches = order.count / batchSize
        lastRows = order.count % batchSize
        self.batchSize = batchSize
        fullShare = share(batchSize)
        lastShare = lastRows > 0 ? share(lastRows) : 0..<0
        var mine: [Int] = []
        mine.reserveCapacity(fullBatches * fullShare.count)
        for b in 0..<fullBatches { mine += order[(b * batchSize + fullShare.lowerBound)..<(b * batchSize + fullShare.upperBound)] }
        full = mine.isEmpty ? nil : source.batches(order: mine, batchSize: fullShare.count, epoch: epoch, training: training)
        let tail = fullBatches * batchSize
        last = lastShare.isEmpty ? nil
            : source.batches(order: Array(order[(tail + lastShare.lowerBound)..<(tail + lastShare.upperBound)]),
                             batchSize: lastShare.count, epoch: epoch, training: training)
    }

    func next(inputs: Tensor, targets: Tensor) throws -> Int? {
        defer { index += 1 }
        if index < fullBatches {
            batchRows = batchSize
            guard let full else { return 0 }
            guard let rows = try full.next(inputs: inputs, targets: targets) else {
                throw SynapseError.invalidArgument("the data source ended before its last batch")
            }
            return rows
        }
        guard index == fullBatches && lastRows > 0 else { return nil }
        batchRows = lastRows
        guard let last else { return 0 }
        return try last.next(inputs: inputs, targets: targets)
    }
}
