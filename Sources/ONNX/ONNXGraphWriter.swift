import Dense
import Foundation

/// The ONNX graph being written from a model, layer after layer: its nodes, its initializers, and
/// the tensor that flows from one layer to the next (`current`, of sample shape `shape`; the
/// batch dimension is the dynamic first axis `N` everywhere).
///
/// A layer's mapping (`ONNXLayerExport`) reads `current`, appends nodes and initializers, and
/// sets `current` and `shape` to its output. Names are unique in the graph: weights keep the
/// model's names (`fc1.weight`); the tensors between nodes are `<layer>` or `<layer>/<what>`.
final class ONNXGraphWriter {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var names = Set<String>()
    /// Node names: a namespace of their own in ONNX.
    private var nodeNames = Set<String>()
    /// The tensor the next layer reads.
    var current: String
    /// Its shape for one sample.
    var shape: [Int]
    /// Set by an `Embedding` with a padding index: the int64 ids (N, T) a padding mask comes
    /// from, the padding id and the layer that set it. A recurrent layer after it consumes it.
    var paddingMask: PaddingMask?
    typealias PaddingMask = (ids: String, paddingIndex: Int, layer: String)

    init(input: String, shape: [Int]) {
        current = input
        self.shape = shape
        names.insert(input)
    }

    /// A tensor name: `base`, or `base_2`, `base_3`... if taken.
    func uniqueName(_ base: String) -> String { ONNXGraphWriter.unique(base, in: &names) }

    private static func unique(_ base: String, in taken: inout Set<String>) -> String {
        var name = base
        var k = 1
        while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
        taken.insert(name)
        return name
    }

    /// A float initializer of `shape` holding `values` (row-major), under `name` as given.
    func addInitializer(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == values.count, "initializer '\(name)': \(values.count) values for shape \(shape)")
        names.insert(name)
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var raw = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        tensor.rawData = raw
        initializers.append(tensor)
    }

    /// A parameter's value as an initializer under its own name, with `shape` (the parameter's
    /// shape by default; another shape with the same element count re-reads the same values).
    func addInitializer(_ parameter: Parameter, shape: [Int]? = nil) -> String {
        let t = parameter.value
        addInitializer(parameter.name, shape: shape ?? t.shape,
                       values: UnsafeBufferPointer(start: t.data, count: t.shape.reduce(1, *)))
        return parameter.name
    }

    /// An int64 constant (a shape, axes, an index) as an initializer; `shape` nil is a 1-D tensor.
    func addInt64(_ base: String, _ values: [Int64], shape: [Int]? = nil) -> String {
        let name = uniqueName(base)
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = (shape ?? [values.count]).map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        tensor.int64Data = values
        initializers.append(tensor)
        return name
    }

    /// Appends a node; its outputs are new unique names from `outputs` (an empty string is an
    /// omitted optional output). Returns the output names.
    @discardableResult
    func addNode(_ opType: String, name: String, inputs: [String], outputs: [String],
                 attributes: [Onnx_AttributeProto] = []) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = ONNXGraphWriter.unique(name, in: &nodeNames)
        node.input = inputs
        node.output = outputs.map { $0.isEmpty ? "" : uniqueName($0) }
        node.attribute = attributes
        nodes.append(node)
        return node.output
    }

    /// A node with one output, which becomes `current`; the sample shape becomes `shape`.
    func chain(_ opType: String, name: String, inputs: [String], attributes: [Onnx_AttributeProto] = [], shape: [Int]) {
        current = addNode(opType, name: name, inputs: inputs, outputs: [name], attributes: attributes)[0]
        self.shape = shape
    }
}

/// Attribute constructors for nodes.
enum ONNXAttribute {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(value.utf8)
        return a
    }

    static func strings(_ name: String, _ values: [String]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .strings
        a.strings = values.map { Data($0.utf8) }
        return a
    }
}
