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
    /// A (semi-)orthogonal matrix: Gram-Schmidt on rows of N(0, 1) draws (Saxe et al., 2014),
    /// for recurrent weights. The tensor is read as rows x columns (first dimension x the rest).
    case orthogonal
    /// Ones on the diagonal, zeros elsewhere (Le et al., 2015: ReLU recurrent networks started as
    /// identity maps carry their state unchanged until trained otherwise).
    case identity
    /// U(-a, a) for a given a (Keras's `RandomUniform`; its embeddings use a = 0.05).
    case uniform(Float)
    /// N(0, s^2) for a given s (PyTorch's embeddings use s = 1).
    case normal(Float)
    /// All zeros (biases).
    case zeros
    /// Every element the given value.
    case constant(Float)

    /// Fills `tensor` in place, drawing from `random` (the same seed gives the same values).
    /// - Parameters:
    ///   - tensor: The weight to fill; `orthogonal` and `identity` read it as rows x columns.
    ///   - fanIn: The inputs each weight connects (for a convolution, input channels x kernel area).
    ///   - fanOut: The outputs each weight connects (for a convolution, output channels x kernel area).
    ///   - random: The generator to draw from; the constant fills draw nothing.
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
        case .orthogonal:
            fillOrthogonal(tensor, random: random)
        case .identity:
            tensor.fill(0)
            let rows = tensor.shape.first ?? 1
            let columns = tensor.count / max(rows, 1)
            for i in 0..<min(rows, columns) { tensor.data[i * columns + i] = 1 }
        case .uniform(let limit):
            for i in values.indices { values[i] = random.uniform(-limit, limit) }
        case .normal(let s):
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
        case .orthogonal: return "orthogonal"
        case .identity: return "identity"
        case .zeros: return "zeros"
        case .uniform(let a): return "uniform:\(a)"
        case .normal(let s): return "normal:\(s)"
        case .constant(let v): return "constant:\(v)"
        }
    }

    /// The initializer saved under `configName` (`glorot_uniform`, `uniform:0.05`, ...), or nil for
    /// a name it does not know.
    public init?(configName: String) {
        switch configName {
        case "glorot_uniform": self = .glorotUniform
        case "glorot_normal": self = .glorotNormal
        case "he_uniform": self = .heUniform
        case "he_normal": self = .heNormal
        case "orthogonal": self = .orthogonal
        case "identity": self = .identity
        case "zeros": self = .zeros
        default:
            let parts = configName.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let v = Float(parts[1]) else { return nil }
            switch parts[0] {
            case "constant": self = .constant(v)
            case "uniform": self = .uniform(v)
            case "normal": self = .normal(v)
            default: return nil
            }
        }
    }
}

/// Orthonormal rows (or columns, when there are more rows than columns), in Double for accuracy.
private func fillOrthogonal(_ tensor: Tensor, random: RandomGenerator) {
    let rows = tensor.shape.first ?? 1
    let columns = tensor.count / max(rows, 1)
    // Orthonormalise the shorter side: vectors of length `length`, `vectors` of them.
    let (vectors, length) = rows <= columns ? (rows, columns) : (columns, rows)
    var q = [Double](repeating: 0, count: vectors * length)
    for v in 0..<vectors {
        while true {
            for i in 0..<length { q[v * length + i] = Double(random.normal()) }
            for _ in 0..<2 {  // twice is enough (Giraud et al.)
                for u in 0..<v {
                    var dot = 0.0
                    for i in 0..<length { dot += q[v * length + i] * q[u * length + i] }
                    for i in 0..<length { q[v * length + i] -= dot * q[u * length + i] }
                }
            }
            var norm = 0.0
            for i in 0..<length { norm += q[v * length + i] * q[v * length + i] }
            norm = norm.squareRoot()
            if norm > 1e-6 {
                for i in 0..<length { q[v * length + i] /= norm }
                break
            }
        }
    }
    let out = tensor.data
    for r in 0..<rows {
        for c in 0..<columns {
            out[r * columns + c] = Float(rows <= columns ? q[r * length + c] : q[c * length + r])
        }
    }
}

extension Initializer: Codable {
    /// Saved as its `configName` (`"he_uniform"`, `"uniform:0.05"`).
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let initializer = Initializer(configName: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown initializer '\(name)'")
        }
        self = initializer
    }

    /// Writes `configName` (`glorot_uniform`, `uniform:0.05`, ...).
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(configName)
    }
}
