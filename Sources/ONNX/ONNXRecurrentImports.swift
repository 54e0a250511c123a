import Dense
import Foundation
import Recurrent

/// The layout change before a recurrent operator: `Transpose(perm [1, 0, 2])` of (N, T, F) into
/// ONNX's (T, N, F), then `RNN`, then the way back (what `exportSimpleRNN` writes without a
/// padding mask): `Squeeze(Y_h, [0])` gives many-to-one (N, H); `Squeeze(Y, [1])` and
/// `Transpose(perm [1, 0, 2])` give many-to-many (N, T, H). One forward direction, Tanh or Relu,
/// no clip, no `sequence_lens`, no initial state: SimpleRNN. `B` (1, 2H) is summed into
/// Synapse's one bias.
func importTimeMajorRecurrent(_ node: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try node.onlyAttributes(["perm"])
    guard try node.ints("perm") == [1, 0, 2], graph.shape.count == 2, let timeMajor = node.output.first,
          let rnn = graph.next, rnn.opType == "RNN", rnn.input.first == timeMajor else {
        throw SynapseError.invalidArgument("a Transpose is imported only as the (N, T, F) -> (T, N, F) change before an RNN")
    }
    _ = graph.take()
    do {
        return try importRNN(rnn, graph)
    } catch let error as SynapseError {
        throw SynapseError.invalidArgument("\(rnn.label): \(ONNXExporter.message(of: error))")
    }
}

private func importRNN(_ rnn: Onnx_NodeProto, _ graph: ONNXGraphReader) throws -> [ImportedLayer] {
    try rnn.onlyAttributes(["activations", "direction", "hidden_size", "layout"])
    guard try rnn.string("direction") ?? "forward" == "forward", try rnn.int("layout", default: 0) == 0 else {
        throw SynapseError.invalidArgument("only one forward direction in layout 0 is imported")
    }
    let nonlinearity: SimpleRNN.Nonlinearity
    switch rnn.attribute("activations").map({ $0.strings.map { String(decoding: $0, as: UTF8.self) } }) ?? ["Tanh"] {
    case ["Tanh"]: nonlinearity = .tanh
    case ["Relu"]: nonlinearity = .relu
    case let other: throw SynapseError.invalidArgument("activations \(other): Tanh or Relu expected")
    }
    guard rnn.input.count >= 3, rnn.input.count <= 4 || rnn.input[4...].allSatisfy(\.isEmpty) else {
        throw SynapseError.invalidArgument("sequence_lens and initial_h are not imported")
    }
    let w = try graph.floats(rnn.input[1], for: rnn), r = try graph.floats(rnn.input[2], for: rnn)
    guard w.shape.count == 3, w.shape[0] == 1, r.shape == [1, w.shape[1], w.shape[1]] else {
        throw SynapseError.invalidArgument("W \(w.shape) and R \(r.shape) must be (1, H, F) and (1, H, H)")
    }
    let (h, f) = (w.shape[1], w.shape[2])
    guard try rnn.int("hidden_size", default: h) == h, f == graph.shape[1] else {
        throw SynapseError.invalidArgument("hidden_size and W \(w.shape) do not fit an input of \(graph.shape[1]) features")
    }
    var bias = [Float](repeating: 0, count: h)
    if rnn.input.count > 3, !rnn.input[3].isEmpty {
        let b = try graph.floats(rnn.input[3], for: rnn)
        guard b.shape == [1, 2 * h] else { throw SynapseError.invalidArgument("B has shape \(b.shape), not (1, \(2 * h))") }
        let values = b.array
        for i in 0..<h { bias[i] = values[i] + values[h + i] }
    }
    let outputs = rnn.output + ["", ""]
    let (all, last) = (outputs[0], outputs[1])
    guard all.isEmpty != last.isEmpty, let squeeze = graph.take(), squeeze.opType == "Squeeze", squeeze.input.count == 2,
          squeeze.input[0] == (all.isEmpty ? last : all) else {
        throw SynapseError.invalidArgument("one of Y and Y_h, read by a Squeeze, is imported")
    }
    let mode: SimpleRNN.Mode = all.isEmpty ? .manyToOne : .manyToMany
    guard try graph.integers(squeeze.input[1], for: squeeze) == [mode == .manyToOne ? 0 : 1] else {
        throw SynapseError.invalidArgument("\(squeeze.label) squeezes other axes than the direction's")
    }
    var end = squeeze
    if mode == .manyToMany {
        guard let back = graph.take(), back.opType == "Transpose", back.input == squeeze.output,
              try back.ints("perm") == [1, 0, 2] else {
            throw SynapseError.invalidArgument("the states Y must go back to (N, T, H) by a Transpose(perm [1, 0, 2])")
        }
        end = back
    }
    let name = graph.layerName(fromWeight: rnn.input[1], suffix: ".weight_ih")
    let config = SimpleRNN.Config(inputFeatures: f, hiddenSize: h, mode: mode, nonlinearity: nonlinearity)
    let layer = try SimpleRNN(config, random: nil, name: name)
    let shape = try layer.outputShape(for: graph.shape)
    let values = [w.reshaped([h, f]), r.reshaped([h, h]), Tensor(shape: [h], values: bias)]
    graph.current = end.output.first ?? ""
    graph.shape = shape
    return [ImportedLayer(layer: layer, values: values)]
}
