import Dense
import Foundation

/// A gated recurrent unit layer (`GRUCell`, PyTorch's `nn.GRU` equations), unrolled over time.
///
/// Shapes and modes are `SimpleRNN`'s (batch first): `.manyToOne` (N, T, F) -> (N, H),
/// `.manyToMany` (N, T, F) -> (N, T, H), `.oneToMany(steps:feedback:)` (N, F) -> (N, steps, H).
/// Padding masks, truncation and the loop are `RecurrentSequence`'s: a padded step keeps the
/// previous state and takes no gradient.
///
/// Parameters carry PyTorch's names and layout: `weight_ih` (3H, F), `weight_hh` (3H, H),
/// `bias_ih` (3H), `bias_hh` (3H), gates in the order r, z, n (b_hn inside r (...)), so a saved
/// layer `rnn` loads into PyTorch as `rnn = nn.GRUCell(F, H)` (strict) and, renamed `*_l0`,
/// into `nn.GRU`.
///
/// Initial state: `initialState` (N, H), zeros when nil; its gradient after backward.
/// Initialisation: `weight_ih` Glorot uniform, each gate's block of `weight_hh` orthogonal
/// (`recurrentInitializer`), biases zero.
public final class GRU: RecurrentLayer {
    /// The settings of a `GRU` layer.
    public struct Config: RecurrentLayerConfig {
        /// `GRU`, the type name in architecture files.
        public static let typeName = "GRU"
        /// 3: the gates r, z, n.
        public static let gates = 3
        /// F, the width of an input step, in 1...2^24.
        public var inputFeatures: Int
        /// H, the number of units (the width of the state and of the output).
        public var hiddenSize: Int
        /// How sequences map (default `.manyToOne`).
        public var mode: RecurrentMode
        /// Truncated back-propagation through time: the gradient does not flow back across the
        /// boundaries between chunks of this many steps (from step 0). `nil`: full BPTT.
        public var truncation: Int?
        /// Fills each gate's block of `weight_hh`.
        public var recurrentInitializer: Initializer

        /// A config of `inputFeatures` inputs and `hiddenSize` units; the defaults are many-to-one, full
        /// back-propagation through time and orthogonal `weight_hh` blocks.
        public init(inputFeatures: Int, hiddenSize: Int, mode: RecurrentMode = .manyToOne, truncation: Int? = nil,
                    recurrentInitializer: Initializer = .orthogonal) {
            (self.inputFeatures, self.hiddenSize, self.mode, self.truncation) = (inputFeatures, hiddenSize, mode, truncation)
            self.recurrentInitializer = recurrentInitializer
        }

        /// Reads the settings (`RecurrentLayerConfig`'s).
        public init(from decoder: Decoder) throws {
            let s = try RecurrentSettings(from: decoder, layer: Self.typeName)
            self.init(inputFeatures: s.inputFeatures, hiddenSize: s.hiddenSize, mode: s.mode, truncation: s.truncation,
                      recurrentInitializer: s.recurrentInitializer)
        }

        /// Writes the settings (`RecurrentLayerConfig`'s).
        public func encode(to encoder: Encoder) throws { try settings.encode(to: encoder) }

        /// A `GRU` in `storage`, its weights drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try GRU(self, random: random, storage: storage)
        }
    }

    /// The layer's config, cell (`GRUCell`), loop over time and state.
    public let core: RecurrentLayerCore<Config, GRUCell>

    /// Builds the layer `config` describes; with `random`, the weights are drawn from their
    /// initializers, else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        let cell = GRUCell(config.inputFeatures, config.hiddenSize, recurrentInitializer: config.recurrentInitializer,
                           random: random, storage: storage)
        core = RecurrentLayerCore(config, cell: cell, name: name)
    }

    /// A GRU of F inputs and H units, its weights drawn from `random`.
    public convenience init(_ inputFeatures: Int, _ hiddenSize: Int, mode: RecurrentMode = .manyToOne, truncation: Int? = nil,
                            recurrentInitializer: Initializer = .orthogonal, random: RandomGenerator,
                            name: String = "") throws {
        try self.init(Config(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, truncation: truncation,
                             recurrentInitializer: recurrentInitializer),
                      random: random, name: name)
    }
}
