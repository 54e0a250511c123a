import Foundation
import Synapse

extension Fuzz {
    /// Small models of every layer type the registry knows, made by the project: the seeds of the
    /// model, weights and checkpoint harnesses, and the fixed models the latter two load into.
    public static func models() throws -> [(name: String, model: Sequential)] {
        let random = RandomGenerator(seed: 7)
        let mlp = try Sequential(inputShape: [6], [
            Linear(6, 5, random: random, name: "fc1"),
            BatchNorm(features: 5, name: "bn1"),
            Activation(.relu, name: "relu1"),
            Dropout(rate: 0.25, name: "drop1"),
            Linear(5, 3, initializer: .heUniform, random: random, name: "fc2"),
            Activation(.leakyReLU(alpha: 0.1), name: "leaky"),
            Linear(3, 2, bias: false, random: random, name: "fc3"),
            Activation(.softmax, name: "softmax"),
        ])
        let conv = try Sequential(inputShape: [1, 8, 8], [
            Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: (3, 3), padding: .same, random: random, name: "conv1"),
            Activation(.tanh, name: "tanh1"),
            MaxPool2D(2, name: "pool1"),
            Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: (2, 2), stride: (1, 1), random: random, name: "conv2"),
            AvgPool2D(kernelSize: (3, 3), name: "pool2"),
            Flatten(name: "flatten"),
            Linear(3, 2, random: random, name: "fc"),
            Activation(.sigmoid, name: "sigmoid"),
        ])
        let rnn = try Sequential(inputShape: [5], [
            Embedding(12, 4, paddingIndex: 0, random: random, name: "embedding"),
            SimpleRNN(4, 6, nonlinearity: .relu, random: random, name: "rnn"),
            Linear(6, 1, random: random, name: "fc"),
        ])
        let generator = try Sequential(inputShape: [3], [
            SimpleRNN(3, 3, mode: .oneToMany(steps: 4, feedback: .previousOutput), truncation: 2, random: random, name: "rnn"),
        ])
        let tagger = try Sequential(inputShape: [4, 3], [
            SimpleRNN(3, 2, mode: .manyToMany, random: random, name: "rnn"),
        ])
        return [("mlp", mlp), ("conv", conv), ("rnn", rnn), ("generator", generator), ("tagger", tagger)]
    }

    /// Small graphs of every merge layer, made by the project: seeds of the model harness.
    public static func graphs() throws -> [(name: String, graph: Graph)] {
        let random = RandomGenerator(seed: 7)
        let resnet = try ResNetSmall.make(channels: 1, height: 8, width: 8, classes: 2, depth: 8, random: random)
        let x = Node.input(shape: [2, 4, 4], name: "image")
        let v = Node.input(shape: [3], name: "vector")
        let a = try Conv2D.Config(inputChannels: 2, outputChannels: 3, kernelSize: (1, 1))(x, name: "a")
        let joined = Concatenate.Config(axis: 0)([a, Identity.Config()(x, name: "skip")], name: "cat")
        let pooled = GlobalAveragePooling2D.Config()(joined, name: "gap")
        let gate = Linear.Config(inputFeatures: 3, outputFeatures: 5)(v, name: "gate")
        let y = Multiply.Config()([pooled, gate], name: "gated")
        let two = try Graph(inputs: [x, v], outputs: [y, Add.Config()([gate, y], name: "sum")], random: random)
        return [("graph-resnet", resnet), ("graph-branches", two)]
    }

    /// Every layer type: Dense, Conv and Recurrent.
    public static var registry: LayerRegistry { .standard }
}
