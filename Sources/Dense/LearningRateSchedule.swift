import Foundation

/// Sets the learning rate for the next epoch from the one just ended.
///
/// The trainer asks once per epoch, after validation; a schedule's `state` goes into training
/// checkpoints so that a resumed run continues the same schedule.
public protocol LearningRateSchedule: AnyObject {
    /// The rate for epoch `epoch + 1`, given that epoch `epoch` (0-based) just ended with `logs`.
    func rate(after epoch: Int, current: Float, logs: [String: Double]) -> Float
    /// What the schedule has learnt so far (a plateau's best value and wait), saved in training
    /// checkpoints and restored on resume; empty for a schedule with none.
    var state: [String: Double] { get set }
    /// Throws unless `state` is one this schedule could have saved (checked before a checkpoint
    /// changes anything). The default accepts any state.
    func validate(state: [String: Double]) throws
    /// The rate of the first epoch when the schedule fixes it, else nil (it starts from the
    /// optimizer's). One rate has one source: a trainer starting a run refuses a schedule whose
    /// initial rate differs from its optimizer's.
    var initialRate: Float? { get }
    /// Throws unless the schedule's own settings can give rates (`StepDecay`'s `every` is
    /// positive, ...), naming the setting. `Trainer.fit` checks it before the first batch. The
    /// default accepts any.
    func validateSettings() throws
}

extension LearningRateSchedule {
    public func validate(state: [String: Double]) throws {}
    public var initialRate: Float? { nil }
    /// Accepts any settings (a schedule with settings that can be wrong checks them).
    public func validateSettings() throws {}
}

/// A schedule that scales the run's first rate: `initial` when given, else the optimizer's rate
/// when training starts (kept in `state`, so a resumed run scales the same rate).
public class DecaySchedule {
    /// The first epoch's rate, or nil to start from the optimizer's rate.
    public let initial: Float?
    private var started: Float?

    init(initial: Float?) { self.initial = initial }

    /// The first epoch's rate: `initial`, else the rate current when the schedule was first asked
    /// (after epoch 0, which ran at the optimizer's rate).
    func base(current: Float) -> Float {
        if let initial { return initial }
        if started == nil { started = current }
        return started!
    }

    /// `initial`: the rate the schedule fixes for the first epoch, if any.
    public var initialRate: Float? { initial }

    /// The rate the schedule scales (`"initial"`) once it has started from the optimizer's; empty
    /// before, or when `initial` was given.
    public var state: [String: Double] {
        get { started.map { ["initial": Double($0)] } ?? [:] }
        set { started = newValue["initial"].map { Float($0) } }
    }

    /// Throws `SynapseError.invalidArgument` when the saved `"initial"` rate is not a positive number.
    public func validate(state: [String: Double]) throws {
        if let value = state["initial"], !(value > 0 && value.isFinite) {
            throw SynapseError.invalidArgument("schedule state: initial rate \(value) is not a positive number")
        }
    }
}

/// lr = initial * factor^floor((epoch + 1) / every): multiplies by `factor` every `every` epochs.
/// Without `initial`, it starts from the optimizer's rate (give the rate once, to the optimizer).
public final class StepDecay: DecaySchedule, LearningRateSchedule {
    /// The factor applied every `every` epochs (0.1: a tenth), and the interval in epochs (> 0).
    public let factor: Float, every: Int
    /// A schedule multiplying the rate by `factor` (default 0.1) every `every` epochs, from
    /// `initial` or, when nil (the default), the optimizer's rate. `every` must be positive and
    /// `factor` finite and not negative, which `validateSettings()` checks (`Trainer.fit` calls it).
    public init(initial: Float? = nil, factor: Float = 0.1, every: Int) {
        (self.factor, self.every) = (factor, every)
        super.init(initial: initial)
    }
    /// Throws `SynapseError.invalidArgument` unless `every` is at least 1 and `factor` a finite
    /// number not below 0.
    public func validateSettings() throws {
        guard every > 0 else { throw SynapseError.invalidArgument("StepDecay: every is \(every), it must be at least 1 (epochs between decays)") }
        guard factor.isFinite && factor >= 0 else { throw SynapseError.invalidArgument("StepDecay: factor is \(factor), it must be a finite number of at least 0") }
    }
    public func rate(after epoch: Int, current: Float, logs: [String: Double]) -> Float {
        base(current: current) * powf(factor, Float((epoch + 1) / max(every, 1)))
    }
}

/// lr = initial * decay^(epoch + 1). Without `initial`, it starts from the optimizer's rate
/// (give the rate once, to the optimizer).
public final class ExponentialDecay: DecaySchedule, LearningRateSchedule {
    /// The factor applied after every epoch (e.g. 0.95).
    public let decay: Float
    /// A schedule multiplying the rate by `decay` after every epoch, from `initial` or, when nil (the
    /// default), the optimizer's rate.
    public init(initial: Float? = nil, decay: Float) {
        self.decay = decay
        super.init(initial: initial)
    }
    public func rate(after epoch: Int, current: Float, logs: [String: Double]) -> Float {
        base(current: current) * powf(decay, Float(epoch + 1))
    }
}

/// Multiplies the rate by `factor` when `monitor` has not improved (by more than `minDelta`) for
/// `patience` epochs, as Keras's `ReduceLROnPlateau`; never below `minimum`.
///
/// `mode` says which way is better: `.min` for losses and errors, `.max` for accuracies. By
/// default it follows the name, as `EarlyStopping` does: `.max` for a monitor ending in
/// `accuracy`, `.min` otherwise.
public final class ReduceOnPlateau: LearningRateSchedule, MonitorsLogs {
    /// Which way the monitored value improves.
    public enum Mode: String, Sendable {
        /// Lower is better (losses).
        case min
        /// Higher is better (accuracies).
        case max
    }

    /// The settings `init` was given: the log entry watched, the factor applied on a plateau, the
    /// epochs without improvement that make one, the smallest change that counts as one, and the floor
    /// of the rate.
    public let monitor: String, factor: Float, patience: Int, minDelta: Double, minimum: Float
    /// Whether lower (`.min`) or higher (`.max`) values of `monitor` are better.
    public let mode: Mode
    private var best: Double
    private var wait = 0

    /// A schedule reducing the rate when `monitor` stops improving.
    /// - Parameters:
    ///   - monitor: The log entry to watch (default `val_loss`; `accuracy`, `val_accuracy`, ...).
    ///   - mode: Which way is better; nil (the default) follows the name: `.max` for a name ending in
    ///     `accuracy`, `.min` otherwise.
    ///   - factor: Multiplies the rate on a plateau (default 0.1).
    ///   - patience: Epochs without improvement before the rate drops (default 10).
    ///   - minDelta: The smallest change that counts as an improvement (default 1e-4).
    ///   - minimum: The rate never drops below this (default 0).
    public init(monitor: String = "val_loss", mode: Mode? = nil, factor: Float = 0.1, patience: Int = 10,
                minDelta: Double = 1e-4, minimum: Float = 0) {
        (self.monitor, self.factor, self.patience, self.minDelta, self.minimum) =
            (monitor, factor, patience, minDelta, minimum)
        self.mode = mode ?? (improves(monitor)(1, 0) ? .max : .min)
        best = self.mode == .min ? .infinity : -.infinity
    }

    public func rate(after epoch: Int, current: Float, logs: [String: Double]) -> Float {
        guard let value = logs[monitor] else { return current }
        if mode == .min ? value < best - minDelta : value > best + minDelta {
            best = value
            wait = 0
            return current
        }
        wait += 1
        guard wait >= patience else { return current }
        wait = 0
        return max(current * factor, minimum)
    }

    /// The best value so far (`"best"`) and the epochs since it (`"wait"`).
    public var state: [String: Double] {
        get { ["best": best, "wait": Double(wait)] }
        set {
            best = newValue["best"] ?? (mode == .min ? .infinity : -.infinity)
            wait = (newValue["wait"]).flatMap { Int(exactly: $0) } ?? 0
        }
    }

    /// `best` a number or the infinity nothing has improved on yet (+infinity when the metric
    /// should fall, -infinity when it should rise), `wait` a whole number of epochs from 0 to
    /// `patience`.
    public func validate(state: [String: Double]) throws {
        func fail(_ problem: String) -> SynapseError { .invalidArgument("ReduceOnPlateau state: \(problem)") }
        let unreachable: Double = mode == .min ? -.infinity : .infinity
        if let best = state["best"], best.isNaN || best == unreachable { throw fail("best is \(best)") }
        if let wait = state["wait"] {
            guard let count = Int(exactly: wait), count >= 0, count <= max(patience, 1) else {
                throw fail("wait is \(wait) epochs, outside 0...\(max(patience, 1))")
            }
        }
        if let unknown = state.keys.first(where: { $0 != "best" && $0 != "wait" }) { throw fail("unknown entry '\(unknown)'") }
    }
}
