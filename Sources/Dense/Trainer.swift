import Foundation

/// The record of a `fit`: one dictionary of logs per epoch (`loss`, `accuracy`, `val_loss`, ...).
public struct History: Codable, Equatable {
    public var epochs: [[String: Double]] = []
    public subscript(key: String) -> [Double] { epochs.compactMap { $0[key] } }
}

/// Trains, evaluates and runs a `Sequential` model. Kept apart from the model: the model only
/// knows its layers; the trainer owns the loss, the optimizer, the schedule and the loop.
///
///     let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(), random: random)
///     let history = try trainer.fit(train, epochs: 10, batchSize: 64,
///                                   validation: .split(0.1, seed: 1), callbacks: [ProgressBar()])
///     let test = trainer.evaluate(testSet)     // ["loss": ..., "accuracy": ...]
public final class Trainer {
    public enum Validation {
        case none
        /// Hold out this fraction of the training data (see `Dataset.split`).
        case split(Double, seed: UInt64)
        case data(Dataset)
    }

    public let model: Sequential
    public let loss: any Loss
    public let optimizer: any Optimizer
    public var metric: Metric
    public var schedule: (any LearningRateSchedule)?
    /// Clip the global gradient norm to this before each step.
    public var clipNorm: Float?
    /// The generator behind shuffling and dropout; saved in checkpoints.
    public let random: RandomGenerator
    /// Epochs completed so far; `fit` continues from here.
    public private(set) var epoch = 0
    public private(set) var history = History()
    /// Set by a callback to end `fit` after the current epoch.
    public var stopTraining = false
    /// Applied to each training batch's inputs, in place, before the forward pass (random
    /// augmentation); draws from `random`. Not applied in evaluation or prediction.
    public var augmentBatch: ((Tensor, RandomGenerator) -> Void)?
    /// Flush denormal floats to zero while `fit` runs (see `FloatingPointMode`). Off by default:
    /// on the sentiment and charrnn samples it changed neither speed nor results (measured), and
    /// off keeps exact IEEE arithmetic; turn it on for long tanh sequences whose gradients fade.
    public var flushDenormals = false

    /// Cores that share each batch (see `DataParallel`); set with `use(workers:)`.
    public var workers: Int { group.workers }

    private var group: DataParallel
    private var batchInputs: Tensor?
    private var batchTargets: Tensor?
    private var lossGradient: Tensor?

    public init(model: Sequential, loss: any Loss, optimizer: any Optimizer, random: RandomGenerator,
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
    @discardableResult
    public func fit(_ data: Dataset, epochs: Int, batchSize: Int = 32, validation: Validation = .none,
                    shuffle: Bool = true, callbacks: [any Callback] = []) throws -> History {
        try FloatingPointMode.withDenormalsFlushed(flushDenormals) {
            try train(data, epochs: epochs, batchSize: batchSize, validation: validation, shuffle: shuffle,
                      callbacks: callbacks)
        }
    }

    private func train(_ data: Dataset, epochs: Int, batchSize: Int, validation: Validation,
                       shuffle: Bool, callbacks: [any Callback]) throws -> History {
        guard batchSize > 0 else { throw SynapseError.invalidArgument("batch size must be positive") }
        guard data.sampleShape == model.inputShape else {
            throw SynapseError.shape("data samples have shape \(data.sampleShape), the model takes \(model.inputShape)")
        }
        var training = data
        var validationSet: Dataset?
        switch validation {
        case .none: break
        case .split(let fraction, let seed): (training, validationSet) = try data.split(validationFraction: fraction, seed: seed)
        case .data(let set): validationSet = set
        }
        guard training.count > 0 else { throw SynapseError.invalidArgument("no training samples") }
        let batches = (training.count + batchSize - 1) / batchSize
        stopTraining = false
        callbacks.forEach { $0.trainingBegan(self, epochs: epochs, batchesPerEpoch: batches) }
        let parameters = model.parameters
        while epoch < epochs && !stopTraining {
            callbacks.forEach { $0.epochBegan(self, epoch: epoch) }
            let order = shuffle ? random.permutation(training.count) : Array(0..<training.count)
            var lossSum = 0.0, metricSum = 0.0, metricCount = 0, seen = 0
            for b in 0..<batches {
                let indices = order[(b * batchSize)..<min((b + 1) * batchSize, training.count)]
                let (x, y) = batch(of: training, indices)
                augmentBatch?(x, random)
                let (value, m) = group.computeGradients(inputs: x, targets: y, loss: loss, metric: metric, random: random)
                guard value.isFinite else {
                    throw SynapseError.invalidArgument("the loss became \(value) in epoch \(epoch + 1), batch \(b + 1): lower the learning rate or clip gradients")
                }
                if let clipNorm { clipGradientNorm(parameters, maxNorm: clipNorm) }
                optimizer.step(parameters)
                lossSum += Double(value) * Double(indices.count)
                metricSum += m.sum
                metricCount += m.count
                seen += indices.count
                if !callbacks.isEmpty {
                    let logs = ["loss": lossSum / Double(seen), metric.logName: metricSum / Double(metricCount),
                                "samples": Double(seen)]
                    callbacks.forEach { $0.batchEnded(self, batch: b, logs: logs) }
                }
            }
            var logs = ["loss": lossSum / Double(seen), metric.logName: metricSum / Double(metricCount),
                        "samples": Double(seen), "lr": Double(optimizer.learningRate)]
            if let validationSet {
                for (key, value) in evaluate(validationSet, batchSize: max(batchSize, 256)) { logs["val_" + key] = value }
            }
            if let schedule {
                optimizer.learningRate = schedule.rate(after: epoch, current: optimizer.learningRate, logs: logs)
            }
            history.epochs.append(logs)
            epoch += 1
            for callback in callbacks { try callback.epochEnded(self, epoch: epoch - 1, logs: logs) }
        }
        callbacks.forEach { $0.trainingEnded(self) }
        return history
    }

    /// Splits every training and evaluation batch across `workers` replicas of the model, one
    /// core each (see `DataParallel`); 1, the default, runs on the calling thread. With more than
    /// one, OpenBLAS runs one thread per worker.
    public func use(workers: Int) throws {
        group = workers == 1 ? DataParallel(model: model) : try DataParallel(model: model, workers: workers)
    }

    /// Mean loss and metric over `data`, in evaluation mode (no dropout, running statistics).
    public func evaluate(_ data: Dataset, batchSize: Int = 256) -> [String: Double] {
        var lossSum = 0.0, metricSum = 0.0, metricCount = 0
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let indices = Array(start..<min(start + batchSize, data.count))
            let (x, y) = batch(of: data, indices[...])
            let output = group.predict(x)
            let gradient = Tensor.reusing(lossGradient, shape: output.shape)
            lossGradient = gradient
            lossSum += Double(loss.compute(predictions: output, targets: y, gradient: gradient)) * Double(indices.count)
            let m = metric.accumulate(predictions: output, targets: y)
            metricSum += m.sum
            metricCount += m.count
        }
        let n = Double(max(data.count, 1))
        return ["loss": lossSum / n, metric.logName: metricSum / Double(max(metricCount, 1))]
    }

    /// The model's outputs for every sample of `inputs` (N, ...), in evaluation mode.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) -> Tensor {
        model.predict(inputs, batchSize: batchSize)
    }

    func restore(epoch: Int, history: History) {
        self.epoch = epoch
        self.history = history
    }

    private func batch(of data: Dataset, _ indices: ArraySlice<Int>) -> (Tensor, Tensor) {
        let x = Tensor.reusing(batchInputs, shape: [indices.count] + data.inputs.sampleShape)
        let y = Tensor.reusing(batchTargets, shape: [indices.count] + data.targets.sampleShape)
        (batchInputs, batchTargets) = (x, y)
        data.gather(indices, inputs: x, targets: y)
        return (x, y)
    }
}

extension Sequential {
    /// The outputs for every sample of `inputs` (N, ...), in evaluation mode, `batchSize` at a time.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) -> Tensor {
        let n = inputs.batchSize
        let result = Tensor(shape: [n] + outputShape)
        let outCount = Tensor.elementCount(outputShape)
        for start in stride(from: 0, to: n, by: batchSize) {
            let rows = min(batchSize, n - start)
            // A view of the chunk: layers read their input and never write it.
            let output = forward(inputs.rows(start..<(start + rows)), training: false)
            (result.data + start * outCount).update(from: output.data, count: rows * outCount)
        }
        return result
    }
}
