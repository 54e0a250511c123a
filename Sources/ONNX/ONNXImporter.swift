import Dense
import Foundation
import SwiftProtobuf

/// Reads an ONNX model into a `Sequential`, weights included, ready to evaluate or to train on.
///
/// The graph must be a chain: one float32 input of shape (N, ...) with the sample dimensions
/// fixed, each node reading the tensor the node before it wrote (plus constants), one output.
/// A branching graph, an operator outside the set, or an attribute Synapse does not compute is
/// an error naming the file, the node and the operator. Operators and their layers: Gemm and
/// MatMul (+ Add) -> Linear; Conv -> Conv2D; MaxPool, AveragePool -> MaxPool2D, AvgPool2D; Relu,
/// LeakyRelu, Sigmoid, Tanh, Softmax -> Activation; BatchNormalization -> BatchNorm; Flatten and
/// a flattening Reshape -> Flatten; Cast + Gather -> Embedding; Transpose + RNN + Squeeze (+
/// Transpose) -> SimpleRNN (`importTimeMajorRecurrent`); Identity, Dropout and zero Pad are left
/// out; `Constant` nodes and `Transpose` of a constant are folded. Opsets 13 to 23 of the
/// default domain.
///
/// Layers take their names from their weights' (`fc1.weight` -> `fc1`) where those are plain,
/// so models exported by Synapse or PyTorch keep their parameter names.
///
/// Bounded before anything is allocated: the file's size (`maxFileBytes`), every tensor's
/// dimensions and element count (`LayerLimits`), and the stored bytes of every weight against
/// its dimensions.
///
///     let model = try ONNXImporter.read(from: URL(fileURLWithPath: "lenet.onnx"))
public enum ONNXImporter {
    /// The largest file read: 1 GiB.
    public static let maxFileBytes = 1 << 30
    /// The default-domain opsets whose operators mean what the importer reads.
    public static let supportedOpsets: ClosedRange<Int64> = 13...23

    /// Reads the model in `url`; errors name the file.
    public static func read(from url: URL) throws -> Sequential {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
        guard let size else { throw SynapseError.file(path: url.path, problem: "no such file, or it cannot be read") }
        guard size <= maxFileBytes else {
            throw SynapseError.file(path: url.path, problem: "\(size) bytes: more than the \(maxFileBytes) an ONNX model may have here")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot be read: \(error.localizedDescription)")
        }
        return try model(from: data, path: url.path)
    }

    /// Reads a serialized ONNX `ModelProto`; `path` names it in errors.
    public static func model(from data: Data, path: String) throws -> Sequential {
        guard data.count <= maxFileBytes else {
            throw SynapseError.file(path: path, problem: "\(data.count) bytes: more than the \(maxFileBytes) an ONNX model may have here")
        }
        let proto: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            proto = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw SynapseError.file(path: path, problem: "not an ONNX model (the protobuf does not parse: \(error))")
        }
        do {
            return try model(from: proto)
        } catch let error as SynapseError {
            throw SynapseError.file(path: path, problem: ONNXExporter.message(of: error))
        }
    }

    static func model(from proto: Onnx_ModelProto) throws -> Sequential {
        let opsets = proto.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let opset = opsets.first?.version, opsets.count == 1, supportedOpsets.contains(opset) else {
            throw SynapseError.invalidArgument("imports opset \(proto.opsetImport.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain) \($0.version)" }); "
                + "Synapse reads opsets \(supportedOpsets.lowerBound)...\(supportedOpsets.upperBound) of the default domain")
        }
        let graph = proto.graph
        let initializerNames = Set(graph.initializer.map(\.name))
        let constants = initializerNames.union(graph.node.filter { $0.opType == "Constant" }.flatMap(\.output))
        let inputs = graph.input.filter { !initializerNames.contains($0.name) }
        guard inputs.count == 1, let input = inputs.first else {
            throw SynapseError.invalidArgument("the graph has \(inputs.count) inputs (\(inputs.map(\.name))); Synapse imports models of one input")
        }
        guard graph.output.count == 1 else {
            throw SynapseError.invalidArgument("the graph has \(graph.output.count) outputs; Synapse imports models of one output")
        }
        let inputShape = try sampleShape(input)
        guard graph.node.count <= 100_000 else { throw SynapseError.invalidArgument("\(graph.node.count) nodes: too many") }

        // A chain: no computed tensor is read twice (that would be a branch).
        var readers: [String: String] = [:]
        for node in graph.node {
            for name in node.input where !name.isEmpty && !constants.contains(name) {
                if let first = readers[name] {
                    throw SynapseError.invalidArgument("\(node.label) and node '\(first)' both read '\(name)': a branching graph; "
                        + "Synapse imports chains only (one layer after another)")
                }
                readers[name] = node.name.isEmpty ? node.opType : node.name
            }
        }

        let reader = ONNXGraphReader(graph: graph, input: input.name, shape: inputShape)
        var layers: [ImportedLayer] = []
        while let node = reader.take() {
            do {
                if try fold(node, reader) { continue }
                guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                    throw SynapseError.invalidArgument("the operator's domain '\(node.domain)' is not imported")
                }
                guard let importer = ONNXNodeImports.table[node.opType] else {
                    throw SynapseError.invalidArgument("operator not imported (imported: \(ONNXNodeImports.known), Constant and Transpose of a constant)")
                }
                let computed = node.input.filter { !$0.isEmpty && !reader.isConstant($0) }
                guard computed == [reader.current], node.input.first == reader.current else {
                    throw SynapseError.invalidArgument("reads \(computed) where the chain's tensor is '\(reader.current)': "
                        + "a graph that is not a chain; Synapse imports chains only")
                }
                layers += try importer(node, reader)
            } catch let error as SynapseError {
                throw SynapseError.invalidArgument("\(node.label): \(ONNXExporter.message(of: error))")
            }
        }
        guard reader.current == graph.output[0].name else {
            throw SynapseError.invalidArgument("the chain ends at '\(reader.current)', not at the graph's output '\(graph.output[0].name)'")
        }
        let model = try Sequential(inputShape: inputShape, layers.map(\.layer))
        for entry in layers {
            for (parameter, value) in zip(entry.layer.parameters + entry.layer.buffers, entry.values) {
                parameter.value.assign(value)
            }
        }
        return model
    }

    /// A graph input's sample shape: float32, rank 2 or more, the first dimension the batch,
    /// the others fixed and within `LayerLimits`.
    static func sampleShape(_ input: Onnx_ValueInfoProto) throws -> [Int] {
        guard case .tensorType(let tensor)? = input.type.value,
              tensor.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw SynapseError.invalidArgument("the input '\(input.name)' is not a float32 tensor")
        }
        let dims = tensor.shape.dim
        guard dims.count >= 2, dims.count <= 8 else {
            throw SynapseError.invalidArgument("the input '\(input.name)' has \(dims.count) dimensions; (N, ...) of 2 to 8 expected")
        }
        let shape = try dims.dropFirst().map { d -> Int in
            guard case .dimValue(let v)? = d.value, v >= 1, v <= LayerLimits.maxDimension else {
                throw SynapseError.invalidArgument("the input '\(input.name)' needs fixed sample dimensions in 1...\(LayerLimits.maxDimension), got \(dims.dropFirst().map { $0.dimParam.isEmpty ? String($0.dimValue) : $0.dimParam })")
            }
            return Int(v)
        }
        _ = try LayerLimits.elementCount(shape, of: "input")
        return shape
    }

    /// Folds a `Constant` node or a `Transpose` of a constant into the constants; false for
    /// every other node.
    static func fold(_ node: Onnx_NodeProto, _ reader: ONNXGraphReader) throws -> Bool {
        switch node.opType {
        case "Constant":
            guard node.output.count == 1, let a = node.attribute("value"), a.type == .tensor, node.attribute.count == 1 else {
                throw SynapseError.invalidArgument("only a Constant with one tensor 'value' is imported")
            }
            reader.addConstant(a.t, name: node.output[0])
            return true
        case "Transpose" where node.input.count == 1 && reader.isConstant(node.input[0]):
            try node.onlyAttributes(["perm"])
            let t = try reader.floats(node.input[0], for: node)
            guard t.shape.count == 2, try node.ints("perm") ?? [1, 0] == [1, 0], node.output.count == 1 else {
                throw SynapseError.invalidArgument("only the transpose of a constant matrix is folded")
            }
            let folded = transposed(t)
            var proto = Onnx_TensorProto()
            proto.dims = folded.shape.map(Int64.init)
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.floatData = folded.array
            // Keep the weight's name for the layer's name.
            reader.addConstant(proto, name: node.output[0])
            reader.aliases[node.output[0]] = node.input[0]
            return true
        default:
            return false
        }
    }
}
