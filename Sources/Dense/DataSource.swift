/// Where a trainer's batches come from: samples held in memory (`Dataset`) or read from files
/// as they are needed (an image folder, decoded and augmented on loader threads).
///
/// A source hands out its samples in the order the trainer draws: `batches(order:...)` returns
/// a stream that fills one batch at a time. A streamed source may decode ahead in the background,
/// but what it hands out depends only on the order, the epoch and its own settings (seed,
/// augmentation), never on timing or the number of loader threads.
public protocol DataSource {
    /// The number of samples.
    var count: Int { get }
    /// The shape of one input sample (C x H x W for images).
    var sampleShape: [Int] { get }
    /// The shape of one target: `[]` for a class index, `[K]` for a row of values.
    var targetShape: [Int] { get }

    /// The samples at `indices` (positions in this source), in that order, as a source.
    func selecting(_ indices: [Int]) -> any DataSource

    /// A stream of the samples at `order`, `batchSize` at a time (the last batch may be
    /// shorter). `training` turns on the source's random augmentation, drawn for `epoch`.
    func batches(order: [Int], batchSize: Int, epoch: Int, training: Bool) -> any BatchStream
}

/// Batches of a source in a fixed order, one after the other.
public protocol BatchStream: AnyObject {
    /// Fills the first rows of `inputs` (at least batch size x sample shape) and `targets` with
    /// the next batch and returns how many rows it filled, or nil after the last batch. A source
    /// that skips unreadable samples may fill fewer rows than the batch size, but never zero.
    func next(inputs: Tensor, targets: Tensor) throws -> Int?
}

extension DataSource {
    /// Splits off a validation part by the rule of `Dataset.split`: the held-out samples are the
    /// first `round(fraction x N)` indices of a permutation drawn from `RandomGenerator(seed:)`,
    /// kept in their original order.
    public func split(validationFraction fraction: Double, seed: UInt64) throws
        -> (training: any DataSource, validation: any DataSource) {
        guard fraction > 0 && fraction < 1 else {
            throw SynapseError.invalidArgument("validation fraction must be in (0, 1), got \(fraction)")
        }
        let order = RandomGenerator(seed: seed).permutation(count)
        let held = Int((fraction * Double(count)).rounded())
        return (selecting(order[held...].sorted()), selecting(order[..<held].sorted()))
    }

    /// `count` samples drawn at random without replacement (the first `count` of a permutation
    /// from `RandomGenerator(seed:)`), kept in their original order: a smaller set that keeps the
    /// mix of classes on average. (`selecting(0..<n)` takes the first n, which in a folder
    /// listed class by class are all of one class.) Throws unless 1 <= count <= self.count.
    public func subset(count wanted: Int, seed: UInt64) throws -> any DataSource {
        guard wanted >= 1 && wanted <= count else {
            throw SynapseError.invalidArgument("subset(count: \(wanted)) of \(count) samples: count must be in 1...\(count)")
        }
        return selecting(RandomGenerator(seed: seed).permutation(count)[..<wanted].sorted())
    }
}

extension Dataset: DataSource {
    public var targetShape: [Int] { targets.sampleShape }

    public func selecting(_ indices: [Int]) -> any DataSource { subset(indices) }

    public func batches(order: [Int], batchSize: Int, epoch: Int, training: Bool) -> any BatchStream {
        InMemoryBatches(data: self, order: order, batchSize: batchSize)
    }
}

/// A `Dataset`'s batches: each one gathered from memory when it is asked for.
final class InMemoryBatches: BatchStream {
    let data: Dataset
    let order: [Int]
    let batchSize: Int
    var position = 0

    init(data: Dataset, order: [Int], batchSize: Int) {
        (self.data, self.order, self.batchSize) = (data, order, batchSize)
    }

    func next(inputs: Tensor, targets: Tensor) throws -> Int? {
        guard position < order.count else { return nil }
        let end = min(position + batchSize, order.count)
        data.gather(order[position..<end], inputs: inputs, targets: targets)
        defer { position = end }
        return end - position
    }
}
