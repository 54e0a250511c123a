import Conv
import Dense
import Foundation
import Recurrent

/// How one ONNX operator becomes Synapse layers: reads `node` (already taken; its data input is
/// `graph.current`), may take the nodes after it that belong to the same layer, and returns
/// the layers (none for an identity), leaving `graph.current` and `graph.shape` at their output.
/// Throws `SynapseError.invalidArgument` for an attribute or input outside what Synapse
/// computes; the importer prefixes the node's name and operator.
typealias ONNXNodeImport = @Sendable (_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer]

/// The operators the importer knows: one table, as the exporter's (`ONNXLayerExports`).
enum ONNXNodeImports {
    static let table: [String: ONNXNodeImport] = [
        "Identity": importIdentity, "Dropout": importIdentity,
        "Gemm": importGemm, "MatMul": importMatMul,
        "Conv": importConv, "MaxPool": importPool, "AveragePool": importPool,
        "Relu": importActivation, "LeakyRelu": importActivation, "Sigmoid": importActivation,
        "Tanh": importActivation, "Softmax": importActivation,
        "BatchNormalization": importBatchNormalization,
        "Flatten": importFlatten, "Reshape": importReshape,
        "GlobalAveragePool": importGlobalAveragePool,
        "ReduceMean": importReduction, "ReduceMax": importReduction,
        "Cast": importEmbedding, "Pad": importZeroPad, "Transpose": importTimeMajorRecurrent,
    ]

    static var known: String { table.keys.sorted().joined(separator: ", ") }
}

/// The node's output becomes `current`; the sample shape becomes `shape`.
private func advance(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader, shape: [Int]) {
    graph.current = node.output.first ?? ""
    graph.shape = shape
}

/// Builds `layer`, checks its output shape against the input and advances the chain.
private func imported(_ layer: any Layer, _ values: [Tensor], after node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    let shape = try layer.outputShape(for: graph.shape)
    let expected = layer.parameters + layer.buffers
    guard expected.count == values.count else {
        throw SynapseError.invalidArgument("\(values.count) weight tensors for \(expected.count) parameters")
    }
    for (p, v) in zip(expected, values) where p.shape != v.shape {
        throw SynapseError.invalidArgument("weight of shape \(v.shape) where the layer needs \(p.shape)")
    }
    advance(node, graph, shape: shape)
    return [ImportedLayer(layer: layer, values: values)]
}

/// Identity and Dropout (inference): no layer.
func importIdentity(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    if node.opType == "Dropout" {
        try node.onlyAttributes(["seed"])
        // The optional ratio and training_mode inputs: training mode must not be on.
        if node.input.count > 2, !node.input[2].isEmpty {
            guard try graph.integers(node.input[2], for: node).allSatisfy({ $0 == 0 }) else {
                throw SynapseError.invalidArgument("training_mode is on: Synapse imports inference graphs")
            }
        }
    } else {
        try node.onlyAttributes([])
    }
    advance(node, graph, shape: graph.shape)
    return []
}

/// Gemm: `x W^T + b` (transB 1) or `x W + b` (transB 0), alpha and beta 1, on (N, F): Linear.
func importGemm(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["alpha", "beta", "transA", "transB"])
    guard try node.float("alpha", default: 1) == 1, try node.float("beta", default: 1) == 1,
          try node.int("transA", default: 0) == 0 else {
        throw SynapseError.invalidArgument("only alpha 1, beta 1 and transA 0 are imported")
    }
    guard graph.shape.count == 1 else { throw SynapseError.invalidArgument("Gemm on (N, \(graph.shape)): (N, F) expected") }
    guard node.input.count >= 2 else { throw SynapseError.invalidArgument("needs inputs A and B") }
    var weight = try graph.floats(node.input[1], for: node)
    guard weight.shape.count == 2 else { throw SynapseError.invalidArgument("B has shape \(weight.shape), not 2-D") }
    let transB = try node.int("transB", default: 0)
    guard transB == 0 || transB == 1 else { throw SynapseError.invalidArgument("transB is \(transB)") }
    if transB == 0 { weight = transposed(weight) }
    var values = [weight]
    if node.input.count > 2, !node.input[2].isEmpty {
        let bias = try graph.floats(node.input[2], for: node)
        guard bias.count == weight.shape[0], bias.shape.filter({ $0 != 1 }).count <= 1 else {
            throw SynapseError.invalidArgument("C has shape \(bias.shape); a bias of \(weight.shape[0]) is expected")
        }
        values.append(bias.reshaped([weight.shape[0]]))
    }
    let name = graph.layerName(fromWeight: node.input[1])
    let config = Linear.Config(inputFeatures: weight.shape[1], outputFeatures: weight.shape[0], bias: values.count == 2)
    return try imported(Linear(config, random: nil, name: name), values, after: node, graph)
}

/// MatMul by a constant (in, out), with the `Add` of a constant bias after it if there is one:
/// a Linear on the last axis. A constant computed by `Transpose` of a weight was folded first.
func importMatMul(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes([])
    guard node.input.count == 2, node.input[0] == graph.current else {
        throw SynapseError.invalidArgument("only the chain's tensor times a constant matrix is imported")
    }
    let matrix = try graph.floats(node.input[1], for: node)
    guard matrix.shape.count == 2 else { throw SynapseError.invalidArgument("the matrix has shape \(matrix.shape), not 2-D") }
    var values = [transposed(matrix)]
    var last = node
    if let add = graph.next, add.opType == "Add", add.input.count == 2, let product = node.output.first,
       add.input.contains(product), let other = add.input.first(where: { $0 != product }), graph.isConstant(other) {
        let bias = try graph.floats(other, for: add)
        if bias.count == matrix.shape[1], bias.shape.filter({ $0 != 1 }).count <= 1 {
            _ = graph.take()
            values.append(bias.reshaped([matrix.shape[1]]))
            last = add
        }
    }
    let name = graph.layerName(fromWeight: node.input[1])
    let config = Linear.Config(inputFeatures: matrix.shape[0], outputFeatures: matrix.shape[1], bias: values.count == 2)
    return try imported(Linear(config, random: nil, name: name), values, after: last, graph)
}

/// The transpose of a 2-D tensor.
func transposed(_ t: Tensor) -> Tensor {
    let (rows, columns) = (t.shape[0], t.shape[1])
    let values = t.array
    var out = [Float](repeating: 0, count: values.count)
    for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
    return Tensor(shape: [columns, rows], values: out)
}

/// The (height, width) pairs of a 2-D window: kernel, strides, symmetric pads; dilations 1,
/// auto_pad NOTSET (or VALID without pads).
private func window(_ node: Onnx_NodeProto, kernel: (Int, Int)?) throws -> (kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) {
    if let autoPad = try node.string("auto_pad"), autoPad != "NOTSET", autoPad != "VALID" {
        throw SynapseError.invalidArgument("auto_pad \(autoPad) is not imported (give explicit pads)")
    }
    if let dilations = try node.ints("dilations"), dilations.contains(where: { $0 != 1 }) {
        throw SynapseError.invalidArgument("dilations \(dilations): only 1 is imported")
    }
    let shape = try node.ints("kernel_shape")
    guard let k = shape.map({ $0.count == 2 ? ($0[0], $0[1]) : nil }) ?? kernel else {
        throw SynapseError.invalidArgument("kernel_shape \(shape ?? []): a 2-D kernel expected")
    }
    let strides = try node.ints("strides") ?? [1, 1]
    let pads = try node.ints("pads") ?? [0, 0, 0, 0]
    guard strides.count == 2, pads.count == 4 else { throw SynapseError.invalidArgument("strides \(strides), pads \(pads): 2-D expected") }
    guard pads[0] == pads[2], pads[1] == pads[3] else {
        throw SynapseError.invalidArgument("pads \(pads) are not symmetric: Synapse pads both sides alike")
    }
    return (k, (strides[0], strides[1]), (pads[0], pads[1]))
}

/// Conv (2-D, group 1): Conv2D.
func importConv(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
    guard try node.int("group", default: 1) == 1 else { throw SynapseError.invalidArgument("group is not 1: only plain convolutions are imported") }
    guard node.input.count >= 2 else { throw SynapseError.invalidArgument("needs inputs X and W") }
    let weight = try graph.floats(node.input[1], for: node)
    guard weight.shape.count == 4 else { throw SynapseError.invalidArgument("W has shape \(weight.shape), not (M, C, kH, kW)") }
    let w = try window(node, kernel: (weight.shape[2], weight.shape[3]))
    guard w.kernel == (weight.shape[2], weight.shape[3]) else {
        throw SynapseError.invalidArgument("kernel_shape \(w.kernel) does not match W \(weight.shape)")
    }
    var values = [weight]
    if node.input.count > 2, !node.input[2].isEmpty { values.append(try graph.floats(node.input[2], for: node)) }
    let config = try Conv2D.Config(inputChannels: weight.shape[1], outputChannels: weight.shape[0], kernelSize: w.kernel,
                                   stride: w.stride, padding: .explicit(w.padding.0, w.padding.1), bias: values.count == 2)
    let layer = try Conv2D(config, random: nil, name: graph.layerName(fromWeight: node.input[1]))
    return try imported(layer, values, after: node, graph)
}

/// MaxPool and AveragePool (2-D, floor rounding; average with count_include_pad 1 when padded).
func importPool(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads",
                             "storage_order", "strides"])
    guard try node.int("ceil_mode", default: 0) == 0 else { throw SynapseError.invalidArgument("ceil_mode 1 is not imported") }
    guard try node.int("storage_order", default: 0) == 0 else { throw SynapseError.invalidArgument("storage_order 1 is not imported") }
    guard node.output.count == 1 || node.output.dropFirst().allSatisfy(\.isEmpty) else {
        throw SynapseError.invalidArgument("the Indices output is not imported")
    }
    let w = try window(node, kernel: nil)
    let window = PoolingWindow(kernel: w.kernel, stride: w.stride, padding: w.padding)
    if node.opType == "MaxPool" {
        return try imported(MaxPool2D(MaxPool2D.Config(window: window)), [], after: node, graph)
    }
    guard try node.int("count_include_pad", default: 0) == 1 || w.padding == (0, 0) else {
        throw SynapseError.invalidArgument("padding left out of the average (count_include_pad 0) is not imported")
    }
    return try imported(AvgPool2D(AvgPool2D.Config(window: window)), [], after: node, graph)
}

/// Relu, LeakyRelu, Sigmoid, Tanh, Softmax (over the last axis): Activation.
func importActivation(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    let function: Activation.Function
    switch node.opType {
    case "Relu": try node.onlyAttributes([]); function = .relu
    case "LeakyRelu": try node.onlyAttributes(["alpha"]); function = .leakyReLU(alpha: try node.float("alpha", default: 0.01))
    case "Sigmoid": try node.onlyAttributes([]); function = .sigmoid
    case "Tanh": try node.onlyAttributes([]); function = .tanh
    default:
        try node.onlyAttributes(["axis"])
        let axis = try node.int("axis", default: -1)
        guard axis == -1 || axis == graph.shape.count else {
            throw SynapseError.invalidArgument("axis \(axis): Synapse's softmax is over the last axis")
        }
        function = .softmax
    }
    return try imported(Activation(function), [], after: node, graph)
}

/// BatchNormalization (inference form) on (N, C) or (N, C, H, W): BatchNorm.
func importBatchNormalization(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["epsilon", "momentum", "training_mode"])
    guard try node.int("training_mode", default: 0) == 0 else { throw SynapseError.invalidArgument("training_mode 1 is not imported") }
    guard node.input.count == 5 else { throw SynapseError.invalidArgument("needs X, scale, B, mean and var") }
    let values = try node.input[1...4].map { try graph.floats($0, for: node) }
    guard let features = values.first?.count, values.allSatisfy({ $0.shape == [features] }) else {
        throw SynapseError.invalidArgument("scale, B, mean and var must be vectors of one length, got \(values.map(\.shape))")
    }
    let epsilon = try node.float("epsilon", default: 1e-5)
    // ONNX's momentum weighs the old statistics; Synapse's (PyTorch's) the new batch.
    let momentum = 1 - (try node.float("momentum", default: 0.9))
    guard epsilon > 0, momentum >= 0, momentum <= 1 else {
        throw SynapseError.invalidArgument("epsilon \(epsilon) must be positive and momentum within 0...1")
    }
    let name = graph.layerName(fromWeight: node.input[1])
    let layer = try BatchNorm(BatchNorm.Config(features: features, momentum: momentum, epsilon: epsilon), name: name)
    return try imported(layer, values, after: node, graph)
}

/// Flatten (axis 1): Flatten.
func importFlatten(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["axis"])
    guard try node.int("axis", default: 1) == 1 else { throw SynapseError.invalidArgument("only axis 1 is imported") }
    return try imported(Flatten(), [], after: node, graph)
}

/// Reshape to (N, features) by a constant shape ([0 or -1 or N, -1 or features]): Flatten.
func importReshape(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["allowzero"])
    guard node.input.count == 2 else { throw SynapseError.invalidArgument("needs data and shape") }
    let target = try graph.integers(node.input[1], for: node)
    let features = graph.shape.reduce(1, *)
    guard target.count == 2, target[1] == -1 || target[1] == Int64(features), target[0] == 0 || target[0] == -1 && target[1] != -1 else {
        throw SynapseError.invalidArgument("shape \(target): only a flattening reshape to (N, \(features)) is imported")
    }
    return try imported(Flatten(), [], after: node, graph)
}

/// Cast to int64 followed by Gather from a constant table (axis 0): Embedding (the ids stay
/// floats in Synapse).
func importEmbedding(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["to", "saturate"])
    let int64 = Onnx_TensorProto.DataType.int64.rawValue, int32 = Onnx_TensorProto.DataType.int32.rawValue
    let to = try node.int("to", default: 0)
    guard to == int64 || to == int32, let ids = node.output.first, let gather = graph.next, gather.opType == "Gather",
          gather.input.count == 2, gather.input[1] == ids else {
        throw SynapseError.invalidArgument("a Cast is imported only as the ids of an Embedding: a cast to int64 read by a Gather")
    }
    _ = graph.take()
    do {
        try gather.onlyAttributes(["axis"])
        guard try gather.int("axis", default: 0) == 0 else { throw SynapseError.invalidArgument("only axis 0 is imported") }
        let table = try graph.floats(gather.input[0], for: gather)
        guard table.shape.count == 2 else { throw SynapseError.invalidArgument("the table has shape \(table.shape), not 2-D") }
        var paddingIndex: Int?
        var packed: String?
        if let equal = graph.next, equal.opType == "Equal", equal.input.first == ids, let embedded = gather.output.first {
            let mask = try takePacking(ids: ids, embedded: embedded, steps: graph.shape.first ?? 0, graph)
            (paddingIndex, packed) = (mask.paddingIndex, mask.packed)
            guard (0..<table.shape[0]).contains(mask.paddingIndex) else {
                throw SynapseError.invalidArgument("padding id \(mask.paddingIndex) is outside the table's \(table.shape[0]) rows")
            }
            graph.paddingMask = (mask.lengths, mask.hasRealSteps)
        }
        let config = Embedding.Config(vocabularySize: table.shape[0], dimension: table.shape[1], paddingIndex: paddingIndex)
        let layer = try Embedding(config, random: nil, name: graph.layerName(fromWeight: gather.input[0]))
        let result = try imported(layer, [table], after: gather, graph)
        if let packed { graph.current = packed }
        return result
    } catch let error as SynapseError {
        throw SynapseError.invalidArgument("\(gather.label): \(ONNXExporter.message(of: error))")
    }
}

/// Pad by zero amounts (PyTorch writes one before an AveragePool): no layer. Real padding is
/// refused (Synapse pads inside its convolution and pooling layers).
func importZeroPad(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["mode"])
    guard try node.string("mode") ?? "constant" == "constant", node.input.count >= 2,
          try graph.integers(node.input[1], for: node).allSatisfy({ $0 == 0 }) else {
        throw SynapseError.invalidArgument("only a Pad of zero amounts is imported (pad inside Conv or the pooling instead)")
    }
    advance(node, graph, shape: graph.shape)
    return []
}

/// ReduceMean or ReduceMax over the time axis of (N, T, F) without keeping it: a
/// `SequencePooling`. The axes come as the attribute (opsets 13-17) or the second input (18 on).
func importReduction(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["axes", "keepdims", "noop_with_empty_axes"])
    guard graph.shape.count == 2 else {
        throw SynapseError.invalidArgument("on (N, \(graph.shape)): only the time axis of (N, T, F) is reduced")
    }
    let axes = try node.ints("axes") ?? (node.input.count > 1 && !node.input[1].isEmpty
        ? try graph.integers(node.input[1], for: node).map { Int($0) } : [])
    guard axes == [1] || axes == [-2], try node.int("keepdims", default: 1) == 0,
          try node.int("noop_with_empty_axes", default: 0) == 0 else {
        throw SynapseError.invalidArgument("only the reduction of axis 1 with keepdims 0 is imported (got axes \(axes))")
    }
    let pool = SequencePooling(node.opType == "ReduceMean" ? .mean : .max)
    return try imported(pool, [], after: node, graph)
}

/// GlobalAveragePool on (N, C, H, W), then the Flatten (axis 1), flattening Reshape or
/// Squeeze of axes [2, 3] that makes its (N, C, 1, 1) an (N, C): GlobalAveragePooling2D.
func importGlobalAveragePool(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes([])
    guard graph.shape.count == 3 else { throw SynapseError.invalidArgument("on (N, \(graph.shape)): (N, C, H, W) expected") }
    guard let pooled = node.output.first, let next = graph.next, next.input.first == pooled,
          ["Flatten", "Reshape", "Squeeze"].contains(next.opType) else {
        throw SynapseError.invalidArgument("is imported only with the Flatten, Reshape or Squeeze to (N, C) after it")
    }
    _ = graph.take()
    do {
        switch next.opType {
        case "Flatten":
            try next.onlyAttributes(["axis"])
            guard try next.int("axis", default: 1) == 1 else { throw SynapseError.invalidArgument("only axis 1 is imported") }
        case "Reshape":
            try next.onlyAttributes(["allowzero"])
            let channels = Int64(graph.shape[0])
            guard next.input.count == 2, [[0, -1], [0, channels], [-1, channels]].contains(try graph.integers(next.input[1], for: next)) else {
                throw SynapseError.invalidArgument("only a reshape to (N, \(channels)) is imported")
            }
        default:
            try next.onlyAttributes([])
            guard next.input.count == 2, Set(try graph.integers(next.input[1], for: next)) == [2, 3] else {
                throw SynapseError.invalidArgument("only the squeeze of axes 2 and 3 is imported")
            }
        }
    } catch let error as SynapseError {
        throw SynapseError.invalidArgument("\(next.label): \(ONNXExporter.message(of: error))")
    }
    return try imported(GlobalAveragePooling2D(), [], after: next, graph)
}

/// The nodes `exportRecurrent` writes after an Embedding with a padding index (see
/// `packRealSteps`): the ids compared with the padding id, the real steps of each sequence moved
/// to the front, their count as `sequence_lens`, and whether a sequence has any. Taken as one
/// with the Embedding: the op types in that order, the padding id a constant scalar, the keys'
/// constants those of `steps` steps, the packed tensor gathered from the Embedding's output.
private func takePacking(ids: String, embedded: String, steps: Int, _ graph: ONNXGraphReader) throws
    -> (paddingIndex: Int, packed: String, lengths: String, hasRealSteps: String) {
    let ops = ["Equal", "Not", "Cast", "Mul", "Add", "TopK", "Unsqueeze", "Shape", "Expand", "GatherElements",
               "ReduceSum", "Max", "Cast", "Greater", "Cast", "Unsqueeze"]
    var nodes: [Onnx_NodeProto] = []
    for op in ops {
        guard let node = graph.next, node.opType == op, !node.output.isEmpty else {
            throw SynapseError.invalidArgument("the padding mask after the Embedding is imported only as Synapse's export writes it "
                + "(\(ops.joined(separator: ", "))): \(graph.next.map(\.label) ?? "the end") breaks it")
        }
        nodes.append(graph.take()!)
    }
    func constant(_ node: Int, _ input: Int) throws -> [Int64] {
        guard nodes[node].input.count > input else { throw SynapseError.invalidArgument("\(nodes[node].label) lacks an input") }
        return try graph.integers(nodes[node].input[input], for: nodes[node])
    }
    let t = Int64(steps)
    let padding = try constant(0, 1)
    guard nodes[0].input[0] == ids, padding.count == 1, let paddingIndex = Int(exactly: padding[0]),
          try constant(3, 1) == [2 * t], try constant(4, 1) == (0..<t).map { t - 1 - $0 }, try constant(5, 1) == [t],
          try nodes[5].int("axis", default: -1) == 1, nodes[9].input == [embedded, nodes[8].output[0]],
          try nodes[9].int("axis", default: 0) == 1 else {
        throw SynapseError.invalidArgument("the padding mask after the Embedding (\(nodes[0].label) on) is not the packing of "
            + "real steps Synapse's export writes")
    }
    return (paddingIndex, nodes[9].output[0], nodes[12].output[0], nodes[15].output[0])
}
