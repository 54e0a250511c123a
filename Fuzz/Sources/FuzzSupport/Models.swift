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

    /// Every layer type: Dense, Conv and Recurrent.
    public static var registry: LayerRegistry { .standard }
}
