import Foundation

/// Computes one batch's gradient on several cores at once: the batch is cut into contiguous
/// slices of rows, each worker runs forward and backward of its slice on its own replica of the
/// model, and the replicas' gradients are summed into the model's. The optimizer then sees the
/// gradient of the whole batch's mean loss, as with one worker, up to the order of the float
/// additions. PyTorch's DistributedDataParallel does the same across processes.
///
/// - Replicas share the weights: their parameters are views into the model's parameter block,
///   which nobody writes while the workers run (the optimizer steps between batches), so no
///   parameter is ever copied. A replica owns only its activations, its gradient block and its
///   buffers. Slices are views of the batch's rows, not copies.
/// - After backward, each replica's gradient block is added into the model's, in replica order
///   (one vector add each): the result does not depend on which worker finished first.
/// - Replicas are made with each layer's `clone()`, so settings outside the saved options (an
///   RNN's `initialState`) are carried over.
/// - Each worker calls OpenBLAS from its own thread, so while the workers run, OpenBLAS is held to
///   one thread (and given back its setting after): the cores are never oversubscribed.
/// - BatchNorm normalises each slice with that slice's statistics (DDP without SyncBatchNorm);
///   the replicas' buffers start each batch as the model's and are averaged into it after.
/// - Dropout in replica k draws from a generator reseeded from the trainer's generator every
///   batch, so a run depends only on the seed and the number of workers.
public final class DataParallel {
    public let model: Sequential
    private let slots: [Slot]
    private var outputs: Tensor?

    /// One worker: every batch runs on the calling thread, on the model itself.
    public init(model: Sequential) {
        self.model = model
        slots = [Slot(model: model, random: nil)]
    }

    /// - Parameter workers: slices per batch, one thread each (1 runs on the calling thread).
    /// - Throws: when `workers` < 1, or a layer cannot be cloned.
    public init(model: Sequential, workers: Int) throws {
        guard workers >= 1 else { throw SynapseError.invalidArgument("workers must be at least 1, got \(workers)") }
        self.model = model
        var slots = [Slot(model: model, random: nil)]
        for _ in 1..<workers {
            let random = RandomGenerator(seed: 0)
            let replica = try model.replica()
            replica.attach(random: random)
            slots.append(Slot(model: replica, random: random))
        }
        self.slots = slots
    }

    public var workers: Int { slots.count }

    /// The models of workers 2, 3, ...: replicas of `model` that read its parameter block.
    public var replicas: [Sequential] { slots.dropFirst().map(\.model) }

    /// Zeroes the model's gradients and fills them with the gradient of `loss`'s mean over the
    /// batch. Returns that mean and the metric's (sum, count) over the batch. `random` reseeds the
    /// replicas' dropout generators (the model's own layers keep the generator they were given).
    public func computeGradients(inputs: Tensor, targets: Tensor, loss: any Loss, metric: Metric,
                                 random: RandomGenerator) -> (loss: Float, metric: (sum: Double, count: Int)) {
        let n = inputs.batchSize
        let active = max(1, min(slots.count, n))
        if active == 1 {
            slots[0].run(inputs: inputs, targets: targets, weight: 1, loss: loss, metric: metric)
            return (slots[0].lossShare, slots[0].metric)
        }
        let replicas = slots[1..<active]
        for slot in replicas { slot.random?.state = RandomGenerator(seed: random.next()).state }
        synchronizeReplicas(active)
        forEachWorker(active, rows: n) { slot, rows in
            slot.run(inputs: inputs.rows(rows), targets: targets.rows(rows), weight: Float(rows.count) / Float(n),
                     loss: loss, metric: metric)
        }
        // Fixed order of summation: the result does not depend on which worker finished first.
        for slot in replicas { add(slot.model.parameterBlock, slot.model.parameters, into: model.parameterBlock, model.parameters) }
        // Running statistics: the mean over the workers.
        if !model.buffers.isEmpty {
            for slot in replicas { addValues(slot.model.bufferBlock, slot.model.buffers, into: model.bufferBlock, model.buffers) }
            if model.bufferBlock.holds(model.buffers) {
                model.bufferBlock.values.scale(by: 1 / Float(active))
            } else {
                for b in model.buffers { b.value.scale(by: 1 / Float(active)) }
            }
        }
        var total: Float = 0, sum = 0.0, count = 0
        for slot in slots[0..<active] {
            total += slot.lossShare
            sum += slot.metric.sum
            count += slot.metric.count
        }
        return (total, (sum, count))
    }

    /// The model's outputs for `inputs` in evaluation mode, the rows split across the workers.
    /// The result is this object's buffer, valid until the next call.
    public func predict(_ inputs: Tensor) -> Tensor {
        let n = inputs.batchSize
        let active = max(1, min(slots.count, n))
        if active == 1 { return model.forward(inputs, training: false) }
        synchronizeReplicas(active)
        let result = Tensor.reusing(outputs, shape: [n] + model.outputShape)
        outputs = result
        forEachWorker(active, rows: n) { slot, rows in
            let output = slot.model.forward(inputs.rows(rows), training: false)
            (result.data + rows.lowerBound * output.sampleCount).update(from: output.data, count: output.count)
        }
        return result
    }

    /// Hands the replicas the model's current buffers (the parameters they share).
    private func synchronizeReplicas(_ active: Int) {
        guard !model.buffers.isEmpty else { return }
        for slot in slots[1..<active] {
            let mine = slot.model
            if mine.bufferBlock.holds(mine.buffers) && model.bufferBlock.holds(model.buffers) {
                mine.bufferBlock.values.assign(model.bufferBlock.values)
            } else {
                for (b, primary) in zip(mine.buffers, model.buffers) { b.value.assign(primary.value) }
            }
        }
    }

    /// Adds a replica's gradients into the model's: one vector add over the blocks, or one per
    /// parameter if a block was broken up.
    private func add(_ block: ParameterBlock, _ parameters: [Parameter], into target: ParameterBlock,
                     _ targetParameters: [Parameter]) {
        if block.holds(parameters) && target.holds(targetParameters) {
            target.gradients.add(block.gradients)
        } else {
            for (primary, mine) in zip(targetParameters, parameters) { primary.gradient.add(mine.gradient) }
        }
    }

    /// Adds a replica's buffer values into the model's.
    private func addValues(_ block: ParameterBlock, _ buffers: [Parameter], into target: ParameterBlock,
                           _ targetBuffers: [Parameter]) {
        if block.holds(buffers) && target.holds(targetBuffers) {
            target.values.add(block.values)
        } else {
            for (primary, mine) in zip(targetBuffers, buffers) { primary.value.add(mine.value) }
        }
    }

    /// Runs `body` for the first `active` workers at once, one thread each, handing worker k its
    /// slot and its share of `rows` rows. Worker k writes only to its own slot (and to its own rows
    /// of an output), so no two threads write the same memory.
    private func forEachWorker(_ active: Int, rows n: Int, _ body: (Slot, Range<Int>) -> Void) {
        // One OpenBLAS thread per worker: the workers already fill the cores.
        let blasThreads = BLAS.threads
        if blasThreads != 1 { BLAS.threads = 1 }
        defer { if blasThreads != 1 { BLAS.threads = blasThreads } }
        withoutActuallyEscaping(body) { body in
            let job = Job(slots: slots, body: body)
            DispatchQueue.concurrentPerform(iterations: active) { k in
                job.body(job.slots[k], (k * n / active)..<((k + 1) * n / active))
            }
        }
    }

    private struct Job: @unchecked Sendable {
        let slots: [Slot]
        let body: (Slot, Range<Int>) -> Void
    }

    /// One worker: a model (the primary or a replica), its loss-gradient buffer and its results.
    private final class Slot {
        let model: Sequential
        let random: RandomGenerator?
        var lossGradient: Tensor?
        /// The slice's mean loss times its share of the batch: the shares add up to the batch's mean.
        var lossShare: Float = 0
        var metric: (sum: Double, count: Int) = (0, 0)

        init(model: Sequential, random: RandomGenerator?) {
            self.model = model
            self.random = random
        }

        /// Forward and backward of one slice whose mean loss counts `weight` of the batch's.
        func run(inputs: Tensor, targets: Tensor, weight: Float, loss: any Loss, metric: Metric) {
            model.zeroGradients()
            let output = model.forward(inputs, training: true)
            let gradient = Tensor.reusing(lossGradient, shape: output.shape)
            lossGradient = gradient
            lossShare = weight * loss.compute(predictions: output, targets: targets, gradient: gradient)
            self.metric = metric.accumulate(predictions: output, targets: targets)
            if weight != 1 { gradient.scale(by: weight) }
            model.backward(gradient)
        }
    }
}

extension Sequential {
    /// A model of clones of these layers (same names, settings and buffers, see `Layer.clone()`)
    /// whose parameters are views into this model's parameter block: it reads this model's
    /// weights as they change and owns only its gradient block, its buffers and its layers'
    /// working buffers. Nothing may write the weights while a replica runs.
    /// - Throws: when a layer cannot be cloned, or this model's parameters no longer lie in its
    ///   block (its layers were built into another model).
    public func replica() throws -> Sequential {
        guard parameterBlock.holds(parameters) else {
            throw SynapseError.invalidArgument("the model's layers were moved into another model: cannot share its weights")
        }
        let copies = try layers.map { try $0.clone() }
        return try Sequential(inputShape: inputShape, layers: copies, sharingValuesOf: self)
    }
}
