// A 784-256-128-10 ReLU multilayer perceptron on MNIST, trained with Adam: the core of Synapse
// (Linear, activations, softmax cross-entropy, Adam, fit with validation) on real data.
import ArgumentParser
import DistributedSampleOptions
import Foundation
import SampleOptions
import Synapse

struct MLPMNIST: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlp-mnist", abstract: "Train a multilayer perceptron on MNIST.")

    @OptionGroup var common: TrainingOptions
    @OptionGroup var cluster: DistributedOptions
    @Option(help: "Epochs.") var epochs = 10
    @Option(help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Adam learning rate.") var lr: Float = 1e-3
    @Option(help: "Multiply the learning rate by this after every epoch.") var decay: Float = 0.8
    @Option(help: "Folder for model.safetensors, model.json, log.csv and the checkpoint (replaced as a whole); a path ending in .safetensors names its folder.")
    var output = "runs/mlp-mnist"

    func validate() throws { try checkTraining(epochs: epochs, batchSize: batchSize, lr: lr, decay: decay) }

    func run() throws {
        let communicator = cluster.communicator()
        try cluster.run(communicator) { try run(communicator) }
    }

    func run(_ communicator: any Communicator) throws {
        let directory = common.prepare()
        // Earlier versions took the weight file's path: its folder is the output folder.
        let run = try TrainingRun(output: output.hasSuffix(".safetensors") ? (output as NSString).deletingLastPathComponent : output,
                                  options: common, communicator: communicator)
        let start = Date()
        let train = try flattened(MNIST.load(.training, from: directory, log: note))
        let test = try flattened(MNIST.load(.test, from: directory, log: note))
        note("MNIST: \(train.count) training, \(test.count) test images from \(directory.folder("mnist").path)")

        let random = RandomGenerator(seed: common.seed)
        let model = try Sequential(inputShape: [784], [
            Linear(784, 256, initializer: .heUniform, random: random, name: "fc1"),  // (N, 256)
            Activation(.relu),                                                       // (N, 256)
            Linear(256, 128, initializer: .heUniform, random: random, name: "fc2"),  // (N, 128)
            Activation(.relu),                                                       // (N, 128)
            Linear(128, 10, random: random, name: "fc3"),                            // (N, 10): logits
        ])
        print(model.summary())

        let optimizer = Adam(learningRate: lr)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: optimizer, random: random,
                              schedule: ExponentialDecay(initial: lr, decay: decay))
        try common.configure(trainer, communicator: communicator)
        try run.start(trainer)
        let history = try run.fit(trainer) {
            try trainer.fit(train, epochs: epochs, batchSize: batchSize, validation: .split(1.0 / 12, seed: common.seed),
                            callbacks: common.progressCallbacks)
        }
        if let last = history.epochs.last {
            print(String(format: "validation accuracy after %d epochs: %.2f%%", history.epochs.count,
                         100 * (last["val_accuracy"] ?? .nan)))
        }

        let predicted = argmaxRows(try model.predict(test.inputs))
        let matrix = try ConfusionMatrix(classes: 10, predicted: predicted, actual: classLabels(test.targets, width: 10))
        print(matrix)
        try run.save(model, training: optimizer.settings.merging(
            ["loss": .string("cross_entropy"), "epochs": .number(Double(epochs)),
             "batchSize": .number(Double(batchSize)), "seed": .number(Double(common.seed))]) { a, _ in a },
                     history: history, curves: nil)
        print("model saved to \(run.weights.path) and model.json, log.csv beside it")
        print(String(format: "time: %.1f s", Date().timeIntervalSince(start)))
        try common.report(testAccuracy: matrix.accuracy)
    }

    /// MNIST images (N, 1, 28, 28) as vectors (N, 784).
    func flattened(_ data: Dataset) throws -> Dataset {
        try Dataset(inputs: data.inputs.reshaped([data.count, 784]), targets: data.targets)
    }
}

useOpenBLASVectorKernels()
MLPMNIST.main()
