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
public final class SimpleRNN: Layer, SequenceMasking, RecurrentStepping {
    /// How the layer maps sequences: many-to-one, many-to-many or one-to-many.
    public typealias Mode = RecurrentMode
    /// What a one-to-many layer feeds at the steps after the first.
    public typealias Feedback = RecurrentFeedback
    /// The cell's activation: tanh or ReLU.
    public typealias Nonlinearity = SimpleRNNCell.Nonlinearity

    /// The settings of a `SimpleRNN` layer.
    public struct Config: LayerConfig {
        /// `SimpleRNN`, the type name in architecture files.
        public static let typeName = "SimpleRNN"
        /// F, the width of an input step, in 1...2^24.
        public var inputFeatures: Int
        /// H, the number of units (the width of the state and of the output), in 1...2^24.
        public var hiddenSize: Int
        /// How sequences map (default `.manyToOne`); saved as `"mode"` with `"steps"` and `"feedback"`
        /// for one-to-many.
        public var mode: Mode
        /// The activation of the state (default `.tanh`).
        public var nonlinearity: Nonlinearity
        /// Truncated back-propagation through time: the gradient does not flow back across the
        /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
        public var truncation: Int?
        /// Fills `weight_hh` (`weight_ih` is Glorot uniform, the bias zero).
        public var recurrentInitializer: Initializer

        /// A config of `inputFeatures` inputs and `hiddenSize` units; the defaults are many-to-one, tanh,
        /// full back-propagation through time and an orthogonal `weight_hh`.
        public init(inputFeatures: Int, hiddenSize: Int, mode: Mode = .manyToOne, nonlinearity: Nonlinearity = .tanh,
                    truncation: Int? = nil, recurrentInitializer: Initializer = .orthogonal) {
            (self.inputFeatures, self.hiddenSize, self.mode, self.nonlinearity) = (inputFeatures, hiddenSize, mode, nonlinearity)
            (self.truncation, self.recurrentInitializer) = (truncation, recurrentInitializer)
        }

        enum CodingKeys: String, CodingKey {
            case inputFeatures, hiddenSize, nonlinearity, truncation, recurrentInitializer
        }

        /// Reads the settings: `"mode"` (`many_to_one`, `many_to_many` or `one_to_many` with
        /// `"steps"` and `"feedback"`), truncation 0 for none; settings missing from older files get
        /// their defaults.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inputFeatures = try c.decode(Int.self, forKey: .inputFeatures)
            hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
            mode = try Mode(from: decoder, layer: Self.typeName)
            nonlinearity = try c.decode(Nonlinearity.self, forKey: .nonlinearity)
            // Saved as 0 for full back-propagation through time.
            let truncation = try c.decodeIfPresent(Int.self, forKey: .truncation)
            self.truncation = truncation == 0 ? nil : truncation
            // Files written before this setting was saved: the default.
            recurrentInitializer = try c.decodeIfPresent(Initializer.self, forKey: .recurrentInitializer) ?? .orthogonal
        }

        /// Writes the settings, the mode as `"mode"` (with `"steps"` and `"feedback"` for one-to-many)
        /// and no truncation as 0.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(inputFeatures, forKey: .inputFeatures)
            try c.encode(hiddenSize, forKey: .hiddenSize)
            try mode.encode(to: encoder)
            try c.encode(nonlinearity, forKey: .nonlinearity)
            try c.encode(truncation ?? 0, forKey: .truncation)
            try c.encode(recurrentInitializer, forKey: .recurrentInitializer)
        }

        /// Throws `SynapseError.invalidArgument` unless the sizes, the steps of a one-to-many mode and the
        /// truncation are in 1...2^24, a previous-output feedback has F == H, and the weights
        /// fit in memory.
        public func validate() throws {
            try Mode.validate(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, truncation: truncation,
                              gates: 1, layer: Self.typeName)
        }

        /// `weight_ih` (H, F), `weight_hh` (H, H) and `bias` (H).
        public var parameterShapes: [(name: String, shape: [Int])] {
            [("weight_ih", [hiddenSize, inputFeatures]), ("weight_hh", [hiddenSize, hiddenSize]), ("bias", [hiddenSize])]
        }

        /// (H) many-to-one, (T, H) many-to-many for an input sample (T, F); (steps, H) one-to-many
        /// for an input sample (F).
        /// - Throws: `SynapseError.shape` for an input sample of another shape.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            try mode.outputShape(for: inputShape, inputFeatures: inputFeatures, hiddenSize: hiddenSize)
        }

        /// A `SimpleRNN` in `storage`, its weights drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try SimpleRNN(self, random: random, storage: storage)
        }
    }

    /// The layer's settings, as saved in the architecture file (`truncation` may change after).
    public private(set) var config: Config
    /// The layer's name in the model; its parameters are `<name>.weight_ih`, ...
    public var name: String
    /// F, the width of an input step (`Config.inputFeatures`).
    public var inputFeatures: Int { config.inputFeatures }
    /// H, the number of units (`Config.hiddenSize`).
    public var hiddenSize: Int { config.hiddenSize }
    /// The width of the state row `step` carries: H.
    public var stateWidth: Int { config.hiddenSize }
    /// How the layer maps sequences (`Config.mode`).
    public var mode: Mode { config.mode }
    /// The state's activation, tanh or ReLU (`Config.nonlinearity`).
    public var nonlinearity: Nonlinearity { config.nonlinearity }
    /// Truncated back-propagation through time: the gradient does not flow back across the
    /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
    public var truncation: Int? {
        get { config.truncation }
        set { config.truncation = newValue }
    }

    /// The cell: one step forward and backward; it holds the parameters.
    public let cell: SimpleRNNCell
    /// The loop over time around `cell`, with its working buffers.
    private let sequence: RecurrentSequence<SimpleRNNCell>

    /// `weight_ih` (H, F): the input's weights.
    public var weightIH: Parameter { cell.weightIH }
    /// `weight_hh` (H, H): the previous state's weights.
    public var weightHH: Parameter { cell.weightHH }
    /// `bias` (H): PyTorch's `bias_ih + bias_hh` in one.
    public var bias: Parameter { cell.bias }

    /// The state before step 0, (N, H); zeros when nil.
    public var initialState: Tensor?
    /// dLoss/d`initialState` after a backward pass with an initial state given.
    public var initialStateGradient: Tensor? { sequence.initialStateGradient }

    /// The padding mask (N, T; 1 real, 0 padding) for the next `forward`, or nil for none; a padded
    /// step keeps the previous state and takes no gradient.
    public var inputMask: Tensor?
    /// The input mask when many-to-many (each output step is an input step), else nil.
    public var outputMask: Tensor? { mode == .manyToMany ? inputMask : nil }

    /// Builds the layer `config` describes; with `random`, the weights are drawn from their
    /// initializers, else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        cell = SimpleRNNCell(config.inputFeatures, config.hiddenSize, nonlinearity: config.nonlinearity,
                             recurrentInitializer: config.recurrentInitializer, random: random, storage: storage)
        sequence = RecurrentSequence(cell: cell, mode: config.mode, layerType: Config.typeName)
    }

    /// An Elman layer of F = `inputFeatures` inputs and H = `hiddenSize` units, its weights drawn from
    /// `random`; the other arguments are `Config`'s, with its defaults (many-to-one, tanh, full BPTT,
    /// orthogonal `weight_hh`).
    /// - Throws: `SynapseError.invalidArgument` for a size, step count or truncation out of range, or
    ///   `.previousOutput` feedback with F != H.
    public convenience init(_ inputFeatures: Int, _ hiddenSize: Int, mode: Mode = .manyToOne,
                            nonlinearity: Nonlinearity = .tanh, truncation: Int? = nil,
                            recurrentInitializer: Initializer = .orthogonal,
                            random: RandomGenerator, name: String = "") throws {
        try self.init(Config(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, nonlinearity: nonlinearity,
                             truncation: truncation, recurrentInitializer: recurrentInitializer),
                      random: random, name: name)
    }

    /// The cell's parameters, in PyTorch's order: `weight_ih` (H, F), `weight_hh` (H, H) and `bias` (H).
    public var parameters: [Parameter] { [weightIH, weightHH, bias] }
    /// The steps' rows are shared out to `BLAS.loopThreads` threads, each calling OpenBLAS.
    public var splitsRowsAcrossThreads: Bool { true }

    /// Runs the sequence batch `input` ((N, T, F), or (N, F) one-to-many) through the steps, from
    /// `initialState` (zeros when nil) and under `inputMask`: (N, H), (N, T, H) or (N, steps, H) as the
    /// mode says, in the layer's own buffer.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        sequence.forward(input, mask: inputMask, initialState: initialState, name: name)
    }

    /// Back-propagation through time (truncated if `truncation` is set): adds the weight gradients and
    /// returns dLoss/dInput; `initialStateGradient` is set when an initial state was given.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        sequence.backward(outputGradient, truncation: truncation, wantInitialStateGradient: initialState != nil,
                          wantInputGradient: true, name: name)!
    }

    /// Back-propagation through time without dLoss/dInput, which the first layer of a model does
    /// not need: the weight gradients only.
    public func backwardParameters(_ outputGradient: Tensor) {
        sequence.backward(outputGradient, truncation: truncation, wantInitialStateGradient: initialState != nil,
                          wantInputGradient: false, name: name)
    }

    /// One step outside training: h' = act(x W_ih^T + h W_hh^T + b) for x (N, F) and h (N, H),
    /// written into `result` (N, H), which may be `state` itself. For sampling one-to-many.
    public func step(input x: Tensor, state: Tensor, into result: Tensor) {
        sequence.step(input: x, state: state, into: result, name: name)
    }
}

extension SimpleRNN {
    /// A copy of `initialState` (which the config does not hold).
    public func adoptState(of source: any Layer) {
        if let source = source as? SimpleRNN { initialState = source.initialState?.copy() }
    }
}
