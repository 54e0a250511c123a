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

/// SimpleRNN: ONNX `RNN` (one direction, `activations` Tanh or Relu) between two layout
/// changes: Synapse's (N, T, F) is transposed to ONNX's (T, N, F), and the result back.
///
/// The initializers keep the model's names in ONNX's layouts: `<layer>.weight_ih` (1, H, F) and
/// `<layer>.weight_hh` (1, H, H) hold the same values as the model's (H, F) and (H, H);
/// `<layer>.bias` (1, 2H) is the model's bias (PyTorch's `bias_ih + bias_hh`) followed by H zeros.
///
/// A padding mask (an `Embedding` with a padding index before it): Synapse keeps the state on
/// every padded step, wherever it lies. The export does the same exactly: the real steps of each
/// sequence are moved to the front in order (`TopK` over a key that ranks real steps first,
/// earlier steps higher; `GatherElements`), and `RNN` runs `sequence_lens` = the number of real
/// steps. A sequence of padding only gives zeros, as in Synapse. Many-to-one only: masked
/// many-to-many outputs (zeros at the padded steps, in place) are refused.
func exportSimpleRNN(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let rnn = try layer(any, as: SimpleRNN.self)
    let (name, h, f) = (rnn.name, rnn.hiddenSize, rnn.inputFeatures)
    guard graph.shape.count == 2 else {
        throw SynapseError.invalidArgument("one-to-many mode has no ONNX RNN form: only many-to-one and many-to-many are exported")
    }
    let steps = graph.shape[0]
    let mask = graph.paddingMask
    graph.paddingMask = nil
    if mask != nil, rnn.mode == .manyToMany {
        throw SynapseError.invalidArgument("a padding mask from '\(mask!.layer)' reaches a many-to-many RNN: only many-to-one "
            + "RNNs over padded sequences are exported (give the Embedding no padding index, or export a many-to-one model)")
    }
    let params = rnn.parameters  // weight_ih (H, F), weight_hh (H, H), bias (H): Config.parameterShapes' order
    let w = graph.addInitializer(params[0], shape: [1, h, f])
    let r = graph.addInitializer(params[1], shape: [1, h, h])
    let biasValues = params[2].value.array + [Float](repeating: 0, count: h)
    biasValues.withUnsafeBufferPointer { graph.addInitializer(params[2].name, shape: [1, 2 * h], values: $0) }

    var x = graph.current
    var sequenceLengths = ""
    var hasRealSteps: String?
    if let mask {
        (x, sequenceLengths, hasRealSteps) = packRealSteps(x, ids: mask.ids, paddingIndex: mask.paddingIndex, steps: steps,
                                                            name: name, graph: graph)
    }
    let timeMajor = graph.addNode("Transpose", name: "\(name)/time_major", inputs: [x], outputs: ["\(name)/time_major"],
                                  attributes: [ONNXAttribute.ints("perm", [1, 0, 2])])[0]
    let attributes = [ONNXAttribute.int("hidden_size", h),
                      ONNXAttribute.strings("activations", [rnn.config.nonlinearity == .tanh ? "Tanh" : "Relu"])]
    let inputs = [timeMajor, w, r, params[2].name] + (sequenceLengths.isEmpty ? [] : [sequenceLengths])
    switch rnn.mode {
    case .manyToOne:
        let last = graph.addNode("RNN", name: "\(name)/rnn", inputs: inputs, outputs: ["", "\(name)/state"], attributes: attributes)[1]
        let axes = graph.addInt64("\(name)/axes", [0])
        guard let hasRealSteps else {
            graph.chain("Squeeze", name: name, inputs: [last, axes], shape: [h])
            return
        }
        let state = graph.addNode("Squeeze", name: "\(name)/squeeze", inputs: [last, axes], outputs: ["\(name)/squeeze"])[0]
        graph.chain("Mul", name: name, inputs: [state, hasRealSteps], shape: [h])
    case .manyToMany:
        let all = graph.addNode("RNN", name: "\(name)/rnn", inputs: inputs, outputs: ["\(name)/states"], attributes: attributes)[0]
        let axes = graph.addInt64("\(name)/axes", [1])
        let squeezed = graph.addNode("Squeeze", name: "\(name)/squeeze", inputs: [all, axes], outputs: ["\(name)/squeeze"])[0]
        graph.chain("Transpose", name: name, inputs: [squeezed], attributes: [ONNXAttribute.ints("perm", [1, 0, 2])],
                    shape: [steps, h])
    case .oneToMany:
        throw SynapseError.invalidArgument("one-to-many mode has no ONNX RNN form: only many-to-one and many-to-many are exported")
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
