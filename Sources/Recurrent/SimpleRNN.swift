import Foundation

/// An Elman recurrent layer: h_t = act(x_t W_ih^T + h_{t-1} W_hh^T + b), unrolled over time.
///
/// Shapes and modes (batch first, as everywhere in Synapse):
/// - `.manyToOne`: input (N, T, F) -> output (N, H), each sequence's state after its last real step.
/// - `.manyToMany`: input (N, T, F) -> output (N, T, H), every step's state (zeros on padded steps);
///   a `Linear` after it maps each step.
/// - `.oneToMany(steps:feedback:)`: input (N, F) -> output (N, steps, H). `.fixedInput` feeds the
///   same vector at every step; `.previousOutput` feeds it at step 0 and the previous state after
///   (so F must equal H).
///
/// Parameters carry PyTorch's `nn.RNN` names and layout: `weight_ih` (H, F), `weight_hh` (H, H) and
/// one `bias` (H), which is PyTorch's `bias_ih + bias_hh`.
///
/// Padding: with an `inputMask` (N, T; set by `Sequential` from an `Embedding` with a padding
/// index, or by hand), a padded step keeps the previous state and takes no gradient, so left
/// padding, right padding and no padding give the same states on the real steps.
///
/// Initialisation: `weight_ih` Glorot uniform, `weight_hh` orthogonal (`recurrentInitializer`;
/// `.identity` with ReLU gives Le et al.'s IRNN), bias zero.
///
/// Structure: a `SimpleRNNCell` (one step, forward and backward) run over time by a
/// `RecurrentSequence` (modes, masks, truncation, initial state); `step` runs the cell alone.
///
/// Speed: states internally time-major; the batch-major input and its gradient are read and
/// written in place (one GEMM per step over that step's rows). The input projection of all steps
/// runs before the steps, each step's recurrent product is one GEMM, and the weight gradients are
/// summed over all steps at the end of backward. With `BLAS.loopThreads` > 1 the steps run for shares
/// of the batch rows at once, and the products over all steps are shared between the threads.
/// Buffers are sized once per batch shape.
public final class SimpleRNN: RecurrentLayer {
    /// The cell's activation: tanh or ReLU.
    public typealias Nonlinearity = SimpleRNNCell.Nonlinearity

    /// The settings of a `SimpleRNN` layer.
    public struct Config: RecurrentLayerConfig {
        /// `SimpleRNN`, the type name in architecture files.
        public static let typeName = "SimpleRNN"
        /// 1: the weights are one block.
        public static let gates = 1
        /// F, the width of an input step, in 1...2^24.
        public var inputFeatures: Int
        /// H, the number of units (the width of the state and of the output), in 1...2^24.
        public var hiddenSize: Int
        /// How sequences map (default `.manyToOne`); saved as `"mode"` with `"steps"` and `"feedback"`
        /// for one-to-many.
        public var mode: RecurrentMode
        /// The activation of the state (default `.tanh`).
        public var nonlinearity: Nonlinearity
        /// Truncated back-propagation through time: the gradient does not flow back across the
        /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
        public var truncation: Int?
        /// Fills `weight_hh` (`weight_ih` is Glorot uniform, the bias zero).
        public var recurrentInitializer: Initializer

        /// A config of `inputFeatures` inputs and `hiddenSize` units; the defaults are many-to-one, tanh,
        /// full back-propagation through time and an orthogonal `weight_hh`.
        public init(inputFeatures: Int, hiddenSize: Int, mode: RecurrentMode = .manyToOne, nonlinearity: Nonlinearity = .tanh,
                    truncation: Int? = nil, recurrentInitializer: Initializer = .orthogonal) {
            (self.inputFeatures, self.hiddenSize, self.mode, self.nonlinearity) = (inputFeatures, hiddenSize, mode, nonlinearity)
            (self.truncation, self.recurrentInitializer) = (truncation, recurrentInitializer)
        }

        enum CodingKeys: String, CodingKey { case nonlinearity }

        /// Reads the settings (`RecurrentLayerConfig`'s and `"nonlinearity"`).
        public init(from decoder: Decoder) throws {
            let s = try RecurrentSettings(from: decoder, layer: Self.typeName)
            let nonlinearity = try decoder.container(keyedBy: CodingKeys.self).decode(Nonlinearity.self, forKey: .nonlinearity)
            self.init(inputFeatures: s.inputFeatures, hiddenSize: s.hiddenSize, mode: s.mode, nonlinearity: nonlinearity,
                      truncation: s.truncation, recurrentInitializer: s.recurrentInitializer)
        }

        /// Writes the settings (`RecurrentLayerConfig`'s and `"nonlinearity"`).
        public func encode(to encoder: Encoder) throws {
            try settings.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(nonlinearity, forKey: .nonlinearity)
        }

        /// `weight_ih` (H, F), `weight_hh` (H, H) and `bias` (H).
        public var parameterShapes: [(name: String, shape: [Int])] {
            [("weight_ih", [hiddenSize, inputFeatures]), ("weight_hh", [hiddenSize, hiddenSize]), ("bias", [hiddenSize])]
        }

        /// A `SimpleRNN` in `storage`, its weights drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try SimpleRNN(self, random: random, storage: storage)
        }
    }

    /// The layer's config, cell (`SimpleRNNCell`), loop over time and state.
    public let core: RecurrentLayerCore<Config, SimpleRNNCell>

    /// The state's activation, tanh or ReLU (`Config.nonlinearity`).
    public var nonlinearity: Nonlinearity { config.nonlinearity }
    /// `weight_ih` (H, F): the input's weights.
    public var weightIH: Parameter { cell.weightIH }
    /// `weight_hh` (H, H): the previous state's weights.
    public var weightHH: Parameter { cell.weightHH }
    /// `bias` (H): PyTorch's `bias_ih + bias_hh` in one.
    public var bias: Parameter { cell.bias }

    /// Builds the layer `config` describes; with `random`, the weights are drawn from their
    /// initializers, else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        let cell = SimpleRNNCell(config.inputFeatures, config.hiddenSize, nonlinearity: config.nonlinearity,
                                 recurrentInitializer: config.recurrentInitializer, random: random, storage: storage)
        core = RecurrentLayerCore(config, cell: cell, name: name)
    }

    /// An Elman layer of F = `inputFeatures` inputs and H = `hiddenSize` units, its weights drawn from
    /// `random`; the other arguments are `Config`'s, with its defaults (many-to-one, tanh, full BPTT,
    /// orthogonal `weight_hh`).
    /// - Throws: `SynapseError.invalidArgument` for a size, step count or truncation out of range, or
    ///   `.previousOutput` feedback with F != H.
    public convenience init(_ inputFeatures: Int, _ hiddenSize: Int, mode: RecurrentMode = .manyToOne,
                            nonlinearity: Nonlinearity = .tanh, truncation: Int? = nil,
                            recurrentInitializer: Initializer = .orthogonal,
                            random: RandomGenerator, name: String = "") throws {
        try self.init(Config(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, nonlinearity: nonlinearity,
                             truncation: truncation, recurrentInitializer: recurrentInitializer),
                      random: random, name: name)
    }
}
