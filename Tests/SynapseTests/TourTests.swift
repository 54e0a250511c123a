import Conv
import Dense
import Foundation
import TestSupport
import XCTest

/// The README's tour, step by step, on the first 2,000 MNIST images, so its example cannot rot.
final class ReadmeTests: XCTestCase {
    func testTheTourRuns() throws {
        let root = try dataRoot(holding: "mnist")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [784], [
            Linear(784, 128, initializer: .heUniform, random: random, name: "fc1"),
            Activation(.relu),
            Dropout(rate: 0.2),
            Linear(128, 10, random: random, name: "fc2"),
        ])
        XCTAssertTrue(model.summary().contains("Total params: 101,770"))

        let mnist = try MNIST.load(.training, from: DataDirectory(root: root)).prefix(2000)
        let train = try Dataset(inputs: mnist.inputs.reshaped([mnist.count, 784]), targets: mnist.targets)

        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 1e-3),
                              random: random, schedule: ExponentialDecay(initial: 1e-3, decay: 0.8))
        let history = try trainer.fit(train, epochs: 5, batchSize: 64,
                                      validation: .split(0.1, seed: 1),
                                      callbacks: [EarlyStopping(patience: 2),
                                                  CSVLogger(url: folder.appendingPathComponent("log.csv"))])
        XCTAssertFalse(history.epochs.isEmpty)
        XCTAssertGreaterThan(try trainer.evaluate(train)["accuracy"]!, 0.9)

        let url = folder.appendingPathComponent("mlp.safetensors")
        try model.save(to: url)
        let again = try Sequential.load(from: url, registry: LayerRegistry.dense.merging(.conv))
        // Bit for bit: the same weights through the same products, one after the other in one process.
        XCTAssertEqual(try again.predict(train.inputs).array, try model.predict(train.inputs).array)
    }
}
