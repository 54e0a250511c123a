import Dense
import Foundation
import SwiftProtobuf

/// Writes a `Sequential` model as an ONNX model (opset 17) for other runtimes.
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

    /// The serialized ONNX `ModelProto` of `model`.
    public static func export(_ model: Sequential, graphName: String = "synapse") throws -> Data {
        try modelProto(model, graphName: graphName).serializedData()
    }

    /// Writes `model` as ONNX to `url`, atomically (a temporary file renamed into place).
    public static func write(_ model: Sequential, to url: URL, graphName: String = "synapse") throws {
        try AtomicFile.write(try export(model, graphName: graphName), to: url)
    }

    static func modelProto(_ model: Sequential, graphName: String) throws -> Onnx_ModelProto {
        let graph = ONNXGraphWriter(input: "input", shape: model.inputShape)
        for (index, layer) in model.layers.enumerated() {
            let typeName = type(of: layer).typeName
            let label = "layer \(index + 1) '\(layer.name)' (\(typeName))"
            guard let mapping = ONNXLayerExports.table[typeName] else {
                throw SynapseError.invalidArgument("ONNX export: \(label) has no ONNX mapping (exported layer types: \(ONNXLayerExports.known))")
            }
            do { try mapping(layer, graph) } catch let error as SynapseError {
                throw SynapseError.invalidArgument("ONNX export: \(label): \(message(of: error))")
            }
            guard graph.shape == model.outputShapes[index] else {
                throw SynapseError.invalidArgument(
                    "ONNX export: \(label) gives \(graph.shape) per sample in ONNX, \(model.outputShapes[index]) in the model")
            }
        }
        if let mask = graph.paddingMask {
            throw SynapseError.invalidArgument("ONNX export: the padding mask of '\(mask.layer)' reaches no recurrent layer; "
                + "ONNX would drop it (give the Embedding no padding index)")
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
