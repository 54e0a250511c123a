import Foundation

/// How a weight tensor is filled before training.
///
/// `fanIn` and `fanOut` are the number of inputs and outputs each weight connects (for a
/// convolution, channels x kernel area).
public enum Initializer: Equatable, Sendable {
    /// U(-a, a), a = sqrt(6 / (fanIn + fanOut)) (Glorot and Bengio, 2010). Keras's default.
    case glorotUniform
    /// N(0, s^2), s = sqrt(2 / (fanIn + fanOut)).
    case glorotNormal
    /// U(-a, a), a = sqrt(6 / fanIn) (He et al., 2015), for ReLU layers.
    case heUniform
    /// N(0, s^2), s = sqrt(2 / fanIn), for ReLU layers.
    case heNormal
    case zeros
    case constant(Float)

    public func fill(_ tensor: Tensor, fanIn: Int, fanOut: Int, random: RandomGenerator) {
        let values = tensor.buffer
        switch self {
        case .glorotUniform:
            let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
            for i in values.indices { values[i] = random.uniform(-limit, limit) }
        case .glorotNormal:
            let s = Float((2.0 / Double(fanIn + fanOut)).squareRoot())
            for i in values.indices { values[i] = random.normal(standardDeviation: s) }
        case .heUniform:
            let limit = Float((6.0 / Double(fanIn)).squareRoot())
            for i in values.indices { values[i] = random.uniform(-limit, limit) }
        case .heNormal:
            let s = Float((2.0 / Double(fanIn)).squareRoot())
            for i in values.indices { values[i] = random.normal(standardDeviation: s) }
        case .zeros:
            tensor.fill(0)
        case .constant(let value):
            tensor.fill(value)
        }
    }

    /// The name used in saved configurations.
    public var configName: String {
        switch self {
        case .glorotUniform: return "glorot_uniform"
        case .glorotNormal: return "glorot_normal"
        case .heUniform: return "he_uniform"
        case .heNormal: return "he_normal"
        case .zeros: return "zeros"
        case .constant(let v): return "constant:\(v)"
        }
    }

    public init?(configName: String) {
        switch configName {
        case "glorot_uniform": self = .glorotUniform
        case "glorot_normal": self = .glorotNormal
        case "he_uniform": self = .heUniform
        case "he_normal": self = .heNormal
        case "zeros": self = .zeros
        default:
            guard configName.hasPrefix("constant:"), let v = Float(configName.dropFirst(9)) else { return nil }
            self = .constant(v)
        }
    }
}
