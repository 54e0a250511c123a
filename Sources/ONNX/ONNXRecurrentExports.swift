import Dense
import Recurrent

// The mappings of the Recurrent module's layers (ONNXLayerExports.table).

/// Embedding: the ids (float in Synapse) `Cast` to int64, then `Gather(weight, ids)`. With a
/// padding index, the ids are left in `graph.paddingMask` for the recurrent layer after it.
func exportEmbedding(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let embedding = try layer(any, as: Embedding.self)
    let weight = graph.addInitializer(embedding.weight)
    let ids = graph.addNode("Cast", name: "\(embedding.name)/ids", inputs: [graph.current], outputs: ["\(embedding.name)/ids"],
                            attributes: [ONNXAttribute.int("to", Onnx_TensorProto.DataType.int64.rawValue)])[0]
    if let paddingIndex = embedding.paddingIndex {
        graph.paddingMask = (ids, paddingIndex, embedding.name)
    }
    graph.chain("Gather", name: embedding.name, inputs: [weight, ids], attributes: [ONNXAttribute.int("axis", 0)],
                shape: graph.shape + [embedding.dimension])
}

/// SequencePooling: `ReduceMean` or `ReduceMax` over the time axis (axes [1], keepdims 0). A
/// padding mask in force is refused: ONNX's reductions would count the padded steps.
func exportSequencePooling(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let pool = try layer(any, as: SequencePooling.self)
    if let mask = graph.paddingMask {
        throw SynapseError.invalidArgument("the padding mask of '\(mask.layer)' reaches it: ONNX's reductions would count the "
            + "padded steps (give the Embedding no padding index, or read the last state: a many-to-one layer)")
    }
    let output = try pool.outputShape(for: graph.shape)
    graph.chain(pool.reduction == .mean ? "ReduceMean" : "ReduceMax", name: pool.name, inputs: [graph.current],
                attributes: [ONNXAttribute.ints("axes", [1]), ONNXAttribute.int("keepdims", 0)], shape: output)
}

/// The gate blocks of ONNX's recurrent operators in PyTorch's (Synapse's) order: ONNX block k
/// is PyTorch block `order[k]`. LSTM: PyTorch i, f, g, o; ONNX i, o, f, c. GRU: PyTorch r, z, n;
/// ONNX z, r, h. RNN: one block.
enum ONNXGateOrder {
    static let lstm = [0, 3, 1, 2]
    static let gru = [1, 0, 2]
    static let rnn = [0]

    /// `values` (rows of `blockSize` values, blocks of `rowsPerBlock` rows) with the blocks
    /// put in ONNX's order: from PyTorch's when `toONNX`, back otherwise.
    static func reorder(_ values: [Float], order: [Int], toONNX: Bool) -> [Float] {
        let block = values.count / order.count
        var result = [Float](repeating: 0, count: values.count)
        for (k, source) in order.enumerated() {
            let (from, to) = toONNX ? (source, k) : (k, source)
            result.replaceSubrange(to * block..<(to + 1) * block, with: values[from * block..<(from + 1) * block])
        }
        return result
    }
}

/// One direction of a recurrent layer in ONNX's layout: W (G H x F), R (G H x H) and B
/// (2 G H: the input biases, then the recurrent ones), gate blocks in ONNX's order.
private struct DirectionWeights {
    var w: [Float], r: [Float], b: [Float]

    /// SimpleRNN: weight_ih, weight_hh, bias (PyTorch's bias_ih + bias_hh); B is the bias then H zeros.
    init(simple layer: SimpleRNN) {
        let p = layer.parameters
        (w, r, b) = (p[0].value.array, p[1].value.array, p[2].value.array + [Float](repeating: 0, count: layer.hiddenSize))
    }

    /// LSTM or GRU: weight_ih, weight_hh, bias_ih, bias_hh, reordered.
    init(gated parameters: [Parameter], order: [Int]) {
        let v = parameters.map { ONNXGateOrder.reorder($0.value.array, order: order, toONNX: true) }
        (w, r, b) = (v[0], v[1], v[2] + v[3])
    }
}

/// What the exporter needs of a recurrent layer, whichever it is.
private struct RecurrentExport {
    var op: String
    var name: String
    var hiddenSize: Int
    var inputFeatures: Int
    var gates: Int
    var mode: RecurrentMode
    var directions: [DirectionWeights]
    /// The names the initializers take: the forward direction's weight_ih and weight_hh.
    var weightNames: (w: String, r: String)
    var attributes: [Onnx_AttributeProto]
    var merge: Bidirectional.Merge = .concatenate
}

/// SimpleRNN: ONNX `RNN` (one direction, `activations` Tanh or Relu). See `exportRecurrent`.
///
/// The initializers keep the model's names in ONNX's layouts: `<layer>.weight_ih` (1, H, F) and
/// `<layer>.weight_hh` (1, H, H) hold the same values as the model's (H, F) and (H, H);
/// `<layer>.bias` (1, 2H) is the model's bias (PyTorch's `bias_ih + bias_hh`) followed by H zeros.
func exportSimpleRNN(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let rnn = try layer(any, as: SimpleRNN.self)
    let p = rnn.parameters
    try exportRecurrent(RecurrentExport(
        op: "RNN", name: rnn.name, hiddenSize: rnn.hiddenSize, inputFeatures: rnn.inputFeatures, gates: 1, mode: rnn.mode,
        directions: [DirectionWeights(simple: rnn)], weightNames: (p[0].name, p[1].name),
        attributes: [ONNXAttribute.strings("activations", [rnn.config.nonlinearity == .tanh ? "Tanh" : "Relu"])]), graph)
}

/// LSTM: ONNX `LSTM` (no peepholes), the gate blocks of W, R and B reordered from PyTorch's
/// i, f, g, o to ONNX's i, o, f, c; B (1, 8H) is bias_ih then bias_hh, reordered.
func exportLSTM(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let lstm = try layer(any, as: LSTM.self)
    let p = lstm.parameters
    try exportRecurrent(RecurrentExport(
        op: "LSTM", name: lstm.name, hiddenSize: lstm.hiddenSize, inputFeatures: lstm.inputFeatures, gates: 4, mode: lstm.mode,
        directions: [DirectionWeights(gated: p, order: ONNXGateOrder.lstm)], weightNames: (p[0].name, p[1].name),
        attributes: []), graph)
}

/// GRU: ONNX `GRU` with `linear_before_reset` 1 (PyTorch's n = tanh(W_in x + b_in + r (W_hn h
/// + b_hn))), the gate blocks reordered from PyTorch's r, z, n to ONNX's z, r, h.
func exportGRU(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let gru = try layer(any, as: GRU.self)
    let p = gru.parameters
    try exportRecurrent(RecurrentExport(
        op: "GRU", name: gru.name, hiddenSize: gru.hiddenSize, inputFeatures: gru.inputFeatures, gates: 3, mode: gru.mode,
        directions: [DirectionWeights(gated: p, order: ONNXGateOrder.gru)], weightNames: (p[0].name, p[1].name),
        attributes: [ONNXAttribute.int("linear_before_reset", 1)]), graph)
}

/// Bidirectional over SimpleRNN, LSTM or GRU: the wrapped layer's operator with `direction`
/// "bidirectional", the forward copy's weights first in W, R and B (D = 2). Concatenated
/// outputs are [forward | backward] per step or per sequence; summed ones are a `ReduceSum`
/// over the direction axis.
func exportBidirectional(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let bi = try layer(any, as: Bidirectional.self)
    let layers = [bi.forwardLayer, bi.backwardLayer]
    var export: RecurrentExport
    let names = (bi.forwardLayer.parameters[0].name, bi.forwardLayer.parameters[1].name)
    let direction = ONNXAttribute.string("direction", "bidirectional")
    switch bi.config.layer {
    case .simpleRNN(let c):
        let cells = try layers.map { try layer($0, as: SimpleRNN.self) }
        export = RecurrentExport(op: "RNN", name: bi.name, hiddenSize: c.hiddenSize, inputFeatures: c.inputFeatures, gates: 1,
                                 mode: c.mode, directions: cells.map { DirectionWeights(simple: $0) }, weightNames: names,
                                 attributes: [ONNXAttribute.strings("activations", Array(repeating: c.nonlinearity == .tanh ? "Tanh" : "Relu", count: 2)), direction])
    case .lstm(let c):
        export = RecurrentExport(op: "LSTM", name: bi.name, hiddenSize: c.hiddenSize, inputFeatures: c.inputFeatures, gates: 4,
                                 mode: c.mode, directions: layers.map { DirectionWeights(gated: $0.parameters, order: ONNXGateOrder.lstm) },
                                 weightNames: names, attributes: [direction])
    case .gru(let c):
        export = RecurrentExport(op: "GRU", name: bi.name, hiddenSize: c.hiddenSize, inputFeatures: c.inputFeatures, gates: 3,
                                 mode: c.mode, directions: layers.map { DirectionWeights(gated: $0.parameters, order: ONNXGateOrder.gru) },
                                 weightNames: names, attributes: [ONNXAttribute.int("linear_before_reset", 1), direction])
    }
    export.merge = bi.config.merge
    try exportRecurrent(export, graph)
}

/// A recurrent operator between two layout changes: Synapse's (N, T, F) is transposed to ONNX's
/// (T, N, F), and the result back: many-to-one reads `Y_h` (D, N, H), many-to-many `Y`
/// (T, D, N, H). One direction: `Squeeze` of the direction axis (and a `Transpose` back for
/// many-to-many). Two: the directions side by side (`Transpose`, `Reshape`) or summed
/// (`ReduceSum`).
///
/// A padding mask (an `Embedding` with a padding index before it): Synapse keeps the state on
/// every padded step, wherever it lies, and reads only the real steps backwards. The export does
/// the same exactly: the real steps of each sequence are moved to the front in order (`TopK` over
/// a key that ranks real steps first, earlier steps higher; `GatherElements`), and the operator
/// runs `sequence_lens` = the number of real steps (its reverse direction reads those backwards).
/// A sequence of padding only gives zeros, as in Synapse. Many-to-one only: masked many-to-many
/// outputs (zeros at the padded steps, in place) are refused.
private func exportRecurrent(_ e: RecurrentExport, _ graph: ONNXGraphWriter) throws {
    let (name, h, f, g) = (e.name, e.hiddenSize, e.inputFeatures, e.gates)
    let d = e.directions.count
    guard graph.shape.count == 2, e.mode == .manyToOne || e.mode == .manyToMany else {
        throw SynapseError.invalidArgument("one-to-many mode has no ONNX \(e.op) form: only many-to-one and many-to-many are exported")
    }
    guard graph.shape[1] == f else {
        throw SynapseError.invalidArgument("takes \(f) features per step, gets (N, \(graph.shape))")
    }
    let steps = graph.shape[0]
    let mask = graph.paddingMask
    graph.paddingMask = nil
    if let mask, e.mode == .manyToMany {
        throw SynapseError.invalidArgument("a padding mask from '\(mask.layer)' reaches a many-to-many \(e.op): only many-to-one "
            + "recurrent layers over padded sequences are exported (give the Embedding no padding index, or export a many-to-one model)")
    }
    func stacked(_ part: KeyPath<DirectionWeights, [Float]>) -> [Float] { e.directions.flatMap { $0[keyPath: part] } }
    stacked(\.w).withUnsafeBufferPointer { graph.addInitializer(e.weightNames.w, shape: [d, g * h, f], values: $0) }
    stacked(\.r).withUnsafeBufferPointer { graph.addInitializer(e.weightNames.r, shape: [d, g * h, h], values: $0) }
    let bias = graph.uniqueName("\(name).bias")
    stacked(\.b).withUnsafeBufferPointer { graph.addInitializer(bias, shape: [d, 2 * g * h], values: $0) }

    var x = graph.current
    var sequenceLengths = ""
    var hasRealSteps: String?
    if let mask {
        (x, sequenceLengths, hasRealSteps) = packRealSteps(x, ids: mask.ids, paddingIndex: mask.paddingIndex, steps: steps,
                                                            name: name, graph: graph)
    }
    func node(_ op: String, _ what: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> String {
        graph.addNode(op, name: "\(name)/\(what)", inputs: inputs, outputs: ["\(name)/\(what)"], attributes: attributes)[0]
    }
    let timeMajor = node("Transpose", "time_major", [x], [ONNXAttribute.ints("perm", [1, 0, 2])])
    let attributes = [ONNXAttribute.int("hidden_size", h)] + e.attributes
    let inputs = [timeMajor, e.weightNames.w, e.weightNames.r, bias] + (sequenceLengths.isEmpty ? [] : [sequenceLengths])
    let width = e.merge == .concatenate ? d * h : h
    let op = e.op.lowercased()
    switch e.mode {
    case .manyToOne:
        let last = graph.addNode(e.op, name: "\(name)/\(op)", inputs: inputs, outputs: ["", "\(name)/state"], attributes: attributes)[1]
        // The last node takes the layer's name.
        let final = hasRealSteps == nil
        func emit(_ op: String, _ what: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> String {
            guard final else { return node(op, what, inputs, attributes) }
            graph.chain(op, name: name, inputs: inputs, attributes: attributes, shape: [width])
            return graph.current
        }
        let state: String
        if d == 1 {
            state = emit("Squeeze", "squeeze", [last, graph.addInt64("\(name)/axes", [0])])
        } else if e.merge == .concatenate {
            let batchFirst = node("Transpose", "batch_first", [last], [ONNXAttribute.ints("perm", [1, 0, 2])])
            state = emit("Reshape", "join", [batchFirst, graph.addInt64("\(name)/joined_shape", [0, Int64(width)])])
        } else {
            state = emit("ReduceSum", "sum", [last, graph.addInt64("\(name)/axes", [0])], [ONNXAttribute.int("keepdims", 0)])
        }
        if let hasRealSteps { graph.chain("Mul", name: name, inputs: [state, hasRealSteps], shape: [width]) }
    case .manyToMany:
        let all = graph.addNode(e.op, name: "\(name)/\(op)", inputs: inputs, outputs: ["\(name)/states"], attributes: attributes)[0]
        if d == 1 || e.merge == .sum {
            let reduced = d == 1 ? node("Squeeze", "squeeze", [all, graph.addInt64("\(name)/axes", [1])])
                : node("ReduceSum", "sum", [all, graph.addInt64("\(name)/axes", [1])], [ONNXAttribute.int("keepdims", 0)])
            graph.chain("Transpose", name: name, inputs: [reduced], attributes: [ONNXAttribute.ints("perm", [1, 0, 2])],
                        shape: [steps, width])
        } else {
            let batchFirst = node("Transpose", "batch_first", [all], [ONNXAttribute.ints("perm", [2, 0, 1, 3])])
            graph.chain("Reshape", name: name, inputs: [batchFirst, graph.addInt64("\(name)/joined_shape", [0, 0, Int64(width)])],
                        shape: [steps, width])
        }
    case .oneToMany:
        break  // refused above
    }
}

/// The nodes that move each sequence's real steps to the front, in order. Returns the packed
/// input (N, T, F), the int32 `sequence_lens` (N) for `RNN` (at least 1) and a float (N, 1)
/// that is 0 for a sequence of padding only (its state must stay zero) and 1 otherwise.
private func packRealSteps(_ x: String, ids: String, paddingIndex: Int, steps: Int, name: String,
                           graph: ONNXGraphWriter) -> (String, String, String) {
    func node(_ op: String, _ what: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> String {
        graph.addNode(op, name: "\(name)/\(what)", inputs: inputs, outputs: ["\(name)/\(what)"], attributes: attributes)[0]
    }
    let int64 = Onnx_TensorProto.DataType.int64.rawValue
    let pad = graph.addInt64("\(name)/padding_index", [Int64(paddingIndex)], shape: [])
    let isPad = node("Equal", "is_padding", [ids, pad])
    let real = node("Cast", "real", [node("Not", "is_real", [isPad])], [ONNXAttribute.int("to", int64)])
    // key = real * 2T + (T - 1 - t): real steps above padded ones, earlier steps above later ones.
    let scale = graph.addInt64("\(name)/real_rank", [Int64(2 * steps)], shape: [])
    let later = graph.addInt64("\(name)/step_rank", (0..<steps).map { Int64(steps - 1 - $0) })
    let key = node("Add", "key", [node("Mul", "real_key", [real, scale]), later])
    let k = graph.addInt64("\(name)/steps", [Int64(steps)])
    let order = graph.addNode("TopK", name: "\(name)/order", inputs: [key, k], outputs: ["\(name)/order_keys", "\(name)/order"],
                              attributes: [ONNXAttribute.int("axis", 1)])[1]
    let order3 = node("Unsqueeze", "order_3d", [order, graph.addInt64("\(name)/axis_2", [2])])
    let indices = node("Expand", "order_expanded", [order3, node("Shape", "input_shape", [x])])
    let packed = node("GatherElements", "packed", [x, indices], [ONNXAttribute.int("axis", 1)])
    let counts = node("ReduceSum", "real_steps", [real, graph.addInt64("\(name)/axis_1", [1])],
                      [ONNXAttribute.int("keepdims", 0)])
    let one = graph.addInt64("\(name)/one", [1], shape: [])
    let lengths = node("Cast", "sequence_lens", [node("Max", "at_least_one", [counts, one])],
                       [ONNXAttribute.int("to", Onnx_TensorProto.DataType.int32.rawValue)])
    let zero = graph.addInt64("\(name)/zero", [0], shape: [])
    let any = node("Cast", "has_real_steps", [node("Greater", "any_real", [counts, zero])],
                   [ONNXAttribute.int("to", Onnx_TensorProto.DataType.float.rawValue)])
    let column = node("Unsqueeze", "has_real_steps_column", [any, graph.addInt64("\(name)/axis_1b", [1])])
    return (packed, lengths, column)
}
