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
/// summed over all steps at the end of backward. With `BLAS.threads` > 1 the steps run for shares
/// of the batch rows at once, and the products over all steps are shared between the threads.
/// Buffers are sized once per batch shape.
public final class SimpleRNN: Layer, SequenceMasking {
    public typealias Mode = RecurrentMode
    public typealias Feedback = RecurrentFeedback
    public typealias Nonlinearity = SimpleRNNCell.Nonlinearity

    public static let typeName = "SimpleRNN"
    public var name: String
    public let inputFeatures: Int
    public let hiddenSize: Int
    public let mode: Mode
    public let nonlinearity: Nonlinearity
    /// Truncated back-propagation through time: the gradient does not flow back across the
    /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
    public var truncation: Int?

    /// The cell: one step forward and backward; it holds the parameters.
    public let cell: SimpleRNNCell
    /// The loop over time around `cell`, with its working buffers.
    private let sequence: RecurrentSequence<SimpleRNNCell>

    public var weightIH: Parameter { cell.weightIH }
    public var weightHH: Parameter { cell.weightHH }
    public var bias: Parameter { cell.bias }

    /// The state before step 0, (N, H); zeros when nil.
    public var initialState: Tensor?
    /// dLoss/d`initialState` after a backward pass with an initial state given.
    public var initialStateGradient: Tensor? { sequence.initialStateGradient }

    public var inputMask: Tensor?
    public var outputMask: Tensor? { mode == .manyToMany ? inputMask : nil }

    public init(_ inputFeatures: Int, _ hiddenSize: Int, mode: Mode = .manyToOne,
                nonlinearity: Nonlinearity = .tanh, truncation: Int? = nil,
                recurrentInitializer: Initializer = .orthogonal,
                random: RandomGenerator, name: String = "") throws {
        try SimpleRNN.check(inputFeatures, hiddenSize, mode: mode, truncation: truncation)
        self.name = name
        self.inputFeatures = inputFeatures
        self.hiddenSize = hiddenSize
        self.mode = mode
        self.nonlinearity = nonlinearity
        self.truncation = truncation
        cell = SimpleRNNCell(inputFeatures, hiddenSize, nonlinearity: nonlinearity,
                             recurrentInitializer: recurrentInitializer, random: random)
        sequence = RecurrentSequence(cell: cell, mode: mode, layerType: SimpleRNN.typeName)
    }

    public convenience init(options: LayerOptions, random: RandomGenerator) throws {
        let modeName = try options.string("mode")
        let mode: Mode
        switch modeName {
        case "many_to_one": mode = .manyToOne
        case "many_to_many": mode = .manyToMany
        case "one_to_many":
            let steps = try options.int("steps", in: 1...LayerLimits.maxDimension)
            guard let feedback = Feedback(rawValue: try options.string("feedback")) else {
                throw SynapseError.invalidArgument("SimpleRNN one_to_many needs steps > 0 and feedback fixed_input or previous_output")
            }
            mode = .oneToMany(steps: steps, feedback: feedback)
        default:
            throw SynapseError.invalidArgument("unknown SimpleRNN mode '\(modeName)'")
        }
        let actName = try options.string("nonlinearity")
        guard let nonlinearity = Nonlinearity(rawValue: actName) else {
            throw SynapseError.invalidArgument("unknown SimpleRNN nonlinearity '\(actName)' (tanh or relu)")
        }
        let (f, h) = (try options.int("inputFeatures", in: 1...LayerLimits.maxDimension),
                      try options.int("hiddenSize", in: 1...LayerLimits.maxDimension))
        if case .oneToMany(_, .previousOutput) = mode, f != h {
            throw SynapseError.invalidArgument("SimpleRNN previous_output feedback needs inputFeatures == hiddenSize")
        }
        let truncation = options["truncation"] == nil ? nil : try options.int("truncation")
        try self.init(f, h, mode: mode, nonlinearity: nonlinearity, truncation: truncation == 0 ? nil : truncation,
                      random: random)
    }

    public static func stateShapes(options: LayerOptions) throws -> [String: [Int]]? {
        let (f, h) = (try options.int("inputFeatures", in: 1...LayerLimits.maxDimension),
                      try options.int("hiddenSize", in: 1...LayerLimits.maxDimension))
        try check(f, h, mode: .manyToOne, truncation: nil)
        return ["weight_ih": [h, f], "weight_hh": [h, h], "bias": [h]]
    }

    private static func check(_ inputFeatures: Int, _ hiddenSize: Int, mode: Mode, truncation: Int?) throws {
        let range = 1...LayerLimits.maxDimension
        try LayerLimits.check(inputFeatures, in: range, "input features", layer: typeName)
        try LayerLimits.check(hiddenSize, in: range, "hidden size", layer: typeName)
        if case .oneToMany(let steps, let feedback) = mode {
            try LayerLimits.check(steps, in: range, "one-to-many steps", layer: typeName)
            guard feedback == .fixedInput || inputFeatures == hiddenSize else {
                throw SynapseError.invalidArgument("SimpleRNN: feeding back the previous output needs input features == hidden size")
            }
        }
        if let truncation { try LayerLimits.check(truncation, in: range, "truncation", layer: typeName) }
        _ = try LayerLimits.elementCount([hiddenSize, inputFeatures], of: "\(typeName) weight_ih")
        _ = try LayerLimits.elementCount([hiddenSize, hiddenSize], of: "\(typeName) weight_hh")
    }

    public var options: LayerOptions {
        var o: LayerOptions = ["inputFeatures": .number(Double(inputFeatures)),
                               "hiddenSize": .number(Double(hiddenSize)),
                               "nonlinearity": .string(nonlinearity.rawValue),
                               "truncation": .number(Double(truncation ?? 0))]
        switch mode {
        case .manyToOne: o["mode"] = .string("many_to_one")
        case .manyToMany: o["mode"] = .string("many_to_many")
        case .oneToMany(let steps, let feedback):
            o["mode"] = .string("one_to_many")
            o["steps"] = .number(Double(steps))
            o["feedback"] = .string(feedback.rawValue)
        }
        return o
    }

    public var parameters: [Parameter] { [weightIH, weightHH, bias] }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        switch mode {
        case .manyToOne, .manyToMany:
            guard inputShape.count == 2, inputShape[1] == inputFeatures, inputShape[0] > 0 else {
                throw SynapseError.shape(
                    "SimpleRNN '\(name)' expects (time, \(inputFeatures)) per sample, got \(inputShape)")
            }
            return mode == .manyToOne ? [hiddenSize] : [inputShape[0], hiddenSize]
        case .oneToMany(let steps, _):
            guard inputShape == [inputFeatures] else {
                throw SynapseError.shape(
                    "SimpleRNN '\(name)' (one-to-many) expects (\(inputFeatures)) per sample, got \(inputShape)")
            }
            return [steps, hiddenSize]
        }
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        sequence.forward(input, mask: inputMask, initialState: initialState, name: name)
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        sequence.backward(outputGradient, truncation: truncation, wantInitialStateGradient: initialState != nil,
                          wantInputGradient: true, name: name)!
    }

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
    /// Same settings, name and weights, and a copy of `initialState` (which the saved options do
    /// not hold).
    public func clone() throws -> any Layer {
        let copy = try SimpleRNN(inputFeatures, hiddenSize, mode: mode, nonlinearity: nonlinearity,
                                 truncation: truncation, recurrentInitializer: .zeros, random: RandomGenerator(seed: 0))
        copy.copyState(from: self)
        copy.initialState = initialState?.copy()
        return copy
    }
}
