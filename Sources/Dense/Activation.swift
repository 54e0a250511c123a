import CKernels
import Foundation

// Activation functions as plain functions over flat buffers (forward: y = f(x); backward:
// dx = dy * f'(x), written in terms of y, which is what the layer keeps), and one small layer
// that applies them.

/// y = max(x, 0), on the CKernels `relu_forward` kernel (vectorised for the CPU).
@inline(__always) func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    synapse_kernels().pointee.relu_forward(x, y, n)
}

@inline(__always) func leakyReLUForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, alpha: Float) {
    for i in 0..<n { let v = x[i]; y[i] = v > 0 ? v : alpha * v }
}

@inline(__always) func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] = 1 / (1 + expf(-x[i])) }
}

/// y = tanh(x) over `n` values; `x` and `y` are the same buffer or do not overlap. The CKernels `tanh_forward`
/// kernel: `rationalTanh`'s arithmetic op for op, vectorised for the CPU (the same bits).
public func tanhForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    synapse_kernels().pointee.tanh_forward(x, y, n)
}

/// dx = dy * (1 - y^2), tanh's gradient from its output y, over `n` values (CKernels
/// `tanh_backward`, the same bits as that loop in Swift).
public func tanhBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         _ n: Int) {
    synapse_kernels().pointee.tanh_backward(y, dy, dx, n)
}

/// tanh(x) as the ratio of an odd degree-13 and an even degree-6 polynomial on [-9, 9] (outside,
/// tanh is +-1 in Float): the minimax-style interpolant Eigen uses, within a few ulp of the true
/// value. Branch-free, so loops over it vectorise; libm's `tanhf` is several times slower.
@inlinable @inline(__always) public func rationalTanh(_ value: Float) -> Float {
    let x = min(max(value, -9), 9)
    let x2 = x * x
    var p: Float = x2 * -2.76076847742355e-16 + 2.00018790482477e-13
    p = x2 * p + -8.60467152213735e-11
    p = x2 * p + 5.12229709037114e-08
    p = x2 * p + 1.48572235717979e-05
    p = x2 * p + 6.37261928875436e-04
    p = x2 * p + 4.89352455891786e-03
    p = x * p
    var q: Float = x2 * 1.19825839466702e-06 + 1.18534705686654e-04
    q = x2 * q + 2.26843463243900e-03
    q = x2 * q + 4.89352518554385e-03
    return p / q
}

/// Softmax of one row of `width` values, stable (the maximum is subtracted first).
/// Returns log(sum(exp(x))), which cross-entropy needs.
@inline(__always) @discardableResult
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, width: Int) -> Float {
    var m = -Float.infinity
    for j in 0..<width { m = max(m, x[j]) }
    var sum: Float = 0
    for j in 0..<width { let e = expf(x[j] - m); y[j] = e; sum += e }
    let inv = 1 / sum
    for j in 0..<width { y[j] *= inv }
    return logf(sum) + m
}

/// Softmax over each row of `rows x width`.
func softmaxForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows { softmaxRow(x + r &* width, y + r &* width, width: width) }
}

/// An elementwise activation (or softmax over the last axis) as a layer.
///
/// `Activation(.relu)`, `Activation(.leakyReLU(alpha: 0.01))`, `Activation(.sigmoid)`,
/// `Activation(.tanh)`, `Activation(.softmax)`. For classification, prefer feeding logits to
/// `SoftmaxCrossEntropy` (fused and stable) over a softmax layer followed by a log.
public final class Activation: Layer {
    /// The function an `Activation` applies; saved as `"function"` (`relu`, `leaky_relu` with
    /// `"alpha"`, `sigmoid`, `tanh`, `softmax`).
    public enum Function: Equatable, Sendable {
        /// f(x) = max(0, x).
        case relu
        /// f(x) = x for x > 0, alpha x otherwise; alpha >= 0.
        case leakyReLU(alpha: Float)
        /// f(x) = 1 / (1 + e^-x), in (0, 1).
        case sigmoid
        /// f(x) = tanh(x), in (-1, 1).
        case tanh
        /// Over the last axis.
        case softmax

        /// The name `summary()` shows: `ReLU`, `LeakyReLU`, `Sigmoid`, `Tanh` or `Softmax`.
        public var displayName: String {
            switch self {
            case .relu: return "ReLU"
            case .leakyReLU: return "LeakyReLU"
            case .sigmoid: return "Sigmoid"
            case .tanh: return "Tanh"
            case .softmax: return "Softmax"
            }
        }
    }

    /// The settings of an `Activation` layer: its function.
    public struct Config: LayerConfig {
        /// `Activation`, the type name in architecture files.
        public static let typeName = "Activation"
        /// The function applied elementwise (softmax: over the last axis).
        public var function: Function

        /// A config for `function`; `validate()` checks a leaky ReLU's alpha.
        public init(_ function: Function) { self.function = function }

        enum CodingKeys: String, CodingKey { case function, alpha }

        /// Reads `"function"` (`relu`, `leaky_relu`, `sigmoid`, `tanh` or `softmax`) and, for
        /// `leaky_relu`, `"alpha"`; an unknown name is a `DecodingError` listing the known ones.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            switch try c.decode(String.self, forKey: .function) {
            case "relu": function = .relu
            case "leaky_relu": function = .leakyReLU(alpha: try c.decode(Float.self, forKey: .alpha))
            case "sigmoid": function = .sigmoid
            case "tanh": function = .tanh
            case "softmax": function = .softmax
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .function, in: c, debugDescription:
                    "unknown activation '\(other)' (relu, leaky_relu, sigmoid, tanh or softmax)")
            }
        }

        /// Writes `"function"` and, for a leaky ReLU, `"alpha"`.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch function {
            case .relu: try c.encode("relu", forKey: .function)
            case .leakyReLU(let alpha):
                try c.encode("leaky_relu", forKey: .function)
                try c.encode(alpha, forKey: .alpha)
            case .sigmoid: try c.encode("sigmoid", forKey: .function)
            case .tanh: try c.encode("tanh", forKey: .function)
            case .softmax: try c.encode("softmax", forKey: .function)
            }
        }

        /// Throws `SynapseError.invalidArgument` for a leaky ReLU whose alpha is negative or not finite.
        public func validate() throws {
            if case .leakyReLU(let alpha) = function {
                guard alpha >= 0, alpha.isFinite else {
                    throw SynapseError.invalidArgument("LeakyReLU needs a finite alpha >= 0, got \(alpha)")
                }
            }
        }

        /// The input shape: an activation keeps it.
        public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
        /// An `Activation` of this function (it draws nothing from `random`).
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { try Activation(function) }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model (it has no parameters).
    public var name: String
    /// The function applied elementwise (softmax: over the last axis).
    public var function: Function { config.function }
    private var output: Tensor?
    private var inputGradient: Tensor?
    /// Whether the next layer applies this ReLU (see `AbsorbsPrecedingReLU`): values and
    /// gradients then pass through this layer untouched.
    var isAbsorbed = false

    /// An activation layer applying `function`; its output has the input's shape.
    /// - Throws: `SynapseError.invalidArgument` for a leaky ReLU whose alpha is negative or not finite.
    public init(_ function: Function, name: String = "") throws {
        config = Config(function)
        try config.validate()
        self.name = name
    }

    /// The function's name (`ReLU`, `Softmax`, ...), as `summary()` shows it.
    public var displayTypeName: String { function.displayName }

    /// Applies the function to `input` (any shape; softmax over its last axis) into the layer's own
    /// output buffer, which `backward` reads.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if isAbsorbed { return input }
        let out = Tensor.reusing(output, shape: input.shape)
        output = out
        let (x, y, n) = (UnsafePointer(input.data), out.data, input.count)
        switch function {
        case .relu: reluForward(x, y, n)
        case .leakyReLU(let alpha): leakyReLUForward(x, y, n, alpha: alpha)
        case .sigmoid: sigmoidForward(x, y, n)
        case .tanh: tanhForward(x, y, n)
        case .softmax:
            let width = input.shape.last ?? 1
            softmaxForward(x, y, rows: n / width, width: width)
        }
        return out
    }

    /// dLoss/dInput from dLoss/dOutput through the last forward's outputs (softmax: the full Jacobian
    /// of each row).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        if isAbsorbed { return outputGradient }
        guard let output else { preconditionFailure("Activation '\(name)': backward before forward") }
        let dx = Tensor.reusing(inputGradient, shape: output.shape)
        inputGradient = dx
        let (y, dy, d, n) = (output.data, outputGradient.data, dx.data, output.count)
        switch function {
        // The gradient is loaded unconditionally so the compiler can turn the choice into a
        // vector select.
        case .relu:
            synapse_kernels().pointee.relu_backward(y, dy, d, n)
        case .leakyReLU(let alpha):
            for i in 0..<n { let g = dy[i]; d[i] = y[i] > 0 ? g : alpha * g }
        case .sigmoid:
            for i in 0..<n { d[i] = dy[i] * y[i] * (1 - y[i]) }
        case .tanh:
            tanhBackward(y, dy, d, n)
        case .softmax:
            // dx = y * (dy - sum(dy * y)) per row.
            let width = output.shape.last ?? 1
            for r in 0..<(n / width) {
                let o = r &* width
                var dot: Float = 0
                for j in 0..<width { dot += dy[o + j] * y[o + j] }
                for j in 0..<width { d[o + j] = y[o + j] * (dy[o + j] - dot) }
            }
        }
        return dx
    }
}

/// A layer that can take over a ReLU placed right before it: it computes relu(layer(x)), which
/// equals layer(relu(x)) value for value and gradient for gradient, on its own (smaller) output
/// and saves the ReLU's pass over the larger input and its gradient. Max pooling is one: the
/// maximum of ReLUs is the ReLU of the maximum. `Sequential` hands the ReLU over when it builds
/// the model (`Activation(.relu)` directly before such a layer); the model's layers, names, files
/// and results stay as they are.
public protocol AbsorbsPrecedingReLU: Layer {
    /// Whether this layer applies the ReLU of the layer before it; set by `Sequential`.
    var appliesPrecedingReLU: Bool { get set }
}

extension Sequential {
    /// Marks each `Activation(.relu)` followed by an `AbsorbsPrecedingReLU` layer as absorbed
    /// by it, and every other Activation and absorber as not.
    static func absorbReLUs(in layers: [any Layer]) {
        func isReLU(_ layer: any Layer) -> Bool {
            guard let activation = layer as? Activation, case .relu = activation.function else { return false }
            return true
        }
        for (i, layer) in layers.enumerated() {
            if let absorber = layer as? any AbsorbsPrecedingReLU {
                absorber.appliesPrecedingReLU = i > 0 && isReLU(layers[i - 1])
            }
            if let activation = layer as? Activation {
                activation.isAbsorbed = isReLU(activation) && i + 1 < layers.count
                    && layers[i + 1] is any AbsorbsPrecedingReLU
            }
        }
    }
}
