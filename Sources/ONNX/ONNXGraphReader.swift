import Dense
import Foundation

/// A layer the importer made from one or more nodes, with the values of its parameters and
/// buffers (in the order of `parameters + buffers`).
struct ImportedLayer {
    var layer: any Layer
    var values: [Tensor]
}

/// Walks an ONNX graph that is a chain, node after node, for the importers in
/// `ONNXNodeImports.table`: the tensor flowing through the chain (`current`, of sample shape
/// `shape`), the constants (initializers and `Constant` nodes, read only when a node asks), and
/// the nodes still to read, so that an importer can take the next node too (MatMul + Add is
/// one Linear).
final class ONNXGraphReader {
    private let nodes: [Onnx_NodeProto]
    private(set) var position = 0
    private var initializers: [String: Onnx_TensorProto]
    /// The tensor the next node must read.
    var current: String
    /// Its shape for one sample.
    var shape: [Int]
    /// Set by an Embedding whose padding mask was packed (`takePacking`): the `sequence_lens`
    /// tensor and the (N, 1) float that is 0 for a sequence of padding only. The recurrent layer
    /// after it consumes it.
    var paddingMask: (lengths: String, hasRealSteps: String)?
    /// Layer names already given, so names taken from weights stay unique.
    private var layerNames = Set<String>()
    /// Folded constants -> the initializer they were computed from (a transposed weight keeps
    /// the weight's name for the layer).
    var aliases: [String: String] = [:]

    init(graph: Onnx_GraphProto, input: String, shape: [Int]) {
        nodes = graph.node
        var table: [String: Onnx_TensorProto] = [:]
        for tensor in graph.initializer { table[tensor.name] = tensor }
        initializers = table
        current = input
        self.shape = shape
    }

    /// The next node, without taking it.
    var next: Onnx_NodeProto? { position < nodes.count ? nodes[position] : nil }

    /// The node taken last.
    var lastTaken: Onnx_NodeProto? { position > 0 ? nodes[position - 1] : nil }

    /// Takes the next node.
    func take() -> Onnx_NodeProto? {
        guard position < nodes.count else { return nil }
        position += 1
        return nodes[position - 1]
    }

    func isConstant(_ name: String) -> Bool { initializers[name] != nil }

    /// Records a `Constant` node's value (or a folded `Transpose` of a constant) under `name`.
    func addConstant(_ tensor: Onnx_TensorProto, name: String) {
        var t = tensor
        t.name = name
        initializers[name] = t
    }

    func constantProto(_ name: String, for node: Onnx_NodeProto) throws -> Onnx_TensorProto {
        guard let t = initializers[name] else {
            throw SynapseError.invalidArgument("input '\(name)' must be a constant (an initializer), it is computed in the graph")
        }
        return t
    }

    /// A constant float tensor a node reads, e.g. a weight.
    func floats(_ name: String, for node: Onnx_NodeProto) throws -> Tensor {
        try ONNXTensorReader.floats(constantProto(name, for: node))
    }

    /// A constant integer tensor a node reads (a shape, axes).
    func integers(_ name: String, for node: Onnx_NodeProto) throws -> [Int64] {
        try ONNXTensorReader.integers(constantProto(name, for: node))
    }

    /// The layer name a weight's name implies (`fc1.weight` -> `fc1`), if it is new and plain;
    /// otherwise "" (the model names the layer).
    func layerName(fromWeight folded: String, suffix: String = ".weight") -> String {
        let weight = aliases[folded] ?? folded
        guard weight.hasSuffix(suffix) else { return "" }
        let name = String(weight.dropLast(suffix.count))
        guard !name.isEmpty, name.count <= 200, !name.contains("/"), !name.contains(":"),
              !layerNames.contains(name) else { return "" }
        layerNames.insert(name)
        return name
    }
}

/// Reading a node's attributes, each checked for its type.
extension Onnx_NodeProto {
    func attribute(_ name: String) -> Onnx_AttributeProto? { attribute.first { $0.name == name } }

    func int(_ name: String, default value: Int) throws -> Int {
        guard let a = attribute(name) else { return value }
        guard a.type == .int, let v = Int(exactly: a.i) else {
            throw SynapseError.invalidArgument("attribute '\(name)' must be an integer")
        }
        return v
    }

    func float(_ name: String, default value: Float) throws -> Float {
        guard let a = attribute(name) else { return value }
        guard a.type == .float, a.f.isFinite else { throw SynapseError.invalidArgument("attribute '\(name)' must be a finite float") }
        return a.f
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = attribute(name) else { return nil }
        guard a.type == .ints, a.ints.count <= 16 else {
            throw SynapseError.invalidArgument("attribute '\(name)' must be a short list of integers")
        }
        return try a.ints.map {
            guard let v = Int(exactly: $0), abs(v) <= LayerLimits.maxDimension else {
                throw SynapseError.invalidArgument("attribute '\(name)' holds \($0), outside +-\(LayerLimits.maxDimension)")
            }
            return v
        }
    }

    func string(_ name: String) throws -> String? {
        guard let a = attribute(name) else { return nil }
        guard a.type == .string, let s = String(data: a.s, encoding: .utf8) else {
            throw SynapseError.invalidArgument("attribute '\(name)' must be a string")
        }
        return s
    }

    /// Throws for any attribute not in `known`: an attribute the importer does not read could
    /// change what the node computes.
    func onlyAttributes(_ known: Set<String>) throws {
        for a in attribute where !known.contains(a.name) {
            throw SynapseError.invalidArgument("attribute '\(a.name)' is not supported (supported: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// The node's label in errors: `node 'name' (OpType)`.
    var label: String { "node '\(name.isEmpty ? output.first ?? "?" : name)' (\(opType))" }
}
