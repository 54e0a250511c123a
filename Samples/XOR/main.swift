// XOR, the hello-world of neural networks: a 2-8-1 network learns a function no single
// linear layer can represent, and prints the truth table with its outputs.
import ArgumentParser
import Foundation
import SampleOptions
import Synapse

struct XOR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xor", abstract: "Train a two-layer network on XOR and print its truth table.")

    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Training epochs (full-batch steps).") var epochs = 500
    @Option(help: "Adam learning rate.") var lr: Float = 0.05

    func run() throws {
        let random = RandomGenerator(seed: seed)
        let model = try Sequential(inputShape: [2], [
            Linear(2, 8, random: random, name: "fc1"),   // (N, 8)
            Activation(.tanh),                            // (N, 8)
            Linear(8, 1, random: random, name: "fc2"),   // (N, 1): a logit
        ])
        let inputs = Tensor(shape: [4, 2], values: [0, 0, 0, 1, 1, 0, 1, 1])
        let targets = Tensor(shape: [4, 1], values: [0, 1, 1, 0])
        let data = try Dataset(inputs: inputs, targets: targets)
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(), optimizer: Adam(learningRate: lr), random: random)
        trainer.verbose = false  // 500 one-batch epochs: the table below says what came of them
        let history = try trainer.fit(data, epochs: epochs, batchSize: 4, shuffle: false)

        let logits = try model.predict(inputs)
        print("x1 x2 | target | output")
        var correct = 0
        for i in 0..<4 {
            let p = 1 / (1 + exp(-logits[i]))
            if (p > 0.5) == (targets[i] > 0.5) { correct += 1 }
            print(String(format: " %.0f  %.0f |   %.0f    | %.4f", inputs[2 * i], inputs[2 * i + 1], targets[i], p))
        }
        print(String(format: "final loss: %.5f", history["loss"].last ?? .nan))
        print(String(format: "test accuracy: %.2f%%", 100 * Double(correct) / 4))
        if correct < 4 { throw ExitCode.failure }
    }
}

XOR.main()
