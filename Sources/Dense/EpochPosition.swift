/// Where training stood inside an epoch when it was stopped: the next batch, the generator's
/// state when the epoch began (it draws the epoch's order) and the running sums of the epoch.
public struct EpochPosition: Equatable {
    /// Batches of the epoch already trained on.
    public var batch: Int
    /// The batch size the epoch was running with (a resumed run must use the same).
    public var batchSize: Int
    /// Training samples in an epoch.
    public var samples: Int
    /// The trainer's generator state when the epoch began: it redraws the epoch's sample order.
    public var epochRandomState: [UInt64]
    /// The epoch's running sums so far: loss times rows, and the metric's sum.
    public var lossSum = 0.0, metricSum = 0.0
    /// The samples the metric counted, and the samples trained on, so far in the epoch.
    public var metricCount = 0, seen = 0
}
