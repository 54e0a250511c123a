import Dense
import Foundation

/// A long short-term memory layer (`LSTMCell`, PyTorch's `nn.LSTM` equations), unrolled over time.
///
/// Shapes and modes are `SimpleRNN`'s (batch first): `.manyToOne` (N, T, F) -> (N, H),
/// `.manyToMany` (N, T, F) -> (N, T, H), `.oneToMany(steps:feedback:)` (N, F) -> (N, steps, H);
/// the output is h, the cell state c stays inside. Padding masks, truncation and the loop are
/// `RecurrentSequence`'s: a padded step keeps the previous h and c and takes no gradient.
///
/// Parameters carry PyTorch's names and layout: `weight_ih` (4H, F), `weight_hh` (4H, H),
/// `bias_ih` (4H), `bias_hh` (4H), gates in the order i, f, g, o, so a saved layer `rnn` loads
/// into PyTorch as `rnn = nn.LSTMCell(F, H)` (strict) and, renamed `*_l0`, into `nn.LSTM`.
///
/// Initial state: `initialState` (h_0) and `initialCellState` (c_0), each (N, H) and zeros when
/// nil; their gradients after backward. Initialisation: `weight_ih` Glorot uniform, each gate's
/// block of `weight_hh` orthogonal (`recurrentInitializer`), biases zero but the forget gate's
/// `forgetBias` (1) in `bias_ih`.
public final class LSTM: RecurrentLayer {
    /// The settings of an `LSTM` layer.
    public struct Config: RecurrentLayerConfig {
        /// `LSTM`, the type name in architecture files.
        public static let typeName = "LSTM"
        /// 4: the gates i, f, g, o.
        public static let gates = 4
        /// F, the width of an input step, in 1...2^24.
        public var inputFeatures: Int
        /// H, the number of units (the width of h, c and the output).
        public var hiddenSize: Int
        /// How sequences map (default `.manyToOne`).
        public var mode: RecurrentMode
        /// Truncated back-propagation through time: the gradient (of h and c) does not flow back
        /// across the boundaries between chunks of this many steps (from step 0). `nil`: full BPTT.
        public var truncation: Int?
        /// Fills each gate's block of `weight_hh`.
        public var recurrentInitializer: Initializer
        /// The initial forget-gate part of `bias_ih`.
        public var forgetBias: Float

        /// A config of `inputFeatures` inputs and `hiddenSize` units; the defaults are many-to-one, full
        /// back-propagation through time, orthogonal `weight_hh` blocks and a forget bias of 1.
        public init(inputFeatures: Int, hiddenSize: Int, mode: RecurrentMode = .manyToOne, truncation: Int? = nil,
                    recurrentInitializer: Initializer = .orthogonal, forgetBias: Float = 1) {
            (self.inputFeatures, self.hiddenSize, self.mode, self.truncation) = (inputFeatures, hiddenSize, mode, truncation)
            (self.recurrentInitializer, self.forgetBias) = (recurrentInitializer, forgetBias)
        }

        enum CodingKeys: String, CodingKey { case forgetBias }

        /// Reads the settings (`RecurrentLayerConfig`'s and `"forgetBias"`, 1 when a file lacks it).
        public init(from decoder: Decoder) throws {
            let s = try RecurrentSettings(from: decoder, layer: Self.typeName)
            let forgetBias = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Float.self, forKey: .forgetBias)
            self.init(inputFeatures: s.inputFeatures, hiddenSize: s.hiddenSize, mode: s.mode, truncation: s.truncation,
                      recurrentInitializer: s.recurrentInitializer, forgetBias: forgetBias ?? 1)
        }

        /// Writes the settings (`RecurrentLayerConfig`'s and `"forgetBias"`).
        public func encode(to encoder: Encoder) throws {
            try settings.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(forgetBias, forKey: .forgetBias)
        }

        /// `RecurrentLayerConfig`'s checks, and `forgetBias` finite.
        public func validate() throws {
            try validateSettings()
            try LayerLimits.check(forgetBias, "forgetBias", layer: Self.typeName)
        }

        /// An `LSTM` in `storage`, its weights drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try LSTM(self, random: random, storage: storage)
        }
    }

    /// The layer's config, cell (`LSTMCell`), loop over time and state.
    public let core: RecurrentLayerCore<Config, LSTMCell>

    /// c_0, (N, H); zeros when nil.
    public var initialCellState: Tensor? {
        get { core.initialMemory }
        set { core.initialMemory = newValue }
    }
    /// dLoss/d`initialCellState` after a backward pass with an initial state or cell state given.
    public var initialCellStateGradient: Tensor? { core.sequence.initialMemoryGradient }

    /// Builds the layer `config` describes; with `random`, the weights are drawn from their
    /// initializers, else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        let cell = LSTMCell(config.inputFeatures, config.hiddenSize, recurrentInitializer: config.recurrentInitializer,
                            forgetBias: config.forgetBias, random: random, storage: storage)
        core = RecurrentLayerCore(config, cell: cell, name: name)
    }

    /// An LSTM of F inputs and H units, its weights drawn from `random`.
    public convenience init(_ inputFeatures: Int, _ hiddenSize: Int, mode: RecurrentMode = .manyToOne, truncation: Int? = nil,
                            recurrentInitializer: Initializer = .orthogonal, forgetBias: Float = 1,
                            random: RandomGenerator, name: String = "") throws {
        try self.init(Config(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, truncation: truncation,
                             recurrentInitializer: recurrentInitializer, forgetBias: forgetBias),
                      random: random, name: name)
    }
}
