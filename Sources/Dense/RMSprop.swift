/// RMSprop as PyTorch's (no momentum, not centred):
///
///     v <- alpha * v + (1 - alpha) * g^2
///     w <- w - lr * g / (sqrt(v) + eps)
public final class RMSprop: Optimizer {
    /// lr, the step size; a `LearningRateSchedule` on the trainer sets it each epoch.
    public var learningRate: Float
    /// The squared gradients' running-average decay.
    public let alpha: Float
    /// eps, added to the denominator.
    public let epsilon: Float
    /// L2 penalty: wd * w is added to each gradient before the update (PyTorch's `weight_decay`).
    public let weightDecay: Float
    /// Steps taken so far (t); saved in checkpoints.
    public var stepCount = 0
    private let state = OptimizerSlots(names: ["square_avg"])

    /// RMSprop with PyTorch's defaults (lr 0.01, alpha 0.99, eps 1e-8, no weight decay).
    public init(learningRate: Float = 0.01, alpha: Float = 0.99, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.alpha = alpha
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// The names of the state tensors kept per parameter, as PyTorch's optimizer state names them.
    public var slotNames: [String] { state.names }
    /// The state tensors of `parameter`, in `slotNames` order (views into the optimizer's blocks).
    public func slots(for parameter: Parameter) -> [Tensor] { state.tensors(for: parameter) }

    /// Throws for a negative or non-finite rate, epsilon or weight decay, and for an alpha
    /// outside 0 ..< 1.
    public func validate() throws {
        try checkSetting("learningRate", learningRate, atLeast: 0)
        try checkSetting("alpha", alpha, atLeast: 0, below: 1)
        try checkSetting("epsilon", epsilon, atLeast: 0)
        try checkSetting("weightDecay", weightDecay, atLeast: 0)
    }

    /// The optimizer's type and settings, saved with the model's training settings.
    public var settings: [String: ConfigValue] {
        ["type": .string("rmsprop"), "learningRate": .number(Double(learningRate)), "alpha": .number(Double(alpha)),
         "epsilon": .number(Double(epsilon)), "weightDecay": .number(Double(weightDecay))]
    }

    /// One step. When `parameters` are a model's block (`model.parameters`), one call of
    /// `update(values:gradients:squareAverage:count:)` over the whole block.
    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        if let block = ParameterBlock.common(parameters) {
            update(values: block.values.data, gradients: block.gradients.data,
                   squareAverage: state.blocks(for: block)[0].data, count: block.count)
            return
        }
        for p in parameters {
            update(values: p.value.data, gradients: p.gradient.data, squareAverage: state.tensors(for: p)[0].data,
                   count: p.value.count)
        }
    }

    /// The update of `count` values from their gradients and running square averages, in one loop.
    public func update(values w: UnsafeMutablePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                       squareAverage v: UnsafeMutablePointer<Float>, count n: Int) {
        let (lr, a, eps, wd) = (learningRate, alpha, epsilon, weightDecay)
        for i in 0..<n {
            let gi = g[i] + wd * w[i]
            v[i] = a * v[i] + (1 - a) * gi * gi
            w[i] -= lr * gi / (v[i].squareRoot() + eps)
        }
    }
}
