import Foundation

/// One step of a network: maps a batch to a batch and back-propagates through it.
///
/// The contract, for every layer in Synapse:
/// - A layer is described by its `config` (a `LayerConfig`: its settings, declared once, Codable
///   and validated before anything is allocated); `Config.makeLayer(random:)` builds it.
/// - `forward` maps an input batch (first dimension N) to an output batch and caches what
///   `backward` needs. Returned tensors are the layer's own buffers, reused from call to call:
///   they stay valid until the layer's next `forward`.
/// - `backward` takes dLoss/dOutput of the last forward, returns dLoss/dInput, and *adds* the
///   gradients of its parameters into their `gradient` tensors.
/// - `outputShape(for:)` gives the output shape of one sample (batch dimension excluded) or throws
///   a `SynapseError.shape` naming the problem, so a model is checked before it runs. By default
///   it is the config's.
public protocol Layer: AnyObject {
    /// The layer's settings: what an architecture file saves and `makeLayer` rebuilds.
    associatedtype Config: LayerConfig
    /// The settings the layer was built from, validated: what its architecture file entry saves.
    var config: Config { get }
    /// The type name in saved configurations, e.g. `Linear`: the config's.
    static var typeName: String { get }
    /// Unique within a model; prefixes the parameter names (`fc1.weight`).
    var name: String { get set }
    /// Trainable parameters, in a fixed order: the order of `Config.parameterShapes`.
    var parameters: [Parameter] { get }
    /// Saved but not trained (BatchNorm's running statistics), in the order of
    /// `Config.bufferShapes`.
    var buffers: [Parameter] { get }
    /// The type as `summary()` shows it (`ReLU` for an `Activation`); `typeName` by default.
    var displayTypeName: String { get }

    /// The output shape of one sample (batch dimension excluded) for an input sample of
    /// `inputShape`, e.g. `[1, 28, 28]` -> `[6, 28, 28]`.
    /// - Throws: `SynapseError.shape` naming the layer and what does not fit.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    /// Maps a batch (first dimension N) to a batch, caching what `backward` needs.
    /// - Parameters:
    ///   - input: The batch, in the layout the layer documents (images N x C x H x W, sequences
    ///     N x T x F).
    ///   - training: True in training (dropout drops, batch norm uses the batch's statistics).
    /// - Returns: The output batch, in the layer's own buffer: valid until its next `forward`.
    func forward(_ input: Tensor, training: Bool) -> Tensor
    /// Back-propagates through the last `forward`: takes dLoss/dOutput (the output's shape), adds the
    /// parameter gradients into the parameters' `gradient` tensors, and returns dLoss/dInput (the
    /// input's shape, in the layer's own buffer or the gradient itself).
    func backward(_ outputGradient: Tensor) -> Tensor
    /// Backward for a model's first layer, whose input gradient nobody needs: accumulates the
    /// parameter gradients only. Defaults to `backward`; layers that can skip work override it.
    func backwardParameters(_ outputGradient: Tensor)
    /// Hands the layer the generator behind its random draws (dropout masks).
    func attach(random: RandomGenerator)
    /// A new layer of the same config, name, parameter and buffer values (copied) and any other
    /// state (an RNN's `initialState`), sharing no storage and no working buffers with this one.
    /// The default builds `config` without drawing initial values, copies the parameters and
    /// buffers and calls `adoptState(of:)`.
    func clone() throws -> any Layer
    /// Takes from `source` (a layer of the same type and config) the state that neither the
    /// config nor the parameters hold: an RNN's `initialState`, a convolution's `algorithm`,
    /// dropout's generator. A model's replicas (`DataParallel`, one per worker) are built from
    /// the configs and then adopt their model's layers' state this way. Nothing by default.
    func adoptState(of source: any Layer)
    /// Whether the layer shares its rows out to threads that each call OpenBLAS (the recurrent
    /// layers' steps): a model of such layers runs OpenBLAS on one thread and gives the cores to
    /// those loops (`BLAS.withThreadPlan`). False by default.
    var splitsRowsAcrossThreads: Bool { get }
}

extension Layer {
    public static var typeName: String { Config.typeName }
    public var parameters: [Parameter] { [] }
    public var buffers: [Parameter] { [] }
    public func attach(random: RandomGenerator) {}
    public func backwardParameters(_ outputGradient: Tensor) { _ = backward(outputGradient) }
    public var displayTypeName: String { Self.typeName }
    public var splitsRowsAcrossThreads: Bool { false }
    /// The number of trainable values: the element count of all `parameters`.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// The config's output shape for an input sample of `inputShape`.
    /// - Throws: `SynapseError.shape`, its message prefixed with the layer's type and name.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        do { return try config.outputShape(for: inputShape) } catch SynapseError.shape(let message) {
            throw SynapseError.shape("\(Self.typeName) '\(name)' \(message)")
        }
    }

    public func adoptState(of source: any Layer) {}

    public func clone() throws -> any Layer {
        let copy = try config.makeLayer(random: nil)
        copy.copyState(from: self)
        copy.adoptState(of: self)
        return copy
    }

    /// Takes `source`'s name and its parameter and buffer names and values (same types and
    /// shapes, in order): the second half of a `clone()`.
    public func copyState(from source: any Layer) {
        name = source.name
        let (mine, theirs) = (parameters + buffers, source.parameters + source.buffers)
        precondition(mine.count == theirs.count, "copying \(theirs.count) tensors into \(mine.count)")
        for (p, q) in zip(mine, theirs) {
            p.name = q.name
            p.value.assign(q.value)
        }
    }
}

/// A layer of a sequence model that takes or hands on a padding mask (Keras's `mask_zero`).
///
/// A mask is N x T: 1 for a real time step, 0 for padding. `Sequential` sets each masking layer's
/// `inputMask` to the mask in force before calling its `forward`, and after it takes the layer's
/// `outputMask` as the mask in force; layers that do not mask pass it on unchanged. An `Embedding`
/// with a padding index starts a mask; a many-to-one `SimpleRNN` ends it.
public protocol SequenceMasking: AnyObject {
    /// The padding mask in force before this layer (N x T, 1 for a real step, 0 for padding), or nil
    /// for none; `Sequential` sets it before each `forward`.
    var inputMask: Tensor? { get set }
    /// The mask in force after this layer's `forward`: the input mask passed on, a new one (an
    /// `Embedding` with a padding index) or nil when the time axis is gone.
    var outputMask: Tensor? { get }
}

/// A layer type's settings, declared once: the hyper-parameters, as one `Codable` value.
///
/// The config is the layer's whole description. Its coding keys are the layer's entries in an
/// architecture file (`model.json`: `"options"` of a layer); `validate()` checks every setting
/// (finite, in range, small enough to allocate) and names the first one that is not; the
/// parameter and buffer shapes and the output shape follow from it without allocating anything;
/// `makeLayer(random:)` builds the layer. A layer type written outside Synapse declares a config
/// and registers it (`LayerRegistry.registering(_:)`) to be saved, loaded and cloned like the
/// built-in ones.
///
///     public struct Config: LayerConfig {
///         public static let typeName = "Scale"
///         public var features: Int
///         public func validate() throws {
///             try LayerLimits.check(features, in: 1...LayerLimits.maxDimension, "features", layer: Self.typeName)
///         }
///         public var parameterShapes: [(name: String, shape: [Int])] { [("weight", [features])] }
///         public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
///         public func makeLayer(random: RandomGenerator?) throws -> any Layer { try Scale(self) }
///     }
public protocol LayerConfig: Codable, Equatable, Sendable {
    /// The layer type's name in architecture files (`Linear`); the key of the registry.
    static var typeName: String { get }
    /// Throws a `SynapseError.invalidArgument` naming the first setting out of range.
    func validate() throws
    /// The trainable parameters' local names (`weight`) and shapes, in the layer's order, for a
    /// valid config. Empty by default.
    var parameterShapes: [(name: String, shape: [Int])] { get }
    /// The saved, untrained tensors (`running_mean`), likewise. Empty by default.
    var bufferShapes: [(name: String, shape: [Int])] { get }
    /// The output shape of one sample for an input sample of `inputShape`, or a
    /// `SynapseError.shape` saying what the layer expected.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    /// Builds the layer (after `validate()`). With a generator the parameters are drawn from
    /// their initialisers; with nil they are left at zero (a layer about to take values from
    /// elsewhere: a clone, a loaded model), and nothing random is drawn.
    func makeLayer(random: RandomGenerator?) throws -> any Layer
    /// The same, with the layer's parameters and buffers taken from `storage`, in the order of
    /// `parameterShapes` and `bufferShapes`: a model builds its layers straight into its blocks
    /// this way. A layer type implements one of the two `makeLayer`s: by default this one calls
    /// `makeLayer(random:)` (the model then moves the layer's tensors into its blocks) and that
    /// one calls this with `ParameterStorage.standalone`.
    func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer
}

extension LayerConfig {
    public func makeLayer(random: RandomGenerator?) throws -> any Layer { try makeLayer(random: random, storage: .standalone) }
    public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer { try makeLayer(random: random) }
    public var parameterShapes: [(name: String, shape: [Int])] { [] }
    public var bufferShapes: [(name: String, shape: [Int])] { [] }

    /// The config as an architecture file's `options` entry.
    public var options: LayerOptions {
        get throws { try LayerOptions(encoding: self) }
    }

    /// Decodes a config from an architecture file's `options` entry and validates it; an error
    /// names the option.
    public static func decode(options: LayerOptions) throws -> Self {
        let config: Self
        do {
            config = try JSONDecoder().decode(Self.self, from: JSONEncoder().encode(options))
        } catch let error as DecodingError {
            throw SynapseError.invalidArgument(options.describe(error))
        }
        try config.validate()
        return config
    }

    /// Whether `other` is a config equal to this one (same type, same settings).
    public func isEqual(to other: any LayerConfig) -> Bool {
        guard let other = other as? Self else { return false }
        return self == other
    }
}

/// A value in a layer's saved configuration: JSON's kinds.
public enum ConfigValue: Codable, Equatable, Sendable {
    /// A JSON number (every whole-number and Float setting).
    case number(Double)
    /// A JSON string (an enumeration's name, an initializer's name).
    case string(String)
    /// A JSON `true` or `false`.
    case bool(Bool)
    /// A JSON array of numbers (a kernel size, a shape).
    case numbers([Double])
    /// Any other list (strings, nested configs).
    case list([ConfigValue])
    /// A nested object (the config of a wrapped layer).
    case object([String: ConfigValue])

    /// Reads a JSON value as the first kind that fits: bool, number, string, list of numbers, other
    /// list, object.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let d = try? container.decode(Double.self) { self = .number(d) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([Double].self) { self = .numbers(a) }
        else if let a = try? container.decode([ConfigValue].self) { self = .list(a) }
        else { self = .object(try container.decode([String: ConfigValue].self)) }
    }

    /// Writes the value as the JSON it came from.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .bool(let b): try container.encode(b)
        case .numbers(let a): try container.encode(a)
        case .list(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

/// A layer's entry in an architecture file: its config's coding keys and values.
public typealias LayerOptions = [String: ConfigValue]

/// A layer's options (`LayerOptions`) made from a config.
extension Dictionary where Key == String, Value == ConfigValue {
    /// The options a config encodes to.
    public init(encoding config: some Encodable) throws {
        self = try JSONDecoder().decode(LayerOptions.self, from: JSONEncoder().encode(config))
    }

    /// A decoding error as a sentence naming the option.
    func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context):
            let owner = path(context)
            return "layer option '\(owner.isEmpty ? "" : owner + ".")\(key.stringValue)' is missing"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "layer option '\(path(context))' must be \(Self.describe(type)): \(context.debugDescription)"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "layer option '\(path(context))': \(context.debugDescription)"
        case .dataCorrupted:
            // A number no setting can hold (a fraction or 1e19 for a whole number) fails while
            // the JSON is read, before any key: name the first number that is not a whole
            // number within 2^53.
            for (key, value) in sorted(by: { $0.key < $1.key }) {
                let numbers: [Double]
                switch value {
                case .number(let d): numbers = [d]
                case .numbers(let a): numbers = a
                default: continue
                }
                if let bad = numbers.first(where: { $0 != $0.rounded() || abs($0) > 0x1p53 }) {
                    return "layer option '\(key)' is \(bad), it must be a whole number (or is out of range)"
                }
            }
            return "layer options: \(error)"
        @unknown default:
            return "layer options: \(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "a whole number"
        case is Float.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default: return "of type \(type)"
        }
    }
}

/// The bounds every layer checks its sizes against, so that a damaged architecture file (or a
/// slip in code) is an error before anything is allocated, never a request for hundreds of
/// gigabytes.
public enum LayerLimits {
    /// The largest size, channel count, kernel extent, stride, padding or step count (2^24).
    public static let maxDimension = 1 << 24
    /// The most elements one parameter tensor may have (2^28 floats, 1 GiB).
    public static let maxElements = 1 << 28

    /// The element count of `shape`, or an error naming `what` when a dimension is not positive
    /// or the count overflows or exceeds `maxElements`.
    public static func elementCount(_ shape: [Int], of what: String) throws -> Int {
        var count = 1
        for d in shape {
            guard d >= 1 else { throw SynapseError.invalidArgument("\(what) has a dimension of \(d) in shape \(shape)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maxElements else {
                throw SynapseError.invalidArgument(
                    "\(what) of shape \(shape) would have more than \(maxElements) elements")
            }
            count = product
        }
        return count
    }

    /// Throws unless `value` lies in `range`, naming the layer and the setting.
    public static func check(_ value: Int, in range: ClosedRange<Int>, _ setting: String, layer: String) throws {
        guard range.contains(value) else {
            throw SynapseError.invalidArgument("\(layer) '\(setting)' is \(value), it must be in \(range.lowerBound)...\(range.upperBound)")
        }
    }

    /// Throws unless `value` is finite and (when given) in `range`, naming the layer and the setting.
    public static func check(_ value: Float, in range: ClosedRange<Float>? = nil, _ setting: String, layer: String) throws {
        guard value.isFinite, range.map({ $0.contains(value) }) ?? true else {
            throw SynapseError.invalidArgument("\(layer) '\(setting)' is \(value), it must be a finite number"
                                               + (range.map { " in \($0.lowerBound)...\($0.upperBound)" } ?? ""))
        }
    }
}

/// The explicit table of layer types an architecture file may name: type name -> config type.
///
/// `LayerRegistry.dense` knows the core layers; Conv and Recurrent add theirs (`.conv`,
/// `.recurrent`), and the umbrella module `Synapse` offers `LayerRegistry.standard`, every layer
/// type Synapse defines. A layer type defined elsewhere joins with `registering(_:)`:
///
///     let registry = LayerRegistry.standard.registering(Scale.Config.self)
///     let model = try Sequential.load(from: url, registry: registry)
///
/// An unknown type name is an error that lists the known ones.
public struct LayerRegistry: Sendable {
    /// The config types by type name.
    public private(set) var types: [String: any LayerConfig.Type]

    /// A registry of `types`, keyed by their `typeName` (a later type of the same name wins).
    public init(_ types: [any LayerConfig.Type]) {
        self.types = [:]
        for type in types { self.types[type.typeName] = type }
    }

    /// The core layer types: `Linear`, `Activation`, `Dropout`, `BatchNorm`, `Identity`, `Add`,
    /// `Concatenate` and `Multiply`.
    public static var dense: LayerRegistry {
        LayerRegistry([Linear.Config.self, Activation.Config.self, Dropout.Config.self, BatchNorm.Config.self,
                       Identity.Config.self, Add.Config.self, Concatenate.Config.self, Multiply.Config.self])
    }

    /// This table and `types` (a type of the same name replaces the one here).
    public func registering(_ types: any LayerConfig.Type...) -> LayerRegistry {
        merging(LayerRegistry(types))
    }

    /// This table and `other`'s types (a type of `other` replaces one of the same name here).
    public func merging(_ other: LayerRegistry) -> LayerRegistry {
        var result = self
        result.types.merge(other.types) { _, new in new }
        return result
    }

    /// The config type saved under `type`, or an error listing the known ones.
    public func configType(named type: String) throws -> any LayerConfig.Type {
        guard let configType = types[type] else {
            throw SynapseError.invalidArgument(
                "unknown layer type '\(type)'; known types: \(types.keys.sorted().joined(separator: ", "))"
                + " (a layer type of your own joins with LayerRegistry.registering)")
        }
        return configType
    }

    /// The validated config of a layer saved as `type` with `options`.
    public func config(type: String, options: LayerOptions) throws -> any LayerConfig {
        try configType(named: type).decode(options: options)
    }

    /// The layer saved as `type` with `options`, built with fresh initial values.
    public func makeLayer(type: String, options: LayerOptions, random: RandomGenerator?) throws -> any Layer {
        try config(type: type, options: options).makeLayer(random: random)
    }
}
