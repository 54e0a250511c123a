import CKernels
import Foundation

/// Updates parameters from their gradients. State (moments, step count) lives here, in blocks
/// parallel to the model's parameter block (per-parameter views of them for checkpoints); layers
/// never know which optimizer runs.
///
/// Every optimizer follows PyTorch's update equations exactly (its `torch.optim` classes), so
/// that a step here and a step there agree to rounding. `weightDecay` is L2 regularisation as
/// PyTorch applies it: g <- g + weightDecay * w before the update.
public protocol Optimizer: AnyObject {
    /// The step size of the next `step` (> 0); a `LearningRateSchedule` sets it between epochs.
    var learningRate: Float { get set }
    /// Steps taken so far (Adam's bias correction uses it).
    var stepCount: Int { get set }
    /// Applies one update to every parameter.
    func step(_ parameters: [Parameter])
    /// The names of the per-parameter state tensors (`momentum`, `m`, `v`, ...).
    var slotNames: [String] { get }
    /// The state tensors of one parameter, in `slotNames` order, created as zeros if absent.
    func slots(for parameter: Parameter) -> [Tensor]
    /// Hyper-parameters, for the saved training settings.
    var settings: [String: ConfigValue] { get }
    /// Throws unless every setting is one the update can use (a rate that is a finite number not
    /// below 0, decay factors in their ranges), naming the setting. `Trainer.fit` checks it before
    /// the first batch. The default checks the learning rate.
    func validate() throws
}

extension Optimizer {
    /// Throws unless `learningRate` is a finite number not below 0 (optimizers with more
    /// settings check those too).
    public func validate() throws {
        try checkSetting("learningRate", learningRate, atLeast: 0)
    }

    /// Throws unless `value` is a finite number of at least `lower` (and below `upper` when
    /// given), with the optimizer's type and the setting's name in the message.
    func checkSetting(_ name: String, _ value: Float, atLeast lower: Float, below upper: Float? = nil) throws {
        guard value.isFinite, value >= lower, upper.map({ value < $0 }) ?? true else {
            let range = upper.map { "in \(lower) ..< \($0)" } ?? "a finite number of at least \(lower)"
            throw SynapseError.invalidArgument("\(type(of: self)): \(name) is \(value), it must be \(range)")
        }
    }
}

/// An optimizer's state tensors (`momentum_buffer`, `exp_avg`, ...), created as zeros on first use.
///
/// For the parameters of a model's `ParameterBlock` the state lives in blocks parallel to it,
/// one per slot name, so a step is one pass over every block at once; `tensors(for:)` returns
/// views into them. A parameter outside any block gets tensors of its own, found by identity.
public final class OptimizerSlots {
    /// The slot names, in the order `blocks(for:)` and `tensors(for:)` return their tensors.
    public let names: [String]
    private var table: [ObjectIdentifier: [Tensor]] = [:]
    private var blockStates: [ObjectIdentifier: (block: ParameterBlock, state: [Tensor])] = [:]

    /// Slots named `names` (e.g. `["exp_avg", "exp_avg_sq"]`), none created yet.
    public init(names: [String]) { self.names = names }

    /// One state block per slot name, each as long as `block` and in its order.
    public func blocks(for block: ParameterBlock) -> [Tensor] {
        if let found = blockStates[ObjectIdentifier(block)] { return found.state }
        let created = names.map { _ in Tensor(shape: [block.count]) }
        blockStates[ObjectIdentifier(block)] = (block, created)
        return created
    }

    /// The state tensors of `parameter`, in `names` order and of its shape: views into the block
    /// states when it lives in a `ParameterBlock`, else tensors of its own (zeros when first asked).
    public func tensors(for parameter: Parameter) -> [Tensor] {
        if let (block, offset) = parameter.location {
            return blocks(for: block).map { $0.view(at: offset, shape: parameter.shape) }
        }
        if let found = table[ObjectIdentifier(parameter)] { return found }
        let created = names.map { _ in Tensor(shape: parameter.shape) }
        table[ObjectIdentifier(parameter)] = created
        return created
    }
}
