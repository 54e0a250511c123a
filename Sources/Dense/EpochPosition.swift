/// Where training stood inside an epoch when it was stopped: the next batch, the generator's
/// state when the epoch began (it draws the epoch's order) and the running sums of the epoch.
public struct EpochPosition: Equatable {
    /// Batches of the epoch already trained on.
    public var batch: Int
    public var batchSize: Int
    /// Training samples in an epoch.
    public var samples: Int
    public var epochRandomState: [UInt64]
    public var lossSum = 0.0, metricSum = 0.0
    public var metricCount = 0, seen = 0
}
