import CKernels
import Foundation

/// Adam (Kingma and Ba, 2015) as PyTorch's, with L2 weight decay added to the gradient:
///
///     m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
///     w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
public final class Adam: Optimizer {
    /// lr, the step size; a `LearningRateSchedule` on the trainer sets it each epoch.
    public var learningRate: Float
    /// b1, the first moment's decay.
    public let beta1: Float
    /// b2, the second moment's decay.
    public let beta2: Float
    /// eps, added to the denominator.
    public let epsilon: Float
    /// L2 penalty: wd * w is added to each gradient before the update (PyTorch's `weight_decay`).
    public let weightDecay: Float
    /// Steps taken so far (t); saved in checkpoints.
    public var stepCount = 0
    private let state = OptimizerSlots(names: ["exp_avg", "exp_avg_sq"])

    /// Adam with PyTorch's defaults (lr 0.001, betas 0.9 and 0.999, eps 1e-8, no weight decay).
    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// The names of the state tensors kept per parameter, as PyTorch's optimizer state names them.
    public var slotNames: [String] { state.names }
    /// The state tensors of `parameter`, in `slotNames` order (views into the optimizer's blocks).
    public func slots(for parameter: Parameter) -> [Tensor] { state.tensors(for: parameter) }

    /// Throws for a negative or non-finite rate, epsilon or weight decay, and for a beta outside
    /// 0 ..< 1 (PyTorch's ranges).
    public func validate() throws {
        try checkSetting("learningRate", learningRate, atLeast: 0)
        try checkSetting("beta1", beta1, atLeast: 0, below: 1)
        try checkSetting("beta2", beta2, atLeast: 0, below: 1)
        try checkSetting("epsilon", epsilon, atLeast: 0)
        try checkSetting("weightDecay", weightDecay, atLeast: 0)
    }

    /// The optimizer's type and settings, saved with the model's training settings.
    public var settings: [String: ConfigValue] {
        ["type": .string("adam"), "learningRate": .number(Double(learningRate)), "beta1": .number(Double(beta1)),
         "beta2": .number(Double(beta2)), "epsilon": .number(Double(epsilon)), "weightDecay": .number(Double(weightDecay))]
    }

    /// One step. When `parameters` are a model's block (`model.parameters`, as the trainer
    /// passes them), one call of `update(values:gradients:m:v:count:)` over the whole block:
    /// LeNet's 61,706 parameters in one loop.
    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        if let block = ParameterBlock.common(parameters) {
            let moments = state.blocks(for: block)
            update(values: block.values.data, gradients: block.gradients.data, m: moments[0].data, v: moments[1].data,
                   count: block.count)
            return
        }
        for p in parameters {
            let moments = state.tensors(for: p)
            update(values: p.value.data, gradients: p.gradient.data, m: moments[0].data, v: moments[1].data,
                   count: p.value.count)
        }
    }

    /// The update of `count` values from their gradients and moments at the current `stepCount`,
    /// in one loop over the block: the CKernels `adam` kernel (vectorised for the CPU, chosen at
    /// start), with the bias corrections folded into a step size and one factor:
    ///
    ///     w <- w - (lr / (1 - b1^t)) * m / (sqrt(v) * (1 / sqrt(1 - b2^t)) + eps)
    public func update(values w: UnsafeMutablePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                       m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count n: Int) {
        let t = Double(stepCount)
        let correction1 = Float(1 - pow(Double(beta1), t))
        let inverseCorrection2Root = Float(1 / (1 - pow(Double(beta2), t)).squareRoot())
        let stepSize = learningRate / correction1
        let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
        // Elementwise, so a share of the block per thread gives the same bits (a block as large
        // as an embedding table, 1.28M values, is bound by memory traffic on one core).
        let chunks = (n + 1023) / 1024
        BLAS.concurrentPerform(n < 1 << 18 ? 1 : min(BLAS.loopThreads, chunks), callsBLAS: false) { k, workers in
            let i0 = min(n, chunks * k / workers * 1024), i1 = min(n, chunks * (k + 1) / workers * 1024)
            synapse_kernels().pointee.adam(w + i0, g + i0, m + i0, v + i0, i1 - i0, b1, b2, eps, wd, stepSize,
                                           inverseCorrection2Root)
        }
    }
}
