import Foundation
import Synapse
import TestSupport
import XCTest

/// The README's tour, step by step, on the first 2,000 MNIST images, so its example cannot rot;
/// it ends with class names from PNG files of the test set.
final class TourTests: XCTestCase {
    func testTheTourRuns() throws {
        let root = try dataRoot(holding: "mnist")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [1, 28, 28], [
            Flatten(),
            Linear(784, 128, initializer: .heUniform, random: random, name: "fc1"),
            Activation(.relu),
            Dropout(rate: 0.2),
            Linear(128, 10, random: random, name: "fc2"),
        ])
        XCTAssertTrue(model.summary().contains("Total params: 101,770"))

        let mnist = try MNIST.load(.training, from: DataDirectory(root: root)).prefix(2000)
        let train = try Dataset(inputs: mnist.inputs, targets: mnist.targets)

        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 1e-3),
                              random: random, schedule: ExponentialDecay(decay: 0.8))
        let history = try trainer.fit(train, epochs: 5, batchSize: 64,
                                      validation: .split(0.1, seed: 1),
                                      callbacks: [EarlyStopping(patience: 2),
                                                  CSVLogger(url: folder.appendingPathComponent("log.csv"))])
        XCTAssertFalse(history.epochs.isEmpty)
        XCTAssertGreaterThan(try trainer.evaluate(train)["accuracy"]!, 0.9)

        let url = folder.appendingPathComponent("mlp.safetensors")
        try model.save(to: url)
        let again = try Sequential.load(from: url, registry: .standard)
        // Bit for bit: the same weights through the same products, one after the other in one process.
        XCTAssertEqual(try again.predict(train.inputs).array, try model.predict(train.inputs).array)

        // The tour's last step: image files to class names. The first 20 test digits, as PNGs.
        let test = try MNIST.load(.test, from: DataDirectory(root: root)).prefix(20)
        var files: [URL] = []
        for i in 0..<20 {
            let file = folder.appendingPathComponent("digit-\(i).png")
            try PNG.write(try Image(tensor: test.inputs.view(at: i * 784, shape: [1, 28, 28])), to: file)
            files.append(file)
        }
        let digits = try ImageClassifier(model: model, classes: (0...9).map { "digit \($0)" },
                                         format: ImageFormat(width: 28, height: 28, channels: 1))
        try digits.save(to: folder.appendingPathComponent("digits"))   // model.safetensors, model.json, classes.json
        let loaded = try ImageClassifier.load(from: folder.appendingPathComponent("digits"))
        let best = try loaded.classify(files, top: 1).map { $0[0] }
        let truth = (0..<20).map { "digit \(Int(test.targets[$0]))" }
        XCTAssertGreaterThanOrEqual(zip(best, truth).filter { $0.0.className == $0.1 }.count, 17, "\(best.map(\.className)) vs \(truth)")
        XCTAssertTrue(best.allSatisfy { $0.probability > 0 && $0.probability <= 1 })
    }
}
