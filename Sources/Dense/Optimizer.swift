import Foundation

/// Updates parameters from their gradients. State (moments, step count) lives here, per
/// parameter; layers never know which optimizer runs.
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

/// Per-parameter state tensors, created on first use and found by object identity.
public final class OptimizerSlots {
    public let names: [String]
    private var table: [ObjectIdentifier: [Tensor]] = [:]

    public init(names: [String]) { self.names = names }

    public func tensors(for parameter: Parameter) -> [Tensor] {
        if let found = table[ObjectIdentifier(parameter)] { return found }
        let created = names.map { _ in Tensor(shape: parameter.shape) }
        table[ObjectIdentifier(parameter)] = created
        return created
    }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm`, as PyTorch's
/// `clip_grad_norm_`. Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var sumSquares: Double = 0
    for p in parameters {
        let g = p.gradient.data
        for i in 0..<p.gradient.count { sumSquares += Double(g[i] * g[i]) }
    }
    let norm = Float(sumSquares.squareRoot())
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        for p in parameters { p.gradient.scale(by: coefficient) }
    }
    return norm
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

    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        let (lr, mu, wd, first) = (learningRate, momentum, weightDecay, stepCount == 1)
        for p in parameters {
            let (w, g, n) = (p.value.data, p.gradient.data, p.value.count)
            if mu == 0 {
                for i in 0..<n { w[i] -= lr * (g[i] + wd * w[i]) }
                continue
            }
            let b = state.tensors(for: p)[0].data
            for i in 0..<n {
                let gi = g[i] + wd * w[i]
                let bi = first ? gi : mu * b[i] + gi
                b[i] = bi
                w[i] -= lr * (nesterov ? gi + mu * bi : bi)
            }
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

    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        let (lr, a, eps, wd) = (learningRate, alpha, epsilon, weightDecay)
        for p in parameters {
            let (w, g, n) = (p.value.data, p.gradient.data, p.value.count)
            let v = state.tensors(for: p)[0].data
            for i in 0..<n {
                let gi = g[i] + wd * w[i]
                v[i] = a * v[i] + (1 - a) * gi * gi
                w[i] -= lr * gi / (v[i].squareRoot() + eps)
            }
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

    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        let t = Double(stepCount)
        let correction1 = Float(1 - pow(Double(beta1), t))
        let inverseCorrection2Root = Float(1 / (1 - pow(Double(beta2), t)).squareRoot())
        let stepSize = learningRate / correction1
        let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
        for p in parameters {
            let (w, g, n) = (p.value.data, p.gradient.data, p.value.count)
            let slots = state.tensors(for: p)
            let (m, v) = (slots[0].data, slots[1].data)
            // Sixteen lanes at a time (the buffers may alias as far as the compiler knows, so it
            // would not vectorise the loop by itself), then the rest one by one.
            typealias Lanes = SIMD16<Float>
            var i = 0
            while i + Lanes.scalarCount <= n {
                let gi = Lanes(load: g + i) + wd * Lanes(load: w + i)
                let mi = b1 * Lanes(load: m + i) + (1 - b1) * gi
                let vi = b2 * Lanes(load: v + i) + (1 - b2) * gi * gi
                mi.store(to: m + i)
                vi.store(to: v + i)
                (Lanes(load: w + i) - stepSize * mi / (vi.squareRoot() * inverseCorrection2Root + eps)).store(to: w + i)
                i += Lanes.scalarCount
            }
            while i < n {
                let gi = g[i] + wd * w[i]
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                w[i] -= stepSize * m[i] / (v[i].squareRoot() * inverseCorrection2Root + eps)
                i += 1
            }
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
