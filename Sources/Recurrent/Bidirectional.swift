import Dense
import Foundation

/// A recurrent layer run both ways over each sequence: one copy reads the steps forwards, a second
/// (its own weights) reads each sequence's real steps backwards, and their outputs are
/// concatenated [forward | backward] or summed.
///
/// The backward copy reads only the real steps (the mask's ones), last first, wherever the padding
/// lies (left, right or both sides), as PyTorch's packed sequences do; its outputs go back to the
/// steps they belong to. Many-to-one: (N, T, F) -> (N, 2H) (or (N, H) summed), the forward copy's
/// state after the last real step beside the backward copy's after the first; many-to-many:
/// (N, T, F) -> (N, T, 2H) (zeros on padded steps). One-to-many has no backward reading and is
/// refused.
///
/// Parameters: the wrapped layer's, twice: the forward copy's under their own names, the backward
/// copy's with PyTorch's `_reverse` suffix (`rnn.weight_ih`, ..., `rnn.weight_ih_reverse`, ...).
/// Each direction is a `SimpleRNN`, `LSTM` or `GRU` of the same config, drawn forward copy first.
public final class Bidirectional: Layer, SequenceMasking {
    /// How the two directions' outputs combine.
    public enum Merge: String, Codable, Sendable {
        /// [forward | backward]: 2H features.
        case concatenate
        /// forward + backward: H features.
        case sum
    }

    /// The recurrent layer a `Bidirectional` runs both ways.
    public enum Wrapped: Equatable, Sendable {
        /// An Elman layer of this config.
        case simpleRNN(SimpleRNN.Config)
        /// An LSTM layer of this config.
        case lstm(LSTM.Config)
        /// A GRU layer of this config.
        case gru(GRU.Config)

        /// The wrapped config.
        var config: any RecurrentLayerConfig {
            switch self {
            case .simpleRNN(let c): return c
            case .lstm(let c): return c
            case .gru(let c): return c
            }
        }

        /// One direction alone: the wrapped layer, built from `random` and named `name`.
        public func makeLayer(random: RandomGenerator, name: String = "") throws -> any Layer & SequenceMasking {
            try makeLayer(random: random, storage: .standalone, name: name)
        }

        func makeLayer(random: RandomGenerator?, storage: ParameterStorage, name: String = "") throws -> any Layer & SequenceMasking {
            switch self {
            case .simpleRNN(let c): return try SimpleRNN(c, random: random, storage: storage, name: name)
            case .lstm(let c): return try LSTM(c, random: random, storage: storage, name: name)
            case .gru(let c): return try GRU(c, random: random, storage: storage, name: name)
            }
        }

        var mode: RecurrentMode { config.mode }
        var hiddenSize: Int { config.hiddenSize }
    }

    /// The settings of a `Bidirectional` layer: the wrapped layer's config (saved as its type and
    /// options) and the merge.
    public struct Config: LayerConfig {
        /// `Bidirectional`, the type name in architecture files.
        public static let typeName = "Bidirectional"
        /// The layer run both ways: many-to-one or many-to-many (not one-to-many).
        public var layer: Wrapped
        /// How the two directions' outputs combine (default `.concatenate`).
        public var merge: Merge

        /// Runs `layer` (many-to-one or many-to-many) both ways, merging as `merge` says.
        public init(_ layer: Wrapped, merge: Merge = .concatenate) {
            (self.layer, self.merge) = (layer, merge)
        }

        enum CodingKeys: String, CodingKey { case layer, merge }
        enum LayerKeys: String, CodingKey { case type, options }

        /// Reads `"merge"` (default `concatenate`) and `"layer"`: the wrapped layer's `"type"`
        /// (`SimpleRNN`, `LSTM` or `GRU`) and `"options"`.
        /// - Throws: A `DecodingError` for another wrapped type or malformed options.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            merge = try c.decodeIfPresent(Merge.self, forKey: .merge) ?? .concatenate
            let inner = try c.nestedContainer(keyedBy: LayerKeys.self, forKey: .layer)
            switch try inner.decode(String.self, forKey: .type) {
            case SimpleRNN.Config.typeName: layer = .simpleRNN(try inner.decode(SimpleRNN.Config.self, forKey: .options))
            case LSTM.Config.typeName: layer = .lstm(try inner.decode(LSTM.Config.self, forKey: .options))
            case GRU.Config.typeName: layer = .gru(try inner.decode(GRU.Config.self, forKey: .options))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .type, in: inner, debugDescription:
                    "Bidirectional wraps SimpleRNN, LSTM or GRU, not '\(other)'")
            }
        }

        /// Writes `"merge"` and `"layer"` as the wrapped layer's `"type"` and `"options"`.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(merge, forKey: .merge)
            var inner = c.nestedContainer(keyedBy: LayerKeys.self, forKey: .layer)
            try inner.encode(type(of: layer.config).typeName, forKey: .type)
            try inner.encode(layer.config, forKey: .options)
        }

        /// Throws `SynapseError.invalidArgument` when the wrapped config is invalid or one-to-many.
        public func validate() throws {
            try layer.config.validate()
            guard layer.mode == .manyToOne || layer.mode == .manyToMany else {
                throw SynapseError.invalidArgument("Bidirectional: the wrapped layer must be many-to-one or many-to-many, not one-to-many")
            }
        }

        /// The wrapped layer's parameters, then the same again with `_reverse` appended to each name.
        public var parameterShapes: [(name: String, shape: [Int])] {
            let shapes = layer.config.parameterShapes
            return shapes + shapes.map { ("\($0.name)_reverse", $0.shape) }
        }

        /// The wrapped layer's output shape, its last axis doubled when the merge concatenates.
        /// - Throws: `SynapseError.shape` when the wrapped layer does not take `inputShape`.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            var shape = try layer.config.outputShape(for: inputShape)
            if merge == .concatenate { shape[shape.count - 1] *= 2 }
            return shape
        }

        /// A `Bidirectional` in `storage`, both directions' weights drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try Bidirectional(self, random: random, storage: storage)
        }
    }

    /// The layer's settings, as saved in the architecture file.
    public private(set) var config: Config
    /// The layer's name in the model; the backward copy's parameters are `<name>.weight_ih_reverse`, ...
    public var name: String
    /// The copy that reads the steps forwards.
    public let forwardLayer: any Layer & SequenceMasking
    /// The copy that reads each sequence's real steps backwards (parameters `<name>_reverse`).
    public let backwardLayer: any Layer & SequenceMasking

    /// The padding mask (N, T; 1 real, 0 padding) for the next `forward`, or nil for none: the
    /// backward copy reverses only each sequence's real steps.
    public var inputMask: Tensor?
    /// The input mask when many-to-many, else nil.
    public var outputMask: Tensor? { config.layer.mode == .manyToMany ? inputMask : nil }

    // Per batch shape: the reversed input, the backward copy's outputs put back in order, the
    // merged output, the split and reordered output gradients, the input gradient; the mask's
    // real steps of each row (`order[row * T + i]`: the step the backward copy reads i-th).
    private var reversedInput: Tensor?
    private var output: Tensor?
    private var forwardGradient: Tensor?
    private var backwardGradient: Tensor?
    private var gradientInOrder: Tensor?
    private var inputGradient: Tensor?
    private var order: [Int] = []
    private var realSteps: [Int] = []
    private var shape = (n: 0, t: 0)

    /// Builds both directions from `config.layer` (forward first, from `random`).
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        forwardLayer = try config.layer.makeLayer(random: random, storage: storage)
        backwardLayer = try config.layer.makeLayer(random: random, storage: storage)
        for p in backwardLayer.parameters { p.name += "_reverse" }
    }

    /// A bidirectional layer over `layer`'s config (its weights are not used).
    public convenience init(_ layer: Wrapped, merge: Merge = .concatenate, random: RandomGenerator, name: String = "") throws {
        try self.init(Config(layer, merge: merge), random: random, name: name)
    }

    /// The forward copy's parameters, then the backward copy's.
    public var parameters: [Parameter] { forwardLayer.parameters + backwardLayer.parameters }
    /// The steps' rows are shared out to `BLAS.loopThreads` threads, each calling OpenBLAS.
    public var splitsRowsAcrossThreads: Bool { true }

    /// Copies rows of (N, T, C) `source` into `destination` so that step `order[row * T + i]`
    /// receives step `order[row * T + k - 1 - i]` for the row's k real steps; padded steps get zeros.
    private func reverseRealSteps(_ source: Tensor, into destination: Tensor) {
        let (n, t) = shape
        let c = source.count / max(n * t, 1)
        destination.fill(0)
        for row in 0..<n {
            let k = realSteps[row]
            for i in 0..<k {
                let to = order[row * t + i], from = order[row * t + k - 1 - i]
                (destination.data + (row * t + to) * c).update(from: source.data + (row * t + from) * c, count: c)
            }
        }
    }

    /// Runs `input` (N, T, F) forwards through `forwardLayer` and each sequence's real steps backwards
    /// through `backwardLayer`, and merges the outputs: (N, 2H) or (N, T, 2H) concatenated, H wide
    /// summed.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let (n, t) = (input.batchSize, input.shape.count == 3 ? input.shape[1] : 0)
        precondition(input.shape.count == 3, "Bidirectional '\(name)': input \(input.shape) is not (N, T, F)")
        shape = (n, t)
        if order.count != n * t { order = [Int](repeating: 0, count: n * t) }
        realSteps = [Int](repeating: 0, count: n)
        for row in 0..<n {
            var k = 0
            for step in 0..<t where inputMask.map({ $0.data[row * t + step] != 0 }) ?? true {
                order[row * t + k] = step
                k += 1
            }
            realSteps[row] = k
        }
        forwardLayer.inputMask = inputMask
        backwardLayer.inputMask = inputMask
        let reversed = Tensor.reusing(reversedInput, shape: input.shape)
        reversedInput = reversed
        reverseRealSteps(input, into: reversed)
        let yf = forwardLayer.forward(input, training: training)
        let yb = backwardLayer.forward(reversed, training: training)
        let h = config.layer.hiddenSize
        let many = config.layer.mode == .manyToMany
        let width = config.merge == .concatenate ? 2 * h : h
        let out = Tensor.reusing(output, shape: many ? [n, t, width] : [n, width])
        output = out
        // The backward copy's per-step outputs back at their steps (before merging).
        let ybInOrder: Tensor
        if many {
            let back = Tensor.reusing(backwardGradient, shape: [n, t, h])
            backwardGradient = back
            reverseRealSteps(yb, into: back)
            ybInOrder = back
        } else {
            ybInOrder = yb
        }
        let rows = many ? n * t : n
        for r in 0..<rows {
            let (f, b, o) = (yf.data + r * h, ybInOrder.data + r * h, out.data + r * width)
            if config.merge == .concatenate {
                o.update(from: f, count: h)
                (o + h).update(from: b, count: h)
            } else {
                for j in 0..<h { o[j] = f[j] + b[j] }
            }
        }
        return out
    }

    /// Splits dy into the two directions' output gradients (the backward one reordered as its
    /// copy read the steps).
    private func splitGradient(_ dy: Tensor) -> (Tensor, Tensor) {
        let (n, t) = shape
        let h = config.layer.hiddenSize
        let many = config.layer.mode == .manyToMany
        let width = config.merge == .concatenate ? 2 * h : h
        let rows = many ? n * t : n
        precondition(dy.count == rows * width, "Bidirectional '\(name)': output gradient \(dy.shape) does not match the last forward")
        let dShape = many ? [n, t, h] : [n, h]
        let df = Tensor.reusing(forwardGradient, shape: dShape)
        forwardGradient = df
        let inOrder = Tensor.reusing(gradientInOrder, shape: dShape)
        gradientInOrder = inOrder
        for r in 0..<rows {
            let d = dy.data + r * width
            (df.data + r * h).update(from: d, count: h)
            (inOrder.data + r * h).update(from: config.merge == .concatenate ? d + h : d, count: h)
        }
        guard many else { return (df, inOrder) }
        let db = Tensor.reusing(backwardGradient, shape: dShape)
        backwardGradient = db
        reverseRealSteps(inOrder, into: db)
        return (df, db)
    }

    /// Splits the output gradient between the two directions, back-propagates each, and returns the
    /// sum of their input gradients (N, T, F).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        let (df, db) = splitGradient(outputGradient)
        let dxf = forwardLayer.backward(df)
        let dxb = backwardLayer.backward(db)
        let dx = Tensor.reusing(inputGradient, shape: dxf.shape)
        reverseRealSteps(dxb, into: dx)
        for i in 0..<dx.count { dx.data[i] += dxf.data[i] }
        inputGradient = dx
        return dx
    }

    /// Back-propagates both directions for their weight gradients only, without dLoss/dInput.
    public func backwardParameters(_ outputGradient: Tensor) {
        let (df, db) = splitGradient(outputGradient)
        forwardLayer.backwardParameters(df)
        backwardLayer.backwardParameters(db)
    }
}
