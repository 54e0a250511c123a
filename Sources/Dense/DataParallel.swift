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
/// - Replicas are built from the layers' configs straight into their blocks (`replica()`), and
///   state outside the configs (an RNN's `initialState`) is carried over (`adoptState(of:)`).
/// - Each worker calls OpenBLAS from its own thread, so while the workers run, OpenBLAS is held to
///   one thread (and given back its setting after): the cores are never oversubscribed.
/// - BatchNorm normalises each slice with that slice's statistics (DDP without SyncBatchNorm);
///   the replicas' buffers start each batch as the model's and are averaged into it after.
/// - Dropout in replica k draws from a generator reseeded from the trainer's generator every
///   batch, so a run depends only on the seed and the number of workers.
/// - Across the ranks of a `Communicator` the batch is cut into ranks x workers global slices;
///   rank r holds only its rows (`share(ofBatch:)`) and runs slices r x workers ..< (r + 1) x
///   workers, every rank draws the same reseeds, and after the local sum one all-reduce of the
///   gradient block (and one of the buffers, with BatchNorm) gives every rank the whole batch's
///   gradient. With one rank nothing is communicated and the result is as before.
public final class DataParallel {
    /// The model whose parameters the workers' replicas share and whose gradients they sum into.
    public let model: any Model
    /// The ranks that share each batch with this process's workers (see `Communicator`).
    public let communicator: any Communicator
    private let slots: [Slot]
    private var outputs: Tensor?
    /// Each local worker's share of the last batch's mean loss (0 for a worker left idle).
    public private(set) var lossShares: [Float]

    /// One worker: every batch runs on the calling thread, on the model itself.
    public init(model: any Model) {
        self.model = model
        communicator = SingleProcess()
        slots = [Slot(model: model, random: nil)]
        lossShares = [0]
    }

    /// - Parameters:
    ///   - model: The model whose batches are split; replicas of it read its weights in place.
    ///   - workers: slices per batch and rank, one thread each (1 runs on the calling thread).
    ///   - communicator: the ranks that share each batch. Rank r's workers take global slices
    ///     r x workers ..< (r + 1) x workers of ranks x workers, so a batch is cut exactly as one
    ///     process with that many workers cuts it, and slice g's dropout draws what worker g's
    ///     would. On a rank other than 0 the model is handed its own generator for that.
    /// - Throws: when `workers` < 1, or a layer cannot be cloned.
    public init(model: any Model, workers: Int, communicator: any Communicator = SingleProcess()) throws {
        guard workers >= 1 else { throw SynapseError.invalidArgument("workers must be at least 1, got \(workers)") }
        self.model = model
        self.communicator = communicator
        var slots = [Slot(model: model, random: nil)]
        if communicator.rank > 0 {
            let random = RandomGenerator(seed: 0)
            model.attach(random: random)
            slots[0] = Slot(model: model, random: random)
        }
        for _ in 1..<workers {
            let random = RandomGenerator(seed: 0)
            let replica = try model.replica()
            replica.attach(random: random)
            slots.append(Slot(model: replica, random: random))
        }
        self.slots = slots
        lossShares = Array(repeating: 0, count: workers)
    }

    /// Workers in this process.
    public var workers: Int { slots.count }

    /// Slices of every batch over all ranks: workers x ranks.
    public var totalSlices: Int { slots.count * communicator.size }

    /// The global index of this process's first worker.
    public var firstSlice: Int { slots.count * communicator.rank }

    /// The models of workers 2, 3, ...: replicas of `model` that read its parameter block.
    public var replicas: [any Model] { slots.dropFirst().map(\.model) }

    /// Where global slice `g` of `slices` begins in a batch of `n` rows: a batch of fewer rows
    /// than slices has one row per slice and idle slices after them.
    public static func sliceStart(_ g: Int, of slices: Int, rows n: Int) -> Int {
        let active = max(1, min(slices, n))
        return min(g, active) * n / active
    }

    /// The rows of a global batch of `n` rows that this rank's workers take.
    public func share(ofBatch n: Int) -> Range<Int> {
        let slices = totalSlices
        return Self.sliceStart(firstSlice, of: slices, rows: n)..<Self.sliceStart(firstSlice + workers, of: slices, rows: n)
    }

    /// Zeroes the model's gradients and fills them with the gradient of `loss`'s mean over the
    /// batch. Returns that mean and the metric's (sum, count) over the batch. `random` reseeds the
    /// replicas' dropout generators (the model's own layers keep the generator they were given).
    public func computeGradients(inputs: Tensor, targets: Tensor, loss: any Loss, metric: Metric,
                                 random: RandomGenerator) -> (loss: Float, metric: (sum: Double, count: Int)) {
        computeGradients(inputs: inputs, targets: targets, batchRows: inputs.batchSize, loss: loss, metric: metric, random: random)
    }

    /// Like `computeGradients(inputs:targets:loss:metric:random:)` for this rank's share
    /// (`share(ofBatch: batchRows)`) of a global batch: every rank draws the same seeds from
    /// `random`, runs its workers' slices, and the gradient blocks are summed over the ranks
    /// (one all-reduce) and the running statistics averaged (one more, with BatchNorm), so that
    /// every rank ends with the gradient of the whole batch. Returns this rank's part of the
    /// loss and the metric; `lossShares` holds each worker's part.
    public func computeGradients(inputs: Tensor, targets: Tensor, batchRows n: Int, loss: any Loss, metric: Metric,
                                 random: RandomGenerator) -> (loss: Float, metric: (sum: Double, count: Int)) {
        let slices = totalSlices, first = firstSlice
        let active = max(1, min(slices, n))
        let local = max(0, min(slots.count, active - first))
        let start = Self.sliceStart(first, of: slices, rows: n)
        // Worker g's generator is seeded from the g-th draw (g >= 1); worker 0 draws from `random`.
        if active > 1 {
            for g in 1..<active {
                let seed = random.next()
                if g >= first && g < first + local { slots[g - first].random?.state = RandomGenerator(seed: seed).state }
            }
        }
        for w in 0..<slots.count { lossShares[w] = 0 }
        if local > 1 { synchronizeReplicas(local) }
        func rows(_ w: Int) -> Range<Int> {
            (Self.sliceStart(first + w, of: slices, rows: n) - start)..<(Self.sliceStart(first + w + 1, of: slices, rows: n) - start)
        }
        if local == 1 {
            let r = rows(0)
            let whole = r.count == inputs.batchSize
            slots[0].run(inputs: whole ? inputs : inputs.rows(r), targets: whole ? targets : targets.rows(r),
                         weight: r.count == n ? 1 : Float(r.count) / Float(n), loss: loss, metric: metric)
        } else if local > 1 {
            forEachWorker(local, rows: rows) { slot, rows in
                slot.run(inputs: inputs.rows(rows), targets: targets.rows(rows), weight: Float(rows.count) / Float(n),
                         loss: loss, metric: metric)
            }
        } else {
            model.zeroGradients()
        }
        // Fixed order of summation: the result does not depend on which worker finished first.
        for slot in slots.dropFirst().prefix(max(0, local - 1)) {
            model.parameterBlock.gradients.add(slot.model.parameterBlock.gradients)
        }
        if communicator.size > 1 {
            communicator.allReduceSum(model.parameterBlock.gradients)
        }
        // Running statistics: the mean over the workers of all ranks.
        if !model.buffers.isEmpty && (active > 1 || communicator.size > 1) {
            let buffers = model.bufferBlock.values
            if local == 0 { buffers.fill(0) }
            for slot in slots.dropFirst().prefix(max(0, local - 1)) { buffers.add(slot.model.bufferBlock.values) }
            if communicator.size > 1 { communicator.allReduceSum(buffers) }
            if active > 1 { buffers.scale(by: 1 / Float(active)) }
        }
        var total: Float = 0, sum = 0.0, count = 0
        for (w, slot) in slots[0..<local].enumerated() {
            lossShares[w] = slot.lossShare
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
        forEachWorker(active, rows: { k in (k * n / active)..<((k + 1) * n / active) }) { slot, rows in
            let output = slot.model.forward(inputs.rows(rows), training: false)
            (result.data + rows.lowerBound * output.sampleCount).update(from: output.data, count: output.count)
        }
        return result
    }

    /// Hands the replicas the model's current buffers (the parameters they share).
    private func synchronizeReplicas(_ active: Int) {
        guard !model.buffers.isEmpty else { return }
        for slot in slots[1..<active] {
            slot.model.bufferBlock.values.assign(model.bufferBlock.values)
        }
    }

    /// Runs `body` for the first `active` workers at once, one thread each, handing worker k its
    /// slot and its rows, `rows(k)`. Worker k writes only to its own slot (and to its own rows of
    /// an output), so no two threads write the same memory.
    private func forEachWorker(_ active: Int, rows: (Int) -> Range<Int>, _ body: (Slot, Range<Int>) -> Void) {
        // One OpenBLAS thread per worker: the workers already fill the cores. Inside `fit` it is
        // one already (the fit's plan); `evaluate` and `predict` outside it plan it here.
        // The caller's denormal mode (Trainer.flushDenormals) on every worker's thread.
        let flush = FloatingPointMode.isFlushing
        BLAS.withThreadPlan(workers: active, splitsRows: false) {
        withoutActuallyEscaping(body) { body in
            withoutActuallyEscaping(rows) { rows in
                let job = Job(slots: slots, body: body, rows: rows)
                DispatchQueue.concurrentPerform(iterations: active) { k in
                    FloatingPointMode.withDenormalsFlushed(flush) { job.body(job.slots[k], job.rows(k)) }
                }
            }
        }
        }
    }

    private struct Job: @unchecked Sendable {
        let slots: [Slot]
        let body: (Slot, Range<Int>) -> Void
        let rows: (Int) -> Range<Int>
    }

    /// One worker: a model (the primary or a replica), its loss-gradient buffer and its results.
    private final class Slot {
        let model: any Model
        let random: RandomGenerator?
        var lossGradient: Tensor?
        /// The slice's mean loss times its share of the batch: the shares add up to the batch's mean.
        var lossShare: Float = 0
        var metric: (sum: Double, count: Int) = (0, 0)

        init(model: any Model, random: RandomGenerator?) {
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
    /// A model of the same layer configs, names, buffer values and other state (see
    /// `Layer.adoptState(of:)`), built from the configs, whose parameters are views into this
    /// model's parameter block from the start: it reads this model's
    /// weights as they change and owns only its gradient block, its buffers and its layers'
    /// working buffers. Nothing may write the weights while a replica runs.
    /// - Throws: when a layer cannot be built.
    public func replica() throws -> Sequential {
        let replica = try Sequential(inputShape: inputShape, building: layers.map { ($0.name, $0.config) }, random: nil,
                                     sharingValuesOf: self)
        for (copy, layer) in zip(replica.layers, layers) { copy.adoptState(of: layer) }
        replica.bufferBlock.values.assign(bufferBlock.values)
        return replica
    }
}
