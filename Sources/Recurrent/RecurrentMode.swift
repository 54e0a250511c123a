import Dense

/// How a recurrent layer maps sequences (batch first, N samples, T steps, F features, H state).
public enum RecurrentMode: Equatable, Sendable {
    /// (N, T, F) -> (N, H), each sequence's state after its last real step.
    case manyToOne
    /// (N, T, F) -> (N, T, H), every step's state (zeros on padded steps).
    case manyToMany
    /// (N, F) -> (N, steps, H), the input fed as `feedback` says.
    case oneToMany(steps: Int, feedback: RecurrentFeedback)
}

/// What a one-to-many layer feeds at the steps after the first.
public enum RecurrentFeedback: String, Codable, Sendable {
    /// The same input vector at every step.
    case fixedInput = "fixed_input"
    /// The previous state (so F must equal H).
    case previousOutput = "previous_output"
}

/// The coding keys every recurrent layer's config shares: the mode is saved as `mode`
/// (`many_to_one`, `many_to_many`, `one_to_many`) with `steps` and `feedback` for one-to-many.
enum RecurrentModeKeys: String, CodingKey {
    case mode, steps, feedback
}

extension RecurrentMode {
    /// Reads the mode a recurrent layer's config saved (`encode(to:)`); `layer` names the
    /// layer type in the error for an unknown mode.
    init(from decoder: Decoder, layer: String) throws {
        let c = try decoder.container(keyedBy: RecurrentModeKeys.self)
        switch try c.decode(String.self, forKey: .mode) {
        case "many_to_one": self = .manyToOne
        case "many_to_many": self = .manyToMany
        case "one_to_many":
            self = .oneToMany(steps: try c.decode(Int.self, forKey: .steps),
                              feedback: try c.decode(RecurrentFeedback.self, forKey: .feedback))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .mode, in: c, debugDescription:
                "unknown \(layer) mode '\(other)' (many_to_one, many_to_many or one_to_many)")
        }
    }

    /// Writes `mode` (and `steps`, `feedback` for one-to-many) beside the config's other keys.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: RecurrentModeKeys.self)
        switch self {
        case .manyToOne: try c.encode("many_to_one", forKey: .mode)
        case .manyToMany: try c.encode("many_to_many", forKey: .mode)
        case .oneToMany(let steps, let feedback):
            try c.encode("one_to_many", forKey: .mode)
            try c.encode(steps, forKey: .steps)
            try c.encode(feedback, forKey: .feedback)
        }
    }

    /// Checks the sizes a recurrent layer's config holds: F, H, the one-to-many step count
    /// (feeding back the output needs F == H), the truncation and the weight shapes (`weight_ih`
    /// (G H, F) and `weight_hh` (G H, H) for G gates).
    static func validate(inputFeatures: Int, hiddenSize: Int, mode: RecurrentMode, truncation: Int?, gates: Int,
                         layer: String) throws {
        let range = 1...LayerLimits.maxDimension
        try LayerLimits.check(inputFeatures, in: range, "inputFeatures", layer: layer)
        try LayerLimits.check(hiddenSize, in: range, "hiddenSize", layer: layer)
        if case .oneToMany(let steps, let feedback) = mode {
            try LayerLimits.check(steps, in: range, "steps", layer: layer)
            guard feedback == .fixedInput || inputFeatures == hiddenSize else {
                throw SynapseError.invalidArgument("\(layer): feeding back the previous output needs inputFeatures == hiddenSize")
            }
        }
        if let truncation { try LayerLimits.check(truncation, in: range, "truncation", layer: layer) }
        let (rows, overflow) = hiddenSize.multipliedReportingOverflow(by: gates)
        guard !overflow else { throw SynapseError.invalidArgument("\(layer) 'hiddenSize' \(hiddenSize) is too large") }
        _ = try LayerLimits.elementCount([rows, inputFeatures], of: "\(layer) weight_ih")
        _ = try LayerLimits.elementCount([rows, hiddenSize], of: "\(layer) weight_hh")
    }

    /// The output shape of one sample, or a `SynapseError.shape` saying what the layer expected.
    func outputShape(for inputShape: [Int], inputFeatures: Int, hiddenSize: Int) throws -> [Int] {
        switch self {
        case .manyToOne, .manyToMany:
            guard inputShape.count == 2, inputShape[1] == inputFeatures, inputShape[0] > 0 else {
                throw SynapseError.shape("expects (time, \(inputFeatures)) per sample, got \(inputShape)")
            }
            return self == .manyToOne ? [hiddenSize] : [inputShape[0], hiddenSize]
        case .oneToMany(let steps, _):
            guard inputShape == [inputFeatures] else {
                throw SynapseError.shape("(one-to-many) expects (\(inputFeatures)) per sample, got \(inputShape)")
            }
            return [steps, hiddenSize]
        }
    }
}
