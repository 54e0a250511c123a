/// Stochastic gradient descent with optional momentum (heavy ball or Nesterov).
///
///     g <- g + wd * w
///     b <- momentum * b + g                 (b = g on the first step)
///     g <- nesterov ? g + momentum * b : b
///     w <- w - lr * g
public final class SGD: Optimizer {
    /// lr, the step size; a `LearningRateSchedule` on the trainer sets it each epoch.
    public var learningRate: Float
    /// The velocity's decay; 0: plain gradient descent, with no state.
    public let momentum: Float
    /// Whether the step looks ahead along the velocity (Nesterov momentum).
    public let nesterov: Bool
    /// L2 penalty: wd * w is added to each gradient before the update (PyTorch's `weight_decay`).
    public let weightDecay: Float
    /// Steps taken so far (t); saved in checkpoints.
    public var stepCount = 0
    private let state = OptimizerSlots(names: ["momentum_buffer"])

    /// SGD (defaults: lr 0.01, no momentum, no weight decay); `nesterov` needs `momentum` > 0,
    /// which `validate()` checks (`Trainer.fit` calls it before the first batch).
    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    /// The names of the state tensors kept per parameter, as PyTorch's optimizer state names them.
    public var slotNames: [String] { momentum > 0 ? state.names : [] }
    /// The state tensors of `parameter`, in `slotNames` order (views into the optimizer's blocks).
    public func slots(for parameter: Parameter) -> [Tensor] { momentum > 0 ? state.tensors(for: parameter) : [] }

    /// Throws for a negative or non-finite rate, momentum or weight decay, and for Nesterov
    /// momentum without momentum (it would silently be plain gradient descent).
    public func validate() throws {
        try checkSetting("learningRate", learningRate, atLeast: 0)
        try checkSetting("momentum", momentum, atLeast: 0)
        try checkSetting("weightDecay", weightDecay, atLeast: 0)
        if nesterov && momentum == 0 {
            throw SynapseError.invalidArgument("SGD: nesterov needs momentum > 0 (momentum is 0, so Nesterov would do nothing)")
        }
    }

    /// The optimizer's type and settings, saved with the model's training settings.
    public var settings: [String: ConfigValue] {
        ["type": .string("sgd"), "learningRate": .number(Double(learningRate)),
         "momentum": .number(Double(momentum)), "nesterov": .bool(nesterov),
         "weightDecay": .number(Double(weightDecay))]
    }

    /// One step. When `parameters` are a model's block (`model.parameters`), one call of
    /// `update(values:gradients:momentum:count:first:)` over the whole block.
    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        let first = stepCount == 1
        if let block = ParameterBlock.common(parameters) {
            let buffer = momentum > 0 ? state.blocks(for: block)[0].data : nil
            update(values: block.values.data, gradients: block.gradients.data, momentum: buffer,
                   count: block.count, first: first)
            return
        }
        for p in parameters {
            update(values: p.value.data, gradients: p.gradient.data,
                   momentum: momentum > 0 ? state.tensors(for: p)[0].data : nil, count: p.value.count, first: first)
        }
    }

    /// The update of `count` values from their gradients and momentum buffers (nil without
    /// momentum), in one loop.
    public func update(values w: UnsafeMutablePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                       momentum b: UnsafeMutablePointer<Float>?, count n: Int, first: Bool) {
        let (lr, mu, wd, nesterov) = (learningRate, momentum, weightDecay, self.nesterov)
        guard let b else {
            for i in 0..<n { w[i] -= lr * (g[i] + wd * w[i]) }
            return
        }
        for i in 0..<n {
            let gi = g[i] + wd * w[i]
            let bi = first ? gi : mu * b[i] + gi
            b[i] = bi
            w[i] -= lr * (nesterov ? gi + mu * bi : bi)
        }
    }
}
