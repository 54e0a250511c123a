import Foundation

/// Computes one batch's gradient on several cores at once: the batch is cut into contiguous
/// slices of rows, each worker runs forward and backward of its slice on its own replica of the
/// model (same layers and values, its own buffers and gradients), and the replicas' gradients are
/// summed into the model's. The optimizer then sees the gradient of the whole batch's mean loss,
/// as with one worker, up to the order of the float additions. PyTorch's DistributedDataParallel
/// does the same across processes.
///
/// - Each worker calls OpenBLAS from its own thread, so while the workers run, OpenBLAS is held to
///   one thread (and given back its setting after): the cores are never oversubscribed.
/// - A replica is rebuilt from its layers' `options` and receives the model's parameters and
///   buffers before every batch; layer settings outside `options` (an RNN's `initialState`) are
///   not carried over.
/// - BatchNorm normalises each slice with that slice's statistics (DDP without SyncBatchNorm);
///   the running statistics are averaged over the replicas after each batch.
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
    /// - Throws: when `workers` < 1, or a layer cannot be rebuilt from its options.
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
            let x = slot.slice(of: inputs, rows: rows, keeping: \.inputs)
            let y = slot.slice(of: targets, rows: rows, keeping: \.targets)
            slot.run(inputs: x, targets: y, weight: Float(rows.count) / Float(n), loss: loss, metric: metric)
        }
        // Fixed order of summation: the result does not depend on which worker finished first.
        for slot in replicas {
            for (primary, mine) in zip(model.parameters, slot.model.parameters) { primary.gradient.add(mine.gradient) }
        }
        // Running statistics: the mean over the workers.
        for (b, primary) in model.buffers.enumerated() {
            for slot in replicas { primary.value.add(slot.model.buffers[b].value) }
            primary.value.scale(by: 1 / Float(active))
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
            let output = slot.model.forward(slot.slice(of: inputs, rows: rows, keeping: \.inputs), training: false)
            (result.data + rows.lowerBound * output.sampleCount).update(from: output.data, count: output.count)
        }
        return result
    }

    /// Hands the replicas the model's current parameters and buffers.
    private func synchronizeReplicas(_ active: Int) {
        for slot in slots[1..<active] {
            for (mine, primary) in zip(slot.model.stateTensors, model.stateTensors) { mine.value.assign(primary.value) }
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

    /// One worker: a model (the primary or a replica), its slice buffers and its results.
    private final class Slot {
        let model: Sequential
        let random: RandomGenerator?
        var inputs: Tensor?, targets: Tensor?, lossGradient: Tensor?
        /// The slice's mean loss times its share of the batch: the shares add up to the batch's mean.
        var lossShare: Float = 0
        var metric: (sum: Double, count: Int) = (0, 0)

        init(model: Sequential, random: RandomGenerator?) {
            self.model = model
            self.random = random
        }

        func slice(of batch: Tensor, rows: Range<Int>, keeping buffer: ReferenceWritableKeyPath<Slot, Tensor?>) -> Tensor {
            let part = Tensor.reusing(self[keyPath: buffer], shape: [rows.count] + batch.sampleShape)
            self[keyPath: buffer] = part
            let size = batch.sampleCount
            part.data.update(from: batch.data + rows.lowerBound * size, count: rows.count * size)
            return part
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
    /// A model with the same layers, names and values that shares no storage with this one: its
    /// own parameters, gradients and layer buffers. Rebuilt from each layer's `options`.
    public func replica() throws -> Sequential {
        let random = RandomGenerator(seed: 0)
        let copies = try layers.map { layer -> any Layer in
            let copy = try type(of: layer).init(options: layer.options, random: random)
            copy.name = layer.name
            return copy
        }
        let result = try Sequential(inputShape: inputShape, copies)
        for (mine, theirs) in zip(result.stateTensors, stateTensors) { mine.value.assign(theirs.value) }
        return result
    }
}
