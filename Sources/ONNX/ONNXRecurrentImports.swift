import Dense
import Foundation
import Recurrent

/// The layout change before a recurrent operator: `Transpose(perm [1, 0, 2])` of (N, T, F) into
/// ONNX's (T, N, F), then `RNN`, `LSTM` or `GRU`, then the way back (what `exportRecurrent`
/// writes without a padding mask). Many-to-one reads `Y_h` (D, N, H): `Squeeze([0])` for one
/// direction; for two, `Transpose(perm [1, 0, 2])` + `Reshape([0, 2H])` (concatenated) or
/// `ReduceSum([0], keepdims 0)` (summed). Many-to-many reads `Y` (T, D, N, H): `Squeeze([1])` or
/// `ReduceSum([1], keepdims 0)`, then `Transpose(perm [1, 0, 2])`; or `Transpose(perm [2, 0, 1,
/// 3])` + `Reshape([0, 0, 2H])`. Layout 0, no clip, no initial state, `sequence_lens` only
/// from an Embedding's padding mask (`takePacking`; the many-to-one output is then multiplied
/// by whether a sequence has real steps):
/// RNN (Tanh or Relu) -> SimpleRNN, whose one bias is the sum of B's two; LSTM (default
/// activations, no peepholes, input_forget 0) -> LSTM; GRU (default activations,
/// linear_before_reset 1, PyTorch's form) -> GRU; "bidirectional" -> Bidirectional over it.
/// Gate blocks go back from ONNX's order to PyTorch's (`ONNXGateOrder`).
func importTimeMajorRecurrent(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["perm"])
    guard try node.ints("perm") == [1, 0, 2], graph.shape.count == 2, let timeMajor = node.output.first,
          let rnn = graph.next, ["RNN", "LSTM", "GRU"].contains(rnn.opType), rnn.input.first == timeMajor else {
        throw SynapseError.invalidArgument("a Transpose is imported only as the (N, T, F) -> (T, N, F) change before an RNN, LSTM or GRU")
    }
    _ = graph.take()
    do {
        return try importRecurrent(rnn, graph)
    } catch let error as SynapseError {
        throw SynapseError.invalidArgument("\(rnn.label): \(ONNXExporter.message(of: error))")
    }
}

private func importRecurrent(_ rnn: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    let op = rnn.opType
    let gates = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1
    let order = op == "LSTM" ? ONNXGateOrder.lstm : op == "GRU" ? ONNXGateOrder.gru : ONNXGateOrder.rnn
    try rnn.onlyAttributes(Set(["activations", "direction", "hidden_size", "layout"])
        .union(op == "LSTM" ? ["input_forget"] : op == "GRU" ? ["linear_before_reset"] : []))
    guard try rnn.int("layout", default: 0) == 0 else { throw SynapseError.invalidArgument("only layout 0 is imported") }
    let directions: Int
    switch try rnn.string("direction") ?? "forward" {
    case "forward": directions = 1
    case "bidirectional": directions = 2
    case let other: throw SynapseError.invalidArgument("direction '\(other)': forward or bidirectional is imported")
    }
    let activations = rnn.attribute("activations").map { $0.strings.map { String(decoding: $0, as: UTF8.self) } }
    var nonlinearity = SimpleRNN.Nonlinearity.tanh
    switch op {
    case "LSTM":
        guard activations == nil || activations! == Array(repeating: ["Sigmoid", "Tanh", "Tanh"], count: directions).flatMap({ $0 }),
              try rnn.int("input_forget", default: 0) == 0 else {
            throw SynapseError.invalidArgument("only the default activations (Sigmoid, Tanh, Tanh) and input_forget 0 are imported")
        }
    case "GRU":
        guard activations == nil || activations! == Array(repeating: ["Sigmoid", "Tanh"], count: directions).flatMap({ $0 }) else {
            throw SynapseError.invalidArgument("only the default activations (Sigmoid, Tanh) are imported")
        }
        guard try rnn.int("linear_before_reset", default: 0) == 1 else {
            throw SynapseError.invalidArgument("linear_before_reset 0 is not imported: Synapse's GRU is PyTorch's (linear_before_reset 1)")
        }
    default:
        switch activations ?? Array(repeating: "Tanh", count: directions) {
        case Array(repeating: "Tanh", count: directions): nonlinearity = .tanh
        case Array(repeating: "Relu", count: directions): nonlinearity = .relu
        case let other: throw SynapseError.invalidArgument("activations \(other): Tanh or Relu (the same each way) expected")
        }
    }
    let mask = graph.paddingMask
    graph.paddingMask = nil
    let lengths = rnn.input.count > 4 ? rnn.input[4] : ""
    guard rnn.input.count >= 3, rnn.input.count <= 5 || rnn.input[5...].allSatisfy(\.isEmpty),
          lengths.isEmpty || lengths == mask?.lengths else {
        throw SynapseError.invalidArgument("initial states and peepholes are not imported, nor a sequence_lens other than "
            + "an Embedding's padding mask")
    }
    let w = try graph.floats(rnn.input[1], for: rnn), r = try graph.floats(rnn.input[2], for: rnn)
    guard w.shape.count == 3, w.shape[0] == directions, w.shape[1] % gates == 0,
          r.shape == [directions, w.shape[1], w.shape[1] / gates] else {
        throw SynapseError.invalidArgument("W \(w.shape) and R \(r.shape) must be (\(directions), \(gates)H, F) and (\(directions), \(gates)H, H)")
    }
    let (h, f) = (w.shape[1] / gates, w.shape[2])
    guard h >= 1, try rnn.int("hidden_size", default: h) == h, f == graph.shape[1] else {
        throw SynapseError.invalidArgument("hidden_size and W \(w.shape) do not fit an input of \(graph.shape[1]) features")
    }
    var b = [Float](repeating: 0, count: directions * 2 * gates * h)
    if rnn.input.count > 3, !rnn.input[3].isEmpty {
        let bias = try graph.floats(rnn.input[3], for: rnn)
        guard bias.shape == [directions, 2 * gates * h] else {
            throw SynapseError.invalidArgument("B has shape \(bias.shape), not (\(directions), \(2 * gates * h))")
        }
        b = bias.array
    }
    let (wValues, rValues) = (w.array, r.array)
    /// One direction's parameter values in PyTorch's layout and gate order.
    func values(_ d: Int) -> [Tensor] {
        let gh = gates * h
        func part(_ all: [Float], _ start: Int, _ count: Int) -> [Float] {
            ONNXGateOrder.reorder(Array(all[start..<start + count]), order: order, toONNX: false)
        }
        let weightIH = Tensor(shape: [gh, f], values: part(wValues, d * gh * f, gh * f))
        let weightHH = Tensor(shape: [gh, h], values: part(rValues, d * gh * h, gh * h))
        let (input, recurrent) = (part(b, d * 2 * gh, gh), part(b, d * 2 * gh + gh, gh))
        if gates == 1 { return [weightIH, weightHH, Tensor(shape: [h], values: zip(input, recurrent).map { $0 + $1 })] }
        return [weightIH, weightHH, Tensor(shape: [gh], values: input), Tensor(shape: [gh], values: recurrent)]
    }

    let outputs = rnn.output + ["", ""]
    let (all, last) = (outputs[0], outputs[1])
    guard all.isEmpty != last.isEmpty, outputs[2...].allSatisfy(\.isEmpty) else {
        throw SynapseError.invalidArgument("one of Y and Y_h is imported (Y_c is not)")
    }
    let mode: RecurrentMode = all.isEmpty ? .manyToOne : .manyToMany
    var (end, merge) = try wayBack(from: all.isEmpty ? last : all, mode: mode, directions: directions, hidden: h, graph)
    if let mask {
        // Synapse's masked recurrent layers are many-to-one: a sequence of padding only gives zeros.
        guard mode == .manyToOne, !lengths.isEmpty, let zeroing = graph.next, zeroing.opType == "Mul",
              Set(zeroing.input) == [end, mask.hasRealSteps], zeroing.output.count == 1 else {
            throw SynapseError.invalidArgument("the Embedding's padding mask must be the sequence_lens of a many-to-one layer "
                + "whose output is multiplied by whether a sequence has real steps, as Synapse's export writes it")
        }
        _ = graph.take()
        end = zeroing.output[0]
    }

    let name = graph.layerName(fromWeight: rnn.input[1], suffix: ".weight_ih")
    let layer: any Layer
    let wrapped: Bidirectional.Wrapped
    switch op {
    case "LSTM": wrapped = .lstm(LSTM.Config(inputFeatures: f, hiddenSize: h, mode: mode))
    case "GRU": wrapped = .gru(GRU.Config(inputFeatures: f, hiddenSize: h, mode: mode))
    default: wrapped = .simpleRNN(SimpleRNN.Config(inputFeatures: f, hiddenSize: h, mode: mode, nonlinearity: nonlinearity))
    }
    if directions == 2 {
        layer = try Bidirectional(Bidirectional.Config(wrapped, merge: merge), random: nil, name: name)
    } else {
        switch wrapped {
        case .lstm(let c): layer = try LSTM(c, random: nil, name: name)
        case .gru(let c): layer = try GRU(c, random: nil, name: name)
        case .simpleRNN(let c): layer = try SimpleRNN(c, random: nil, name: name)
        }
    }
    let shape = try layer.outputShape(for: graph.shape)
    graph.current = end
    graph.shape = shape
    return [ImportedLayer(layer: layer, values: (0..<directions).flatMap(values))]
}

/// Takes the nodes after a recurrent operator that bring its `Y` or `Y_h` back to Synapse's
/// layout (see `importTimeMajorRecurrent`); returns the last one's output and how two directions
/// merge.
private func wayBack(from output: String, mode: RecurrentMode, directions: Int, hidden h: Int,
                     _ graph: ONNXGraphReader) throws -> (String, Bidirectional.Merge) {
    let manyToOne = mode == .manyToOne
    func take(_ op: String, reading input: String) throws -> Onnx_NodeProto {
        guard let node = graph.next, node.opType == op, node.input.first == input, node.output.count == 1 else {
            throw SynapseError.invalidArgument("the recurrent output '\(input)' must go back to (N, \(manyToOne ? "" : "T, ")H) as "
                + "Synapse's export writes it: a \(op) of it is expected next")
        }
        _ = graph.take()
        return node
    }
    func axes(_ node: Onnx_NodeProto) throws -> [Int64] {
        guard node.input.count == 2 else { throw SynapseError.invalidArgument("\(node.label) needs its axes as an input") }
        return try graph.integers(node.input[1], for: node)
    }
    func transpose(_ input: String, _ perm: [Int]) throws -> String {
        let node = try take("Transpose", reading: input)
        guard try node.ints("perm") == perm else { throw SynapseError.invalidArgument("\(node.label) must have perm \(perm)") }
        return node.output[0]
    }
    let directionAxis: Int64 = manyToOne ? 0 : 1
    if let next = graph.next, next.opType == "Squeeze" || next.opType == "ReduceSum" {
        let node = try take(next.opType, reading: output)
        guard try axes(node) == [directionAxis], next.opType == "Squeeze" ? directions == 1 : directions == 2 else {
            throw SynapseError.invalidArgument("\(node.label) must reduce the direction axis \(directionAxis) of \(directions) direction(s)")
        }
        if node.opType == "ReduceSum" {
            try node.onlyAttributes(["keepdims"])
            guard try node.int("keepdims", default: 1) == 0 else { throw SynapseError.invalidArgument("\(node.label) must drop the axis") }
        }
        let merge: Bidirectional.Merge = node.opType == "ReduceSum" ? .sum : .concatenate
        return (manyToOne ? node.output[0] : try transpose(node.output[0], [1, 0, 2]), merge)
    }
    guard directions == 2 else {
        throw SynapseError.invalidArgument("the recurrent output '\(output)' must be squeezed of its direction axis \(directionAxis) next")
    }
    let batchFirst = try transpose(output, manyToOne ? [1, 0, 2] : [2, 0, 1, 3])
    let reshape = try take("Reshape", reading: batchFirst)
    try reshape.onlyAttributes(["allowzero"])
    guard try axes(reshape) == (manyToOne ? [0, Int64(2 * h)] : [0, 0, Int64(2 * h)]) else {
        throw SynapseError.invalidArgument("\(reshape.label) must join the two directions' \(h) features")
    }
    return (reshape.output[0], .concatenate)
}
