/// RMSprop as PyTorch's (no momentum, not centred):
///
///     v <- alpha * v + (1 - alpha) * g^2
///     w <- w - lr * g / (sqrt(v) + eps)
public final class RMSprop: Optimizer {
    public var learningRate: Float
    public let alpha: Float
    public let epsilon: Float
    public let weightDecay: Float
    public var stepCount = 0
    private let state = OptimizerSlots(names: ["square_avg"])

    public init(learningRate: Float = 0.01, alpha: Float = 0.99, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.alpha = alpha
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public var slotNames: [String] { state.names }
    public func slots(for parameter: Parameter) -> [Tensor] { state.tensors(for: parameter) }

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
