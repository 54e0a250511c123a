import Dense
import Foundation
import SwiftProtobuf

/// Writes a `Sequential` or `Graph` model as an ONNX model (opset 17) for other runtimes.
///
/// The graph has one input, `input`, of shape (N, <model input shape>) and one output, `output`,
/// of shape (N, <model output shape>), N a dynamic batch dimension; both are float32 (an
/// `Embedding` model's input holds the token ids as floats, as in Synapse, cast to int64
/// inside). Weights are initializers under the model's names (`fc1.weight`), in PyTorch's
/// layouts; the recurrent layers' are reshaped to ONNX's (see `exportSimpleRNN`). Dropout is
/// left out (an inference graph).
///
/// Layers and their operators: Linear (Gemm, or MatMul + Add on sequences), Conv2D (Conv),
/// MaxPool2D (MaxPool), AvgPool2D (AveragePool), Activation (Relu, LeakyRelu, Sigmoid, Tanh,
/// Softmax), BatchNorm (BatchNormalization, inference form), Flatten, Embedding (Gather),
/// SimpleRNN (RNN). Another layer type, or a setting ONNX cannot express, is an error naming
/// the layer.
///
///     let data = try ONNXExporter.export(model)              // the ModelProto's bytes
///     try ONNXExporter.write(model, to: URL(fileURLWithPath: "lenet.onnx"))
public enum ONNXExporter {
    /// The operator set version the exported models import.
    public static let opsetVersion = 17
    /// The ONNX IR version that goes with opset 17.
    public static let irVersion = 8

    /// The serialized ONNX `ModelProto` of `model` (a `Sequential` or a `Graph`).
    public static func export(_ model: any Model, graphName: String = "synapse") throws -> Data {
        try modelProto(model, graphName: graphName).serializedData()
    }

    /// Writes `model` as ONNX to `url`, atomically (a temporary file renamed into place).
    public static func write(_ model: any Model, to url: URL, graphName: String = "synapse") throws {
        try AtomicFile.write(try export(model, graphName: graphName), to: url)
    }

    static func modelProto(_ model: any Model, graphName: String) throws -> Onnx_ModelProto {
        let graph: ONNXGraphWriter
        switch model {
        case let sequential as Sequential: graph = try writeChain(sequential)
        case let dag as Graph: graph = try writeGraph(dag)
        default: throw SynapseError.invalidArgument("ONNX export: a \(type(of: model)) is neither a Sequential nor a Graph")
        }
        // The graph's output has a fixed name: an Identity from the last tensor (the input itself
        // for a model without layers).
        var nodes = graph.nodes
        var identity = Onnx_NodeProto()
        (identity.opType, identity.name, identity.input, identity.output) = ("Identity", "output", [graph.current], ["output"])
        nodes.append(identity)

        var proto = Onnx_GraphProto()
        proto.name = graphName
        proto.node = nodes
        proto.initializer = graph.initializers
        proto.input = [valueInfo("input", shape: model.inputShape)]
        proto.output = [valueInfo("output", shape: model.outputShape)]

        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(opsetVersion)
        var result = Onnx_ModelProto()
        result.irVersion = Int64(irVersion)
        result.producerName = "Synapse"
        result.opsetImport = [opset]
        result.graph = proto
        return result
    }

    /// The layers of a `Sequential`, one after another.
    private static func writeChain(_ model: Sequential) throws -> ONNXGraphWriter {
        let graph = ONNXGraphWriter(input: "input", shape: model.inputShape)
        for (index, layer) in model.layers.enumerated() {
            try write(layer, label: "layer \(index + 1) '\(layer.name)' (\(type(of: layer).typeName))", into: graph,
                      expecting: model.outputShapes[index])
        }
        if let mask = graph.paddingMask {
            throw SynapseError.invalidArgument("ONNX export: the padding mask of '\(mask.layer)' reaches no recurrent layer; "
                + "ONNX would drop it (give the Embedding no padding index)")
        }
        return graph
    }

    /// The nodes of a `Graph` in its topological order: each layer reads the ONNX tensors of the
    /// nodes it reads (a node read by several layers is one tensor read several times); a merge
    /// layer (`Add`, `Concatenate`, `Multiply`) is one ONNX node of several inputs. One input
    /// and one output.
    private static func writeGraph(_ model: Graph) throws -> ONNXGraphWriter {
        guard model.inputs.count == 1, model.outputNames.count == 1 else {
            throw SynapseError.invalidArgument("ONNX export: the graph has \(model.inputs.count) inputs and \(model.outputNames.count) "
                + "outputs; graphs of one input and one output are exported")
        }
        let graph = ONNXGraphWriter(input: "input", shape: model.inputShape)
        typealias Flow = (tensor: String, shape: [Int], mask: ONNXGraphWriter.PaddingMask?)
        var flows: [String: Flow] = [model.inputs[0].name: ("input", model.inputShape, nil)]
        for (index, (layer, read)) in zip(model.layers, model.layerInputs).enumerated() {
            let label = "node '\(layer.name)' (\(type(of: layer).typeName))"
            let sources = read.map { flows[$0]! }  // the graph was built in topological order
            if let merge = layer as? any MergeLayer {
                try writeMerge(merge, inputs: sources.map { ($0.tensor, $0.shape) }, label: label, into: graph)
                graph.paddingMask = sources[0].mask
            } else {
                (graph.current, graph.shape, graph.paddingMask) = sources[0]
                try write(layer, label: label, into: graph, expecting: model.outputShapes[index])
            }
            guard graph.shape == model.outputShapes[index] else {
                throw SynapseError.invalidArgument(
                    "ONNX export: \(label) gives \(graph.shape) per sample in ONNX, \(model.outputShapes[index]) in the model")
            }
            flows[layer.name] = (graph.current, graph.shape, graph.paddingMask)
        }
        let output = flows[model.outputNames[0]]!
        if let mask = output.mask {
            throw SynapseError.invalidArgument("ONNX export: the padding mask of '\(mask.layer)' reaches the output through no recurrent "
                + "layer; ONNX would drop it (give the Embedding no padding index)")
        }
        (graph.current, graph.shape, graph.paddingMask) = output
        return graph
    }

    /// One layer of one input through its table entry; `label` names it in errors.
    private static func write(_ layer: any Layer, label: String, into graph: ONNXGraphWriter, expecting shape: [Int]) throws {
        let typeName = type(of: layer).typeName
        guard let mapping = ONNXLayerExports.table[typeName] else {
            throw SynapseError.invalidArgument("ONNX export: \(label) has no ONNX mapping (exported layer types: \(ONNXLayerExports.known))")
        }
        do { try mapping(layer, graph) } catch let error as SynapseError {
            throw SynapseError.invalidArgument("ONNX export: \(label): \(message(of: error))")
        }
        guard graph.shape == shape else {
            throw SynapseError.invalidArgument("ONNX export: \(label) gives \(graph.shape) per sample in ONNX, \(shape) in the model")
        }
    }

    /// A merge layer: `Add`, `Mul` (two inputs each, chained for more) or `Concat` along the
    /// sample axis shifted past the batch axis.
    private static func writeMerge(_ merge: any MergeLayer, inputs: [(tensor: String, shape: [Int])], label: String,
                                   into graph: ONNXGraphWriter) throws {
        let shape: [Int]
        do { shape = try (merge.config as! any MergeLayerConfig).outputShape(for: inputs.map(\.shape)) } catch let error as SynapseError {
            throw SynapseError.invalidArgument("ONNX export: \(label): \(message(of: error))")
        }
        let names = inputs.map(\.tensor)
        switch merge {
        case is Add, is Multiply:
            // ONNX's Add and Mul take two inputs: a sum of more is a chain of them.
            let op = merge is Add ? "Add" : "Mul"
            var sum = names[0]
            for (k, next) in names.dropFirst().enumerated() {
                let last = k == names.count - 2
                let name = last ? merge.name : "\(merge.name)/\(k + 1)"
                sum = graph.addNode(op, name: name, inputs: [sum, next], outputs: [name])[0]
            }
            (graph.current, graph.shape) = (sum, shape)
        case let concatenate as Concatenate:
            let axis = concatenate.config.axis < 0 ? concatenate.config.axis : concatenate.config.axis + 1
            graph.chain("Concat", name: merge.name, inputs: names, attributes: [ONNXAttribute.int("axis", axis)], shape: shape)
        default:
            throw SynapseError.invalidArgument("ONNX export: \(label) is a merge layer with no ONNX mapping (Add, Concatenate, Multiply)")
        }
    }

    /// A float32 tensor of shape (N, sample...), N the dynamic batch dimension.
    static func valueInfo(_ name: String, shape: [Int]) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        let dims = [batch] + shape.map { size -> Onnx_TensorShapeProto.Dimension in
            var d = Onnx_TensorShapeProto.Dimension()
            d.dimValue = Int64(size)
            return d
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape.dim = dims
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }

    /// The message of a `SynapseError` without its kind's prefix.
    static func message(of error: SynapseError) -> String {
        switch error {
        case .shape(let m), .invalidArgument(let m), .data(let m): return m
        case .file(let path, let problem): return "\(path): \(problem)"
        }
    }
}
