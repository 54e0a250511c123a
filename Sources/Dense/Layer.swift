/// One step of a network: maps a batch to a batch and back-propagates through it.
///
/// The contract, for every layer in Synapse:
/// - `forward` maps an input batch (first dimension N) to an output batch and caches what
///   `backward` needs. Returned tensors are the layer's own buffers, reused from call to call:
///   they stay valid until the layer's next `forward`.
/// - `backward` takes dLoss/dOutput of the last forward, returns dLoss/dInput, and *adds* the
///   gradients of its parameters into their `gradient` tensors.
/// - `outputShape(for:)` gives the output shape of one sample (batch dimension excluded) or throws
///   a `SynapseError.shape` naming the problem, so a model is checked before it runs.
/// - `options` and `init(options:random:)` save and rebuild the architecture (see `LayerRegistry`).
public protocol Layer: AnyObject {
    /// The type name in saved configurations, e.g. `Linear`.
    static var typeName: String { get }
    /// Unique within a model; prefixes the parameter names (`fc1.weight`).
    var name: String { get set }
    /// Trainable parameters, in a fixed order.
    var parameters: [Parameter] { get }
    /// Saved but not trained (BatchNorm's running statistics).
    var buffers: [Parameter] { get }
    /// What is needed to rebuild the layer, for the JSON architecture file.
    var options: LayerOptions { get }
    /// The type as `summary()` shows it (`ReLU` for an `Activation`); `typeName` by default.
    var displayTypeName: String { get }

    init(options: LayerOptions, random: RandomGenerator) throws
    /// The shapes of the parameters and buffers a layer built from `options` holds, by their
    /// local names (`weight`, `running_mean`), computed without allocating anything; it checks
    /// the options as `init(options:random:)` does. `Sequential.load` compares them with the
    /// weight file's header before it builds a layer. Nil (the default) when a layer type does
    /// not say; layers without parameters return `[:]`.
    static func stateShapes(options: LayerOptions) throws -> [String: [Int]]?
    func outputShape(for inputShape: [Int]) throws -> [Int]
    func forward(_ input: Tensor, training: Bool) -> Tensor
    func backward(_ outputGradient: Tensor) -> Tensor
    /// Backward for a model's first layer, whose input gradient nobody needs: accumulates the
    /// parameter gradients only. Defaults to `backward`; layers that can skip work override it.
    func backwardParameters(_ outputGradient: Tensor)
    /// Hands the layer the generator behind its random draws (dropout masks).
    func attach(random: RandomGenerator)
    /// A new layer of the same type, settings, name, parameter and buffer values (copied) and
    /// any other state (an RNN's `initialState`), sharing no storage and no working buffers with
    /// this one: `DataParallel` runs one per worker. The default rebuilds the layer from
    /// `options` and copies the parameters and buffers; a layer that holds more overrides it.
    func clone() throws -> any Layer
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [Parameter] { [] }
    public func attach(random: RandomGenerator) {}
    public func backwardParameters(_ outputGradient: Tensor) { _ = backward(outputGradient) }
    public var displayTypeName: String { Self.typeName }
    public static func stateShapes(options: LayerOptions) throws -> [String: [Int]]? { nil }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    public func clone() throws -> any Layer {
        let copy = try Self(options: options, random: RandomGenerator(seed: 0))
        copy.copyState(from: self)
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
    var inputMask: Tensor? { get set }
    var outputMask: Tensor? { get }
}

/// A value in a layer's saved configuration.
public enum ConfigValue: Codable, Equatable, Sendable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case numbers([Double])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let d = try? container.decode(Double.self) { self = .number(d) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else { self = .numbers(try container.decode([Double].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .bool(let b): try container.encode(b)
        case .numbers(let a): try container.encode(a)
        }
    }
}

public typealias LayerOptions = [String: ConfigValue]

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

    /// Throws unless `value` lies in `range`, naming the layer and the argument.
    public static func check(_ value: Int, in range: ClosedRange<Int>, _ argument: String, layer: String) throws {
        guard range.contains(value) else {
            throw SynapseError.invalidArgument("\(layer) \(argument) is \(value), it must be in \(range.lowerBound)...\(range.upperBound)")
        }
    }
}

extension Dictionary where Key == String, Value == ConfigValue {
    /// A whole number option in `range` (by default 0...`LayerLimits.maxDimension`), or an error
    /// naming the option. Infinite, fractional or out-of-range numbers are rejected before any
    /// conversion to `Int`.
    public func int(_ key: String, in range: ClosedRange<Int> = 0...LayerLimits.maxDimension) throws -> Int {
        guard case .number(let d)? = self[key] else {
            throw SynapseError.invalidArgument("layer option '\(key)' must be a whole number")
        }
        return try Self.whole(d, key: key, range: range)
    }

    /// A finite number option in `range` (any finite number by default), or an error naming it.
    public func float(_ key: String, in range: ClosedRange<Double>? = nil) throws -> Float {
        guard case .number(let d)? = self[key] else {
            throw SynapseError.invalidArgument("layer option '\(key)' must be a number")
        }
        guard d.isFinite, abs(d) <= Double(Float.greatestFiniteMagnitude), range.map({ $0.contains(d) }) ?? true else {
            throw SynapseError.invalidArgument("layer option '\(key)' is \(d), it must be a finite number"
                                               + (range.map { " in \($0.lowerBound)...\($0.upperBound)" } ?? ""))
        }
        return Float(d)
    }

    public func bool(_ key: String) throws -> Bool {
        guard case .bool(let b)? = self[key] else {
            throw SynapseError.invalidArgument("layer option '\(key)' must be true or false")
        }
        return b
    }

    public func string(_ key: String) throws -> String {
        guard case .string(let s)? = self[key] else {
            throw SynapseError.invalidArgument("layer option '\(key)' must be a string")
        }
        return s
    }

    /// A list of `count` whole numbers (any length when nil), each in `range`.
    public func ints(_ key: String, count: Int? = nil,
                     in range: ClosedRange<Int> = 0...LayerLimits.maxDimension) throws -> [Int] {
        guard case .numbers(let a)? = self[key], count.map({ a.count == $0 }) ?? true else {
            throw SynapseError.invalidArgument("layer option '\(key)' must be a list of "
                                               + (count.map { "\($0) " } ?? "") + "whole numbers")
        }
        return try a.map { try Self.whole($0, key: key, range: range) }
    }

    private static func whole(_ d: Double, key: String, range: ClosedRange<Int>) throws -> Int {
        // Checked in Double first: Int(d) traps for anything at or beyond 2^63, and NaN.
        guard d.isFinite, d == d.rounded(), d >= -0x1p62, d <= 0x1p62, range.contains(Int(d)) else {
            throw SynapseError.invalidArgument(
                "layer option '\(key)' is \(d), it must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(d)
    }
}

/// The explicit table of layer types a saved architecture may name.
///
/// `LayerRegistry.dense` knows the core layers; Conv and Recurrent add theirs, and the umbrella
/// module `Synapse` offers one table of them all. `LayerRegistry.linked` (what `Sequential.load`
/// uses by default) knows every layer type linked into the program. An unknown type name lists
/// the known ones.
public struct LayerRegistry {
    public private(set) var types: [String: any Layer.Type]
    /// Also find types by name in `LayerRegistry.linkedModules` (see `linked`).
    public private(set) var searchesLinkedModules = false

    public init(_ types: [any Layer.Type]) {
        self.types = Dictionary(uniqueKeysWithValues: types.map { ($0.typeName, $0) })
    }

    public static var dense: LayerRegistry { LayerRegistry([Linear.self, Activation.self, Dropout.self, BatchNorm.self]) }

    /// The core layers and every layer type of Synapse's other modules (Conv, Recurrent) linked
    /// into the program, without the caller naming them.
    ///
    /// Swift runs no code when a module loads (no static initialisers), so Conv and Recurrent
    /// cannot add themselves to a table before `load` runs; instead a type name this table lacks
    /// is looked up at run time as `<module>.<type>` in `linkedModules`, and found only if that
    /// module is linked into the program.
    public static var linked: LayerRegistry {
        var registry = LayerRegistry.dense
        registry.searchesLinkedModules = true
        return registry
    }

    /// The modules `linked` searches, in order.
    public static let linkedModules = ["Dense", "Conv", "Recurrent"]

    public func merging(_ other: LayerRegistry) -> LayerRegistry {
        var result = self
        result.types.merge(other.types) { _, new in new }
        result.searchesLinkedModules = searchesLinkedModules || other.searchesLinkedModules
        return result
    }

    /// The layer type saved under `type`, or an error listing the known ones.
    public func layerType(named type: String) throws -> any Layer.Type {
        guard let layerType = types[type] ?? (searchesLinkedModules ? LayerRegistry.linkedType(named: type) : nil) else {
            let modules = searchesLinkedModules
                ? " (or a layer type of the modules \(LayerRegistry.linkedModules.joined(separator: ", ")) linked into the program)"
                : ""
            throw SynapseError.invalidArgument(
                "unknown layer type '\(type)'; known types: \(types.keys.sorted().joined(separator: ", "))\(modules)")
        }
        return layerType
    }

    public func makeLayer(type: String, options: LayerOptions, random: RandomGenerator) throws -> any Layer {
        try layerType(named: type).init(options: options, random: random)
    }

    /// The `Layer` type called `name` (its `typeName`) in one of `linkedModules`, if linked in.
    static func linkedType(named name: String) -> (any Layer.Type)? {
        // A saved file is not trusted: only plain identifiers reach the run-time lookup.
        guard !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) || $0 == "_" })
        else { return nil }
        for module in linkedModules {
            if let type = _typeByName("\(module).\(name)") as? any Layer.Type, type.typeName == name { return type }
        }
        return nil
    }
}
