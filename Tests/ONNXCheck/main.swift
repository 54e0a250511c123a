// A small program that Scripts/check_onnx.py runs: it builds the models the samples train
// (seeded, untrained; BatchNorm's running statistics moved by a few training passes), exports
// each to ONNX and writes, into FOLDER:
//   NAME.onnx          the exported model
//   NAME.input.bin     a batch of inputs, float32 little-endian, row-major
//   NAME.output.bin    Synapse's outputs on it (inference), same encoding
//   NAME.json          {"input": [N, ...], "output": [N, ...]}: the two shapes
// The script runs each .onnx in onnxruntime on the input and compares with the output.
//
//   ONNXCheck FOLDER
import Foundation
import ONNX
import Synapse

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: ONNXCheck FOLDER\n".utf8))
    exit(2)
}
let folder = URL(fileURLWithPath: CommandLine.arguments[1], isDirectory: true)
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

func floats(_ t: Tensor) -> Data {
    var data = Data(capacity: t.count * 4)
    for v in t.array { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    return data
}

/// Exports `model`, runs it on `input` and writes the four files.
func write(_ name: String, _ model: any Model, input: Tensor) throws {
    try ONNXExporter.write(model, to: folder.appendingPathComponent("\(name).onnx"))
    let output = model.forward(input, training: false)
    try floats(input).write(to: folder.appendingPathComponent("\(name).input.bin"))
    try floats(output).write(to: folder.appendingPathComponent("\(name).output.bin"))
    let shapes = try JSONSerialization.data(withJSONObject: ["input": input.shape, "output": output.shape])
    try shapes.write(to: folder.appendingPathComponent("\(name).json"))
    print("\(name): \(model.layers.count) layers, input \(input.shape), output \(output.shape)")
}

func uniform(_ shape: [Int], _ random: RandomGenerator, _ low: Float = -1, _ high: Float = 1) -> Tensor {
    Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in random.uniform(low, high) })
}

/// A few training-mode passes, so BatchNorm's running statistics are not their initial 0 and 1.
func settle(_ model: any Model, _ random: RandomGenerator) {
    for _ in 0..<3 { _ = model.forward(uniform([8] + model.inputShape, random, -1, 2), training: true) }
}

let random = RandomGenerator(seed: 25)
let batch = 16

// lenet (LeNet5.make, as the lenet sample) and its 1998 form (tanh, average pooling).
try write("lenet", LeNet5.make(random: random), input: uniform([batch, 1, 28, 28], random, 0, 1))
try write("lenet-original", LeNet5.make(.original, random: random), input: uniform([batch, 1, 28, 28], random, 0, 1))

// mlp-mnist's MLP, and one with the other activations and a softmax.
try write("mlp", Sequential(inputShape: [784], [
    Linear(784, 256, initializer: .heUniform, random: random, name: "fc1"), Activation(.relu),
    Linear(256, 128, initializer: .heUniform, random: random, name: "fc2"), Activation(.relu),
    Linear(128, 10, random: random, name: "fc3"),
]), input: uniform([batch, 784], random, 0, 1))
let activations = try Sequential(inputShape: [20], [
    Linear(20, 32, random: random, name: "fc1"), BatchNorm(features: 32, name: "bn1"), Activation(.leakyReLU(alpha: 0.1)),
    Dropout(rate: 0.5), Linear(32, 16, random: random, name: "fc2"), Activation(.sigmoid),
    Linear(16, 8, random: random, name: "fc3"), Activation(.tanh), Linear(8, 4, random: random, name: "fc4"),
    Activation(.softmax),
])
settle(activations, random)
try write("activations", activations, input: uniform([batch, 20], random))

// vgg-small (VGGSmall.make, as the classify sample): convolutions, BatchNorm, dropout.
let vgg = try VGGSmall.make(channels: 3, height: 32, width: 32, classes: 10, random: random)
settle(vgg, random)
try write("vgg-small", vgg, input: uniform([batch, 3, 32, 32], random))

// A sentiment-style model (as the sentiment sample): token ids, left padding (id 0) of every
// length, padding in the middle, one sequence of padding only.
// 500 sequences: a test set on which the decisions (sign or argmax) must agree too.
let (vocabulary, length, sequences) = (50, 12, 500)
var ids: [Float] = []
for row in 0..<sequences {
    let real = row == 0 ? 0 : 1 + random.below(length)
    var sequence = [Float](repeating: 0, count: length - real) + (0..<real).map { _ in Float(1 + random.below(vocabulary - 1)) }
    if row == 1 { sequence[length - 3] = 0 }
    ids += sequence
}
try write("sentiment", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, paddingIndex: 0, random: random, name: "embedding"),
    SimpleRNN(8, 16, random: random, name: "rnn"),
    Linear(16, 1, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: ids))

// Many-to-many with ReLU and a Linear on every step; no padding index.
let noPadding = ids.map { $0 == 0 ? Float(1) : $0 }
try write("rnn-many-to-many", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, random: random, name: "embedding"),
    SimpleRNN(8, 16, mode: .manyToMany, nonlinearity: .relu, recurrentInitializer: .identity, random: random, name: "rnn"),
    Linear(16, 3, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: noPadding))

// resnet-small (ResNetSmall.make, depth 20, on 16x16 images to stay quick): a graph with
// residual Adds, nodes read by two layers, projection shortcuts, GlobalAveragePool.
let resnet = try ResNetSmall.make(channels: 3, height: 16, width: 16, classes: 10, random: random)
settle(resnet, random)
try write("resnet-small", resnet, input: uniform([64, 3, 16, 16], random))

// A graph of the other merges: Concatenate of two branches, Multiply, Identity.
let x = Node.input(shape: [12], name: "input")
let left = Activation.Config(.relu)(Linear.Config(inputFeatures: 12, outputFeatures: 8)(x, name: "left"), name: "left_relu")
let right = Activation.Config(.tanh)(Linear.Config(inputFeatures: 12, outputFeatures: 8)(x, name: "right"), name: "right_tanh")
let joined = Concatenate.Config()([left, right], name: "concat")
let gate = Activation.Config(.sigmoid)(Linear.Config(inputFeatures: 12, outputFeatures: 16)(x, name: "gate"), name: "gate_sigmoid")
let gated = Identity.Config()(Multiply.Config()([joined, gate], name: "mul"), name: "identity")
let head = Linear.Config(inputFeatures: 16, outputFeatures: 3)(Add.Config()([gated, joined], name: "add"), name: "fc")
try write("merges", Graph(inputs: [x], outputs: [head], random: random), input: uniform([batch, 12], random))

// Sentiment-shaped LSTM (left padding, padding inside, a sequence of padding only) and a GRU,
// and the bidirectional forms of both.
try write("lstm-sentiment", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, paddingIndex: 0, random: random, name: "embedding"),
    LSTM(8, 16, random: random, name: "lstm"),
    Linear(16, 1, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: ids))
try write("gru", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, paddingIndex: 0, random: random, name: "embedding"),
    GRU(8, 16, random: random, name: "gru"),
    Linear(16, 2, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: ids))
try write("gru-many-to-many", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, random: random, name: "embedding"),
    GRU(8, 16, mode: .manyToMany, random: random, name: "gru"),
    Linear(16, 3, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: noPadding))
// Many-to-many layers read through SequencePooling (ReduceMean, ReduceMax), unpadded.
for (name, recurrent, reduction) in [("lstm-mean-pooling", LSTM.typeName, SequencePooling.Reduction.mean),
                                     ("gru-max-pooling", GRU.typeName, .max)] {
    let layer: any Layer = recurrent == LSTM.typeName
        ? try LSTM(8, 16, mode: .manyToMany, random: random, name: "rnn")
        : try GRU(8, 16, mode: .manyToMany, random: random, name: "rnn")
    try write(name, Sequential(inputShape: [length], [
        Embedding(vocabulary, 8, random: random, name: "embedding"), layer,
        SequencePooling(reduction, name: "pool"), Linear(16, 2, random: random, name: "fc"),
    ]), input: Tensor(shape: [sequences, length], values: noPadding))
}
try write("bilstm-sentiment", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, paddingIndex: 0, random: random, name: "embedding"),
    Bidirectional(.lstm(LSTM.Config(inputFeatures: 8, hiddenSize: 16)), random: random, name: "lstm"),
    Linear(32, 1, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: ids))
try write("bigru-many-to-many", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, random: random, name: "embedding"),
    Bidirectional(.gru(GRU.Config(inputFeatures: 8, hiddenSize: 16, mode: .manyToMany)), merge: .sum, random: random, name: "gru"),
    Linear(16, 3, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: noPadding))
try write("birnn-many-to-many", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, random: random, name: "embedding"),
    Bidirectional(.simpleRNN(SimpleRNN.Config(inputFeatures: 8, hiddenSize: 16, mode: .manyToMany)), random: random, name: "rnn"),
    Linear(32, 3, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: noPadding))
try write("bigru-summed", Sequential(inputShape: [length], [
    Embedding(vocabulary, 8, paddingIndex: 0, random: random, name: "embedding"),
    Bidirectional(.gru(GRU.Config(inputFeatures: 8, hiddenSize: 16)), merge: .sum, random: random, name: "gru"),
    Linear(16, 2, random: random, name: "fc"),
]), input: Tensor(shape: [sequences, length], values: ids))
