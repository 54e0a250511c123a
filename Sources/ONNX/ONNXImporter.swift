import Dense
import Foundation
import SwiftProtobuf

/// Reads an ONNX model into a Synapse model, weights included, ready to evaluate or to train on:
/// a `Sequential` when the layers form a chain, a `Graph` when the graph branches (a tensor read
/// by several nodes, merged again by Add, Mul, Sum or Concat).
///
/// The graph has one float32 input of shape (N, ...) with the sample dimensions fixed, and one
/// output; its nodes are in topological order (as ONNX requires). An operator outside the set,
/// or an attribute Synapse does not compute, is an error naming the file, the node and the
/// operator. Operators and their layers: Gemm and MatMul (+ Add) -> Linear; Conv -> Conv2D;
/// MaxPool, AveragePool -> MaxPool2D, AvgPool2D; GlobalAveragePool + Flatten ->
/// GlobalAveragePooling2D; Relu, LeakyRelu, Sigmoid, Tanh, Softmax -> Activation;
/// BatchNormalization -> BatchNorm; Flatten and a flattening Reshape -> Flatten; Cast + Gather ->
/// Embedding; ReduceMean, ReduceMax over axis 1 of (N, T, F) -> SequencePooling; Transpose + RNN, LSTM or GRU + the way back -> SimpleRNN, LSTM, GRU or
/// Bidirectional (`importTimeMajorRecurrent`); Add, Mul and Sum of computed tensors -> Add,
/// Multiply; Concat -> Concatenate; Identity, Dropout and zero Pad are left out; `Constant`
/// nodes and `Transpose` of a constant are folded. Opsets 13 to 23 of the default domain.
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
    public static func read(from url: URL) throws -> any Model {
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
    public static func model(from data: Data, path: String) throws -> any Model {
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

    static func model(from proto: Onnx_ModelProto) throws -> any Model {
        let opsets = proto.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let opset = opsets.first?.version, opsets.count == 1, supportedOpsets.contains(opset) else {
            throw SynapseError.invalidArgument("imports opset \(proto.opsetImport.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain) \($0.version)" }); "
                + "Synapse reads opsets \(supportedOpsets.lowerBound)...\(supportedOpsets.upperBound) of the default domain")
        }
        let graph = proto.graph
        let initializerNames = Set(graph.initializer.map(\.name))
        let inputs = graph.input.filter { !initializerNames.contains($0.name) }
        guard inputs.count == 1, let input = inputs.first else {
            throw SynapseError.invalidArgument("the graph has \(inputs.count) inputs (\(inputs.map(\.name))); Synapse imports models of one input")
        }
        guard graph.output.count == 1 else {
            throw SynapseError.invalidArgument("the graph has \(graph.output.count) outputs; Synapse imports models of one output")
        }
        let inputShape = try sampleShape(input)
        guard graph.node.count <= 100_000 else { throw SynapseError.invalidArgument("\(graph.node.count) nodes: too many") }

        // Each computed ONNX tensor is the output of a Synapse node (the input, or a layer).
        let reader = ONNXGraphReader(graph: graph, input: input.name, shape: inputShape)
        var flows: [String: (node: String, shape: [Int])] = [input.name: (input.name, inputShape)]
        var entries: [(name: String, layer: ImportedLayer, inputs: [String])] = []
        var names = Set([input.name])
        // A layer's name: its weights' (`fc1.weight` -> `fc1`), else its last node's if plain
        // (a Synapse export names every node after its layer), else `<type>_<k>`.
        func add(_ imported: ImportedLayer, reading inputs: [String], node: Onnx_NodeProto) -> String {
            var name = imported.layer.name
            if name.isEmpty, node.name.count <= 200, !node.name.contains("/"), !node.name.contains(":") {
                name = node.name
            }
            if name.isEmpty || names.contains(name) {
                let base = type(of: imported.layer).typeName.lowercased()
                var k = 1
                repeat { name = "\(base)_\(k)"; k += 1 } while names.contains(name)
            }
            names.insert(name)
            imported.layer.name = name
            entries.append((name, imported, inputs))
            return name
        }
        while let node = reader.take() {
            do {
                if try fold(node, reader) { continue }
                guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                    throw SynapseError.invalidArgument("the operator's domain '\(node.domain)' is not imported")
                }
                let computed = node.input.filter { !$0.isEmpty && !reader.isConstant($0) }
                for name in computed where flows[name] == nil {
                    throw SynapseError.invalidArgument("reads '\(name)', which no imported node gives (an intermediate of a layer "
                        + "the importer read as one, or a tensor of operators outside the set)")
                }
                if let merge = try importMerge(node, inputs: computed.map { flows[$0]!.shape }, reader) {
                    let name = add(merge, reading: computed.map { flows[$0]!.node }, node: node)
                    flows[node.output.first ?? ""] = (name, reader.shape)
                    continue
                }
                guard let importer = ONNXNodeImports.table[node.opType] else {
                    throw SynapseError.invalidArgument("operator not imported (imported: \(ONNXNodeImports.known), "
                        + "Add, Concat, Mul, Sum of computed tensors, Constant and Transpose of a constant)")
                }
                guard computed.count == 1, node.input.first == computed[0] else {
                    throw SynapseError.invalidArgument("reads \(computed): one computed tensor, the first input, is imported")
                }
                if reader.paddingMask != nil, node.opType != "Transpose" {
                    throw SynapseError.invalidArgument("an Embedding's padding mask reaches this node, not a recurrent layer")
                }
                let source = flows[computed[0]]!
                (reader.current, reader.shape) = (computed[0], source.shape)
                var last = source.node
                for layer in try importer(node, reader) { last = add(layer, reading: [last], node: reader.lastTaken ?? node) }
                flows[reader.current] = (last, reader.shape)
            } catch let error as SynapseError {
                throw SynapseError.invalidArgument("\(node.label): \(ONNXExporter.message(of: error))")
            }
        }
        guard reader.paddingMask == nil else {
            throw SynapseError.invalidArgument("an Embedding's padding mask reaches no recurrent layer")
        }
        guard let output = flows[graph.output[0].name] else {
            throw SynapseError.invalidArgument("the graph's output '\(graph.output[0].name)' is no tensor the importer made")
        }
        // A chain (each layer reads the one before it, the last is the output) is a Sequential.
        let isChain = entries.enumerated().allSatisfy { k, entry in
            entry.inputs == [k == 0 ? input.name : entries[k - 1].name] && !(entry.layer.layer is any MergeLayer)
        } && output.node == (entries.last?.name ?? input.name)
        let model: any Model
        if isChain {
            model = try Sequential(inputShape: inputShape, entries.map(\.layer.layer))
            for entry in entries {
                for (parameter, value) in zip(entry.layer.layer.parameters + entry.layer.layer.buffers, entry.layer.values) {
                    parameter.value.assign(value)
                }
            }
        } else {
            guard output.node != input.name else {
                throw SynapseError.invalidArgument("the graph's output is its input: no layer reaches it")
            }
            var nodes = [input.name: Node.input(shape: inputShape, name: input.name)]
            for entry in entries {
                let read = entry.inputs.map { nodes[$0]! }
                let config = entry.layer.layer.config
                if let merge = config as? any MergeLayerConfig {
                    nodes[entry.name] = merge(read, name: entry.name)
                } else {
                    nodes[entry.name] = config(read[0], name: entry.name)
                }
            }
            let built = try Graph(inputs: [nodes[input.name]!], outputs: [nodes[output.node]!], random: nil)
            let values = Dictionary(entries.map { ($0.name, $0.layer.values) }, uniquingKeysWith: { a, _ in a })
            for layer in built.layers {
                for (parameter, value) in zip(layer.parameters + layer.buffers, values[layer.name] ?? []) { parameter.value.assign(value) }
            }
            model = built
        }
        return model
    }

    /// Add, Mul or Sum of computed tensors of one shape (Add, Multiply) and Concat of computed
    /// tensors (Concatenate, along the axis less the batch axis): a merge layer, or nil for
    /// every other node (an Add of a constant is a bias, read with its MatMul).
    static func importMerge(_ node: Onnx_NodeProto, inputs shapes: [[Int]], _ reader: ONNXGraphReader) throws -> ImportedLayer? {
        let config: any MergeLayerConfig
        switch node.opType {
        case "Add", "Mul", "Sum":
            guard shapes.count >= 2 || node.opType == "Sum" && shapes.count == 1 else { return nil }
            guard shapes.count == node.input.count else {
                throw SynapseError.invalidArgument("mixes computed tensors and constants: only a merge of computed tensors is imported")
            }
            try node.onlyAttributes([])
            config = node.opType == "Mul" ? Multiply.Config() : Add.Config()
        case "Concat":
            try node.onlyAttributes(["axis"])
            guard shapes.count == node.input.count, shapes.count >= 2 else {
                throw SynapseError.invalidArgument("only a Concat of two or more computed tensors is imported")
            }
            guard let axis = node.attribute("axis"), axis.type == .int, abs(axis.i) <= 16, axis.i != 0,
                  axis.i != -Int64(shapes[0].count + 1) else {
                throw SynapseError.invalidArgument("needs an axis other than the batch axis")
            }
            config = Concatenate.Config(axis: axis.i > 0 ? Int(axis.i) - 1 : Int(axis.i))
        default:
            return nil
        }
        do {
            reader.shape = try config.outputShape(for: shapes)
        } catch let error as SynapseError {
            throw SynapseError.invalidArgument("inputs of shapes \(shapes): \(ONNXExporter.message(of: error))")
        }
        let layer = try config.makeLayer(random: nil)
        return ImportedLayer(layer: layer, values: [])
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
