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
public final class LSTM: Layer, SequenceMasking, RecurrentStepping {
    /// How the layer maps sequences: many-to-one, many-to-many or one-to-many.
    public typealias Mode = RecurrentMode
    /// What a one-to-many layer feeds at the steps after the first.
    public typealias Feedback = RecurrentFeedback

    /// The settings of an `LSTM` layer.
    public struct Config: LayerConfig {
        /// `LSTM`, the type name in architecture files.
        public static let typeName = "LSTM"
        /// F, the width of an input step, in 1...2^24.
        public var inputFeatures: Int
        /// H, the number of units (the width of h, c and the output).
        public var hiddenSize: Int
        /// How sequences map (default `.manyToOne`).
        public var mode: Mode
        /// Truncated back-propagation through time: the gradient (of h and c) does not flow back
        /// across the boundaries between chunks of this many steps (from step 0). `nil`: full BPTT.
        public var truncation: Int?
        /// Fills each gate's block of `weight_hh`.
        public var recurrentInitializer: Initializer
        /// The initial forget-gate part of `bias_ih`.
        public var forgetBias: Float

        /// A config of `inputFeatures` inputs and `hiddenSize` units; the defaults are many-to-one, full
        /// back-propagation through time, orthogonal `weight_hh` blocks and a forget bias of 1.
        public init(inputFeatures: Int, hiddenSize: Int, mode: Mode = .manyToOne, truncation: Int? = nil,
                    recurrentInitializer: Initializer = .orthogonal, forgetBias: Float = 1) {
            (self.inputFeatures, self.hiddenSize, self.mode, self.truncation) = (inputFeatures, hiddenSize, mode, truncation)
            (self.recurrentInitializer, self.forgetBias) = (recurrentInitializer, forgetBias)
        }

        enum CodingKeys: String, CodingKey {
            case inputFeatures, hiddenSize, truncation, recurrentInitializer, forgetBias
        }

        /// Reads the settings: `"mode"` (`many_to_one`, `many_to_many` or `one_to_many` with
        /// `"steps"` and `"feedback"`), truncation 0 for none; settings missing from older files get
        /// their defaults.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inputFeatures = try c.decode(Int.self, forKey: .inputFeatures)
            hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
            mode = try Mode(from: decoder, layer: Self.typeName)
            let truncation = try c.decodeIfPresent(Int.self, forKey: .truncation)  // 0: full BPTT
            self.truncation = truncation == 0 ? nil : truncation
            recurrentInitializer = try c.decodeIfPresent(Initializer.self, forKey: .recurrentInitializer) ?? .orthogonal
            forgetBias = try c.decodeIfPresent(Float.self, forKey: .forgetBias) ?? 1
        }

        /// Writes the settings, the mode as `"mode"` (with `"steps"` and `"feedback"` for one-to-many)
        /// and no truncation as 0.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(inputFeatures, forKey: .inputFeatures)
            try c.encode(hiddenSize, forKey: .hiddenSize)
            try mode.encode(to: encoder)
            try c.encode(truncation ?? 0, forKey: .truncation)
            try c.encode(recurrentInitializer, forKey: .recurrentInitializer)
            try c.encode(forgetBias, forKey: .forgetBias)
        }

        /// Throws `SynapseError.invalidArgument` unless the sizes, the steps of a one-to-many mode and the
        /// truncation are in 1...2^24 and `forgetBias` finite, a previous-output feedback has F == H, and the weights
        /// fit in memory.
        public func validate() throws {
            try Mode.validate(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, truncation: truncation,
                              gates: 4, layer: Self.typeName)
            try LayerLimits.check(forgetBias, "forgetBias", layer: Self.typeName)
        }

        /// `weight_ih` (4H, F), `weight_hh` (4H, H), `bias_ih` and `bias_hh` (4H).
        public var parameterShapes: [(name: String, shape: [Int])] {
            [("weight_ih", [4 * hiddenSize, inputFeatures]), ("weight_hh", [4 * hiddenSize, hiddenSize]),
             ("bias_ih", [4 * hiddenSize]), ("bias_hh", [4 * hiddenSize])]
        }

        /// (H) many-to-one, (T, H) many-to-many for an input sample (T, F); (steps, H) one-to-many
        /// for an input sample (F).
        /// - Throws: `SynapseError.shape` for an input sample of another shape.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            try mode.outputShape(for: inputShape, inputFeatures: inputFeatures, hiddenSize: hiddenSize)
        }

        /// A `LSTM` in `storage`, its weights drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try LSTM(self, random: random, storage: storage)
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
    /// The width of the whole state row `step` carries (2H for the LSTM's [h | c], H for the GRU).
    public var stateWidth: Int { cell.stateWidth }
    /// How the layer maps sequences (`Config.mode`).
    public var mode: Mode { config.mode }
    /// Truncated back-propagation through time (`Config.truncation`).
    public var truncation: Int? {
        get { config.truncation }
        set { config.truncation = newValue }
    }

    /// The cell: one step forward and backward; it holds the parameters.
    public let cell: LSTMCell
    /// The loop over time around `cell`, with its working buffers.
    private let sequence: RecurrentSequence<LSTMCell>

    /// `weight_ih` (4H, F), gates i, f, g, o.
    public var weightIH: Parameter { cell.weightIH }
    /// `weight_hh` (4H, H), gates i, f, g, o.
    public var weightHH: Parameter { cell.weightHH }
    /// `bias_ih` (4H); the forget gate's block starts at `forgetBias`.
    public var biasIH: Parameter { cell.biasIH }
    /// `bias_hh` (4H).
    public var biasHH: Parameter { cell.biasHH }

    /// h_0, (N, H); zeros when nil.
    public var initialState: Tensor?
    /// c_0, (N, H); zeros when nil.
    public var initialCellState: Tensor?
    /// dLoss/d`initialState` after a backward pass with an initial state or cell state given.
    public var initialStateGradient: Tensor? { sequence.initialStateGradient }
    /// dLoss/d`initialCellState`, likewise.
    public var initialCellStateGradient: Tensor? { sequence.initialMemoryGradient }

    /// The padding mask (N, T; 1 real, 0 padding) for the next `forward`, or nil for none; a padded
    /// step keeps the previous h and c and takes no gradient.
    public var inputMask: Tensor?
    /// The input mask when many-to-many (each output step is an input step), else nil.
    public var outputMask: Tensor? { mode == .manyToMany ? inputMask : nil }

    /// Builds the layer `config` describes; with `random`, the weights are drawn from their
    /// initializers, else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        cell = LSTMCell(config.inputFeatures, config.hiddenSize, recurrentInitializer: config.recurrentInitializer,
                        forgetBias: config.forgetBias, random: random, storage: storage)
        sequence = RecurrentSequence(cell: cell, mode: config.mode, layerType: Config.typeName)
    }

    /// An LSTM of F inputs and H units, its weights drawn from `random`.
    public convenience init(_ inputFeatures: Int, _ hiddenSize: Int, mode: Mode = .manyToOne, truncation: Int? = nil,
                            recurrentInitializer: Initializer = .orthogonal, forgetBias: Float = 1,
                            random: RandomGenerator, name: String = "") throws {
        try self.init(Config(inputFeatures: inputFeatures, hiddenSize: hiddenSize, mode: mode, truncation: truncation,
                             recurrentInitializer: recurrentInitializer, forgetBias: forgetBias),
                      random: random, name: name)
    }

    /// The cell's parameters, in PyTorch's order: `weight_ih` (4H, F), `weight_hh` (4H, H), `bias_ih` and `bias_hh` (4H).
    public var parameters: [Parameter] { cell.parameters }
    /// The steps' rows are shared out to `BLAS.loopThreads` threads, each calling OpenBLAS.
    public var splitsRowsAcrossThreads: Bool { true }

    private var wantsInitialStateGradient: Bool { initialState != nil || initialCellState != nil }

    /// Runs `input` ((N, T, F), or (N, F) one-to-many) through the steps from `initialState` and
    /// `initialCellState` (zeros when nil), under `inputMask`: h as (N, H), (N, T, H) or
    /// (N, steps, H), in the layer's own buffer.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        sequence.forward(input, mask: inputMask, initialState: initialState, initialMemory: initialCellState, name: name)
    }

    /// Back-propagation through time (truncated if `truncation` is set): adds the weight gradients and
    /// returns dLoss/dInput; sets the initial states' gradients when either was given.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        sequence.backward(outputGradient, truncation: truncation, wantInitialStateGradient: wantsInitialStateGradient,
                          wantInputGradient: true, name: name)!
    }

    /// Back-propagation through time without dLoss/dInput, which the first layer of a model does
    /// not need: the weight gradients only.
    public func backwardParameters(_ outputGradient: Tensor) {
        sequence.backward(outputGradient, truncation: truncation, wantInitialStateGradient: wantsInitialStateGradient,
                          wantInputGradient: false, name: name)
    }

    /// One step outside training for x (N, F) and the whole state [h | c] (N, 2H), written into
    /// `result` (N, 2H), which may be `state` itself; the output h is its first H columns.
    public func step(input x: Tensor, state: Tensor, into result: Tensor) {
        sequence.step(input: x, state: state, into: result, name: name)
    }

    /// Copies of `initialState` and `initialCellState` (which the config does not hold).
    public func adoptState(of source: any Layer) {
        guard let source = source as? LSTM else { return }
        initialState = source.initialState?.copy()
        initialCellState = source.initialCellState?.copy()
    }
}
