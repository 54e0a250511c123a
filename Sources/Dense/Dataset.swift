/// Samples and their targets, in memory: inputs (N, ...) and targets (N) of class indices or
/// (N, K) of values / one-hot rows.
public struct Dataset {
    /// The samples, (N, ...): the batch axis first, then one sample's shape.
    public let inputs: Tensor
    /// One target per sample: (N) class indices, or (N, K) values, one-hot or probability rows.
    public let targets: Tensor

    /// Pairs samples with their targets; throws a `SynapseError` when `inputs` has no sample
    /// axis or the two counts differ. The tensors are used as they are, not copied.
    public init(inputs: Tensor, targets: Tensor) throws {
        guard inputs.shape.count >= 2 else {
            throw SynapseError.invalidArgument("inputs need a batch dimension and a sample shape, got \(inputs.shape)")
        }
        guard targets.shape.first == inputs.shape.first else {
            throw SynapseError.invalidArgument(
                "\(inputs.batchSize) input samples but \(targets.shape.first ?? 0) targets")
        }
        self.inputs = inputs
        self.targets = targets
    }

    /// N, the number of samples.
    public var count: Int { inputs.batchSize }
    /// The shape of one sample: `inputs`' shape without the batch axis.
    public var sampleShape: [Int] { inputs.sampleShape }

    /// A copy holding the samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        let x = Tensor(shape: [indices.count] + inputs.sampleShape)
        let y = Tensor(shape: [indices.count] + targets.sampleShape)
        gather(indices[...], inputs: x, targets: y)
        return try! Dataset(inputs: x, targets: y)
    }

    /// The first `n` samples.
    public func prefix(_ n: Int) -> Dataset { subset(Array(0..<min(n, count))) }

    /// Splits off a validation set.
    ///
    /// The held-out samples are the first `round(fraction * N)` indices of a random permutation
    /// drawn from `RandomGenerator(seed: seed)`, kept in their original order; the others train.
    /// The two sets are disjoint, and the same seed and data size always give the same split,
    /// whatever else the run draws.
    public func split(validationFraction fraction: Double, seed: UInt64) throws -> (training: Dataset, validation: Dataset) {
        guard fraction > 0 && fraction < 1 else {
            throw SynapseError.invalidArgument("validation fraction must be in (0, 1), got \(fraction)")
        }
        let order = RandomGenerator(seed: seed).permutation(count)
        let held = Int((fraction * Double(count)).rounded())
        return (subset(order[held...].sorted()), subset(order[..<held].sorted()))
    }

    /// Copies the samples at `indices` into the first rows of `inputs` and `targets`.
    public func gather(_ indices: ArraySlice<Int>, inputs x: Tensor, targets y: Tensor) {
        let (xs, ys) = (self.inputs.sampleCount, self.targets.sampleCount)
        let (src, dst, tsrc, tdst) = (self.inputs.data, x.data, self.targets.data, y.data)
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < count, "sample index \(index) outside 0..<\(count)")
            (dst + row &* xs).update(from: src + index &* xs, count: xs)
            (tdst + row &* ys).update(from: tsrc + index &* ys, count: ys)
        }
    }
}
