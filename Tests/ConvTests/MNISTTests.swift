import Conv
import Dense
import Foundation
import TestSupport
import XCTest

/// Tests on the real MNIST files. They read the data root from SYNAPSE_DATA; without it they
/// skip on a developer's machine but fail under CI=true, where the data must be there.
final class MNISTTests: XCTestCase {
    func dataDirectory() throws -> DataDirectory { DataDirectory(root: try dataRoot(holding: "mnist")) }

    func testLoadsTheRealTestSet() throws {
        let test = try MNIST.load(.test, from: dataDirectory())
        XCTAssertEqual(test.inputs.shape, [10_000, 1, 28, 28])
        XCTAssertEqual(test.targets.shape, [10_000])
        XCTAssertEqual(Array(test.targets.array.prefix(5)), [7, 2, 1, 0, 4], "the first five test labels of MNIST")
        XCTAssertEqual(test.inputs.array.max(), 1)
        XCTAssertEqual(test.inputs.array.min(), 0)
        var counts = [Int](repeating: 0, count: 10)
        for label in test.targets.array { counts[Int(label)] += 1 }
        XCTAssertEqual(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    }

    func testAnMLPLearnsFromAFewThousandRealImages() throws {
        let train = try MNIST.load(.training, from: dataDirectory()).prefix(3000)
        let test = try MNIST.load(.test, from: dataDirectory()).prefix(1000)
        func flat(_ d: Dataset) throws -> Dataset { try Dataset(inputs: d.inputs.reshaped([d.count, 784]), targets: d.targets) }
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [784], [
            Linear(784, 64, initializer: .heUniform, random: random), Activation(.relu), Linear(64, 10, random: random),
        ])
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(), random: random)
        let history = try trainer.fit(try flat(train), epochs: 3, batchSize: 32)
        XCTAssertLessThan(history["loss"][2], history["loss"][0])
        XCTAssertGreaterThan(try trainer.evaluate(try flat(test))["accuracy"]!, 0.85)
    }
}
