import Dense

/// The settings every recurrent layer's config holds (`SimpleRNN.Config`, `LSTM.Config`,
/// `GRU.Config`), checked, shaped and coded once for all of them.
///
/// A conforming config declares its settings as stored properties, once, and adds its own
/// (the Elman cell's `nonlinearity`, the LSTM's `forgetBias`). The shared ones are saved as
/// `inputFeatures`, `hiddenSize`, `mode` (`many_to_one`, `many_to_many` or `one_to_many` with
/// `steps` and `feedback`), `truncation` (0 for full back-propagation through time) and
/// `recurrentInitializer` (the default, orthogonal, when a file written before it was saved
/// lacks it). The weights are G gate blocks stacked PyTorch's way: `weight_ih` (G H, F) and
/// `weight_hh` (G H, H).
public protocol RecurrentLayerConfig: LayerConfig {
    /// G, the gates stacked in `weight_ih` and `weight_hh`: 1 for the Elman cell, 3 for the GRU,
    /// 4 for the LSTM.
    static var gates: Int { get }
    /// F, the width of an input step, in 1...2^24.
    var inputFeatures: Int { get }
    /// H, the number of units (the width of the state and of the output), in 1...2^24.
    var hiddenSize: Int { get }
    /// How sequences map: many-to-one, many-to-many or one-to-many.
    var mode: RecurrentMode { get }
    /// Truncated back-propagation through time: the gradient does not flow back across the
    /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
    var truncation: Int? { get set }
    /// Fills `weight_hh` (each gate's block of it).
    var recurrentInitializer: Initializer { get }
}

extension RecurrentLayerConfig {
    /// Throws `SynapseError.invalidArgument` unless the sizes, the steps of a one-to-many mode and
    /// the truncation are in 1...2^24, a previous-output feedback has F == H, and the weights fit
    /// in memory.
    public func validate() throws { try validateSettings() }

    /// The checks of `validate()`, for a config that adds its own after them.
    func validateSettings() throws {
        try RecurrentMode.validate(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode,
                                   truncation: truncation, gates: Self.gates, layer: Self.typeName)
    }

    /// A gated layer's parameters, PyTorch's: `weight_ih` (G H, F), `weight_hh` (G H, H),
    /// `bias_ih` and `bias_hh` (G H).
    public var parameterShapes: [(name: String, shape: [Int])] {
        let rows = Self.gates * hiddenSize
        return [("weight_ih", [rows, inputFeatures]), ("weight_hh", [rows, hiddenSize]), ("bias_ih", [rows]),
                ("bias_hh", [rows])]
    }

    /// (H) many-to-one, (T, H) many-to-many for an input sample (T, F); (steps, H) one-to-many
    /// for an input sample (F).
    /// - Throws: `SynapseError.shape` for an input sample of another shape.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try mode.outputShape(for: inputShape, inputFeatures: inputFeatures, hiddenSize: hiddenSize)
    }

    /// The shared settings as they are coded.
    var settings: RecurrentSettings {
        RecurrentSettings(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, truncation: truncation,
                          recurrentInitializer: recurrentInitializer)
    }
}

/// The settings every recurrent layer's config shares, as its file holds them: a config's
/// `init(from:)` reads them through this and its `encode(to:)` writes them through this, beside
/// the config's own keys.
struct RecurrentSettings {
    var inputFeatures: Int
    var hiddenSize: Int
    var mode: RecurrentMode
    var truncation: Int?
    var recurrentInitializer: Initializer

    enum CodingKeys: String, CodingKey {
        case inputFeatures, hiddenSize, truncation, recurrentInitializer
    }
}

// In an extension, so that the struct keeps its memberwise initializer.
extension RecurrentSettings {
    /// Reads the shared keys; `layer` names the layer type in the error for an unknown mode.
    init(from decoder: Decoder, layer: String) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputFeatures = try c.decode(Int.self, forKey: .inputFeatures)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        mode = try RecurrentMode(from: decoder, layer: layer)
        // Saved as 0 for full back-propagation through time.
        let truncation = try c.decodeIfPresent(Int.self, forKey: .truncation)
        self.truncation = truncation == 0 ? nil : truncation
        // Files written before this setting was saved: the default.
        recurrentInitializer = try c.decodeIfPresent(Initializer.self, forKey: .recurrentInitializer) ?? .orthogonal
    }

    /// Writes the shared keys, the mode as `"mode"` (with `"steps"` and `"feedback"` for
    /// one-to-many) and no truncation as 0.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inputFeatures, forKey: .inputFeatures)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try mode.encode(to: encoder)
        try c.encode(truncation ?? 0, forKey: .truncation)
        try c.encode(recurrentInitializer, forKey: .recurrentInitializer)
    }
}
