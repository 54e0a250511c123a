import Conv
import Dense
import Foundation
import XCTest

final class LeNetTests: FolderTestCase {
    func testLeNetHasThePublishedShapeAndParameterCount() throws {
        for variant in LeNet5.Variant.allCases {
            let model = try LeNet5.make(variant, random: RandomGenerator(seed: 1))
            XCTAssertEqual(model.outputShapes.map { $0 }, [
                [6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5], [400],
                [120], [120], [84], [84], [10],
            ])
            let summary = model.summary()
            XCTAssertTrue(summary.contains("Total params: 61,706"), summary)
            XCTAssertEqual(model.parameters.map(\.name), [
                "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias",
            ])
        }
    }

    func testLeNetSavesAndLoadsThroughTheLayerTable() throws {
        let random = RandomGenerator(seed: 2)
        let model = try LeNet5.make(random: random)
        let x = randomTensor([3, 1, 28, 28], random)
        let url = folder.appendingPathComponent("lenet.safetensors")
        try model.save(to: url)
        XCTAssertThrowsError(try Sequential.load(from: url, registry: .dense)) { error in
            XCTAssertTrue("\(error)".contains("unknown layer type 'Conv2D'"), "\(error)")
        }
        let loaded = try Sequential.load(from: url, registry: LayerRegistry.dense.merging(.conv))
        XCTAssertEqual(loaded.forward(x).array, model.forward(x).array)
        // By default every layer type linked into the program is known: no table to name.
        let linked = try Sequential.load(from: url)
        XCTAssertEqual(linked.config, model.config)
        XCTAssertEqual(linked.forward(x).array, model.forward(x).array)
    }

    /// Both variants on two workers: the replicas are clones of every Conv layer that read the
    /// model's parameter block, and the gradient equals one worker's.
    func testLeNetOnTwoWorkersSharesTheWeightsAndMatchesOneWorker() throws {
        for variant in LeNet5.Variant.allCases {
            let random = RandomGenerator(seed: 5)
            let (x, y) = (randomTensor([6, 1, 28, 28], random), Tensor(shape: [6], values: [0, 1, 2, 3, 4, 5]))
            let model = try LeNet5.make(variant, random: RandomGenerator(seed: 6))
            let reference = try LeNet5.make(variant, random: RandomGenerator(seed: 6))
            let parallel = try DataParallel(model: model, workers: 2)
            let replica = parallel.replicas[0]
            XCTAssertEqual(replica.layers.map { type(of: $0).typeName }, model.layers.map { type(of: $0).typeName })
            XCTAssertEqual(replica.config, model.config)
            XCTAssertEqual(replica.parameters.map(\.value.data), model.parameters.map(\.value.data))
            XCTAssertEqual(replica.forward(x).array, model.forward(x).array, "\(variant)")
            _ = parallel.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                          random: RandomGenerator(seed: 1))
            _ = DataParallel(model: reference).computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(),
                                                                metric: .accuracy, random: RandomGenerator(seed: 1))
            for (p, q) in zip(model.parameters, reference.parameters) {
                assertClose(p.gradient, q.gradient, relative: 1e-5, absolute: 1e-7, "\(variant) \(p.name)")
            }
        }
    }

    func testLeNetTrainsOnAFewHundredRealDigits() throws {
        let data = try MNIST.load(.training, from: DataDirectory(root: dataRoot(holding: "mnist"))).prefix(512)
        let random = RandomGenerator(seed: 3)
        let trainer = Trainer(model: try LeNet5.make(random: random), loss: SoftmaxCrossEntropy(),
                              optimizer: Adam(learningRate: 2e-3), random: random)
        let before = trainer.evaluate(data)["loss"]!
        let history = try trainer.fit(data, epochs: 3, batchSize: 32)
        XCTAssertLessThan(history["loss"].last!, history["loss"].first!)
        XCTAssertLessThan(trainer.evaluate(data)["loss"]!, 0.5 * before)
    }
}
