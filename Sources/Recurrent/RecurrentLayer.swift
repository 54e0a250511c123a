import Dense

/// A recurrent layer: a `RecurrentCell` run over time by a `RecurrentSequence`, built from a
/// `RecurrentLayerConfig` (`SimpleRNN`, `LSTM`, `GRU`).
///
/// A conforming layer declares its config and builds its `core` (the config, the cell, the loop
/// over time and the state the layer keeps); everything else a layer has (the settings it shows,
/// the initial state and padding mask, forward, backward and single steps) comes from this
/// protocol and is the same for every cell.
public protocol RecurrentLayer: Layer, SequenceMasking, RecurrentStepping where Config: RecurrentLayerConfig {
    /// The cell run at every step.
    associatedtype Cell: RecurrentCell
    /// The layer's config, cell, loop over time and state.
    var core: RecurrentLayerCore<Config, Cell> { get }
}

/// What a recurrent layer keeps: its config (`truncation` may change after it is built), name,
/// cell, the loop over time with its working buffers, the initial state (h and, for a cell with
/// memory, the memory: the LSTM's c) and the padding mask for the next forward. Its members are
/// the layer's to use, through `RecurrentLayer`.
public final class RecurrentLayerCore<Config: RecurrentLayerConfig, Cell: RecurrentCell> {
    var config: Config
    var name: String
    let cell: Cell
    let sequence: RecurrentSequence<Cell>
    var initialState: Tensor?
    var initialMemory: Tensor?
    var inputMask: Tensor?

    /// The core of a layer of `config` (validated) around `cell`.
    init(_ config: Config, cell: Cell, name: String) {
        (self.config, self.cell, self.name) = (config, cell, name)
        sequence = RecurrentSequence(cell: cell, mode: config.mode, layerType: Config.typeName)
    }

    /// The gradients of the initial state are wanted when any part of it was given.
    private var wantsInitialStateGradient: Bool { initialState != nil || initialMemory != nil }

    func forward(_ input: Tensor) -> Tensor {
        sequence.forward(input, mask: inputMask, initialState: initialState, initialMemory: initialMemory, name: name)
    }

    @discardableResult
    func backward(_ outputGradient: Tensor, wantInputGradient: Bool) -> Tensor? {
        sequence.backward(outputGradient, truncation: config.truncation, wantInitialStateGradient: wantsInitialStateGradient,
                          wantInputGradient: wantInputGradient, name: name)
    }
}

extension RecurrentLayer {
    /// How the layer maps sequences: many-to-one, many-to-many or one-to-many.
    public typealias Mode = RecurrentMode
    /// What a one-to-many layer feeds at the steps after the first.
    public typealias Feedback = RecurrentFeedback

    /// The layer's settings, as saved in the architecture file (`truncation` may change after).
    public var config: Config { core.config }
    /// The layer's name in the model; its parameters are `<name>.weight_ih`, ...
    public var name: String {
        get { core.name }
        set { core.name = newValue }
    }
    /// F, the width of an input step (`Config.inputFeatures`).
    public var inputFeatures: Int { core.config.inputFeatures }
    /// H, the number of units (`Config.hiddenSize`).
    public var hiddenSize: Int { core.config.hiddenSize }
    /// The width of the whole state row `step` carries: H, or 2H for the LSTM's [h | c].
    public var stateWidth: Int { core.cell.stateWidth }
    /// How the layer maps sequences (`Config.mode`).
    public var mode: Mode { core.config.mode }
    /// Truncated back-propagation through time: the gradient does not flow back across the
    /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
    public var truncation: Int? {
        get { core.config.truncation }
        set { core.config.truncation = newValue }
    }

    /// The cell: one step forward and backward; it holds the parameters.
    public var cell: Cell { core.cell }
    /// The cell's parameters, in PyTorch's order (`Config.parameterShapes`).
    public var parameters: [Parameter] { core.cell.parameters }
    /// The steps' rows are shared out to `BLAS.loopThreads` threads, each calling OpenBLAS.
    public var splitsRowsAcrossThreads: Bool { true }

    /// h_0, the state before step 0, (N, H); zeros when nil.
    public var initialState: Tensor? {
        get { core.initialState }
        set { core.initialState = newValue }
    }
    /// dLoss/d`initialState` after a backward pass with an initial state given.
    public var initialStateGradient: Tensor? { core.sequence.initialStateGradient }

    /// The padding mask (N, T; 1 real, 0 padding) for the next `forward`, or nil for none; a padded
    /// step keeps the previous state and takes no gradient.
    public var inputMask: Tensor? {
        get { core.inputMask }
        set { core.inputMask = newValue }
    }
    /// The input mask when many-to-many (each output step is an input step), else nil.
    public var outputMask: Tensor? { mode == .manyToMany ? inputMask : nil }

    /// Runs the sequence batch `input` ((N, T, F), or (N, F) one-to-many) through the steps, from
    /// the initial state (zeros when nil) and under `inputMask`: h as (N, H), (N, T, H) or
    /// (N, steps, H) as the mode says, in the layer's own buffer.
    public func forward(_ input: Tensor, training: Bool) -> Tensor { core.forward(input) }

    /// Back-propagation through time (truncated if `truncation` is set): adds the weight gradients
    /// and returns dLoss/dInput; the initial state's gradients are set when any of it was given.
    public func backward(_ outputGradient: Tensor) -> Tensor { core.backward(outputGradient, wantInputGradient: true)! }

    /// Back-propagation through time without dLoss/dInput, which the first layer of a model does
    /// not need: the weight gradients only.
    public func backwardParameters(_ outputGradient: Tensor) { core.backward(outputGradient, wantInputGradient: false) }

    /// One step outside training for x (N, F) and the whole state (N, S), written into `result`
    /// (N, S), which may be `state` itself; the output h is its first H columns. For sampling
    /// one-to-many.
    public func step(input x: Tensor, state: Tensor, into result: Tensor) {
        core.sequence.step(input: x, state: state, into: result, name: core.name)
    }

    /// Copies of the initial state (which the config does not hold).
    public func adoptState(of source: any Layer) {
        guard let source = source as? Self else { return }
        core.initialState = source.core.initialState?.copy()
        core.initialMemory = source.core.initialMemory?.copy()
    }
}
