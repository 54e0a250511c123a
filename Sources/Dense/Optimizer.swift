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
}

/// An optimizer's state tensors (`momentum_buffer`, `exp_avg`, ...), created as zeros on first use.
///
/// For the parameters of a model's `ParameterBlock` the state lives in blocks parallel to it,
/// one per slot name, so a step is one pass over every block at once; `tensors(for:)` returns
/// views into them. A parameter outside any block gets tensors of its own, found by identity.
public final class OptimizerSlots {
    public let names: [String]
    private var table: [ObjectIdentifier: [Tensor]] = [:]
    private var blockStates: [ObjectIdentifier: (block: ParameterBlock, state: [Tensor])] = [:]

    public init(names: [String]) { self.names = names }

    /// One state block per slot name, each as long as `block` and in its order.
    public func blocks(for block: ParameterBlock) -> [Tensor] {
        if let found = blockStates[ObjectIdentifier(block)] { return found.state }
        let created = names.map { _ in Tensor(shape: [block.count]) }
        blockStates[ObjectIdentifier(block)] = (block, created)
        return created
    }

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

/// Scales all gradients so that their global L2 norm is at most `maxNorm`, as PyTorch's
/// `clip_grad_norm_`. Returns the norm before clipping. One pass over the gradient block (and
/// one scaling pass) when `parameters` are a model's block.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var sumSquares: Double = 0
    let block = ParameterBlock.common(parameters)
    if let block {
        sumSquares = sumOfSquares(block.gradients.data, count: block.count)
    } else {
        for p in parameters { sumSquares = sumOfSquares(p.gradient.data, count: p.gradient.count, from: sumSquares) }
    }
    let norm = Float(sumSquares.squareRoot())
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        if let block {
            block.gradients.scale(by: coefficient)
        } else {
            for p in parameters { p.gradient.scale(by: coefficient) }
        }
    }
    return norm
}

/// The sum of x_i^2 (squared in Float, summed in Double, in order), continuing from `start`.
private func sumOfSquares(_ x: UnsafeMutablePointer<Float>, count: Int, from start: Double = 0) -> Double {
    var sum = start
    for i in 0..<count { sum += Double(x[i] * x[i]) }
    return sum
}

/// Stochastic gradient descent with optional momentum (heavy ball or Nesterov).
///
///     g <- g + wd * w
///     b <- momentum * b + g                 (b = g on the first step)
///     g <- nesterov ? g + momentum * b : b
///     w <- w - lr * g
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    public var stepCount = 0
    private let state = OptimizerSlots(names: ["momentum_buffer"])

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        precondition(!nesterov || momentum > 0, "Nesterov momentum needs momentum > 0")
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public var slotNames: [String] { momentum > 0 ? state.names : [] }
    public func slots(for parameter: Parameter) -> [Tensor] { momentum > 0 ? state.tensors(for: parameter) : [] }

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

/// Adam (Kingma and Ba, 2015) as PyTorch's, with L2 weight decay added to the gradient:
///
///     m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
///     w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public var stepCount = 0
    private let state = OptimizerSlots(names: ["exp_avg", "exp_avg_sq"])

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public var slotNames: [String] { state.names }
    public func slots(for parameter: Parameter) -> [Tensor] { state.tensors(for: parameter) }

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
        BLAS.concurrentPerform(n < 1 << 18 ? 1 : min(BLAS.threads, chunks)) { k, workers in
            let i0 = min(n, chunks * k / workers * 1024), i1 = min(n, chunks * (k + 1) / workers * 1024)
            synapse_kernels().pointee.adam(w + i0, g + i0, m + i0, v + i0, i1 - i0, b1, b2, eps, wd, stepSize,
                                           inverseCorrection2Root)
        }
    }
}

extension SIMD16 where Scalar == Float {
    /// Sixteen floats from `pointer` (no alignment needed).
    @inline(__always) init(load pointer: UnsafePointer<Float>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always) func store(to pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD16<Float>.self)
    }
}
