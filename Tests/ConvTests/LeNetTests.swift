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
        // Bit for bit: the same weights through the same products, one after the other in one process.
        XCTAssertEqual(loaded.forward(x).array, model.forward(x).array)
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
            let replica = try XCTUnwrap(parallel.replicas[0] as? Sequential)
            XCTAssertEqual(replica.layers.map { type(of: $0).typeName }, model.layers.map { type(of: $0).typeName })
            XCTAssertEqual(replica.config, model.config)
            XCTAssertEqual(replica.parameters.map(\.value.data), model.parameters.map(\.value.data))
            XCTAssertEqual(replica.forward(x).array, model.forward(x).array, "\(variant)")
            _ = parallel.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                          random: RandomGenerator(seed: 1))
            _ = DataParallel(model: reference).computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(),
                                                                metric: .accuracy, random: RandomGenerator(seed: 1))
            // The same sums grouped otherwise (3 + 3 rows against 6; OpenBLAS picks its kernels by
            // shape): each gradient entry sums at most 600 products (conv2's weight over 6 images
            // of 10 x 10), so it moves by at most 2 * 600 * 2^-24 = 7.2e-5 of the absolute sum of
            // its products. That sum is taken at the scale of the tensor's largest entry: entries
            // far below it are differences of larger products, where a relative test fails on
            // some OpenBLAS kernels (Haswell, Prescott, Sandybridge) although both are right.
            for (p, q) in zip(model.parameters, reference.parameters) {
                let scale = (0..<q.gradient.count).reduce(Float(0)) { max($0, abs(q.gradient[$1])) }
                assertClose(p.gradient, q.gradient, relative: 0, absolute: 1e-4 * scale, "\(variant) \(p.name)")
            }
        }
    }

    /// A damaged model.json beside valid weights: a kernel that would ask for hundreds of
    /// gigabytes, one within the limits that the weights do not hold, strides, padding and
    /// window sizes out of range. Each is an error naming the file, layer and option, found
    /// before any layer allocates.
    func testDamagedLeNetArchitectureIsAnErrorBeforeAnyAllocation() throws {
        let url = folder.appendingPathComponent("lenet.safetensors")
        try LeNet5.make(random: RandomGenerator(seed: 2)).save(to: url)
        let configURL = Sequential.configURL(forWeights: url)
        let original = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: configURL))
        let registry = LayerRegistry.dense.merging(.conv)
        let cases: [(String, (inout ModelConfig) -> Void, [String])] = [
            // 6 x 1 x 2^24 x 2^24 floats: about 6.8 PB.
            ("kernel of petabytes", { $0.layers[0].options["kernelSize"] = .numbers([16_777_216, 16_777_216]) },
             ["'conv1' (Conv2D)", "more than 268435456 elements"]),
            // 16 x 6 x 1500 x 1500 floats (864 MB): within the limits, not in the weights.
            ("kernel not in the weights", { $0.layers[3].options["kernelSize"] = .numbers([1500, 1500]) },
             ["'conv2' (Conv2D) needs 'conv2.weight' of shape [16, 6, 1500, 1500], lenet.safetensors has [16, 6, 5, 5]"]),
            ("kernel beyond Int", { $0.layers[0].options["kernelSize"] = .numbers([1e20, 5]) }, ["'conv1' (Conv2D)", "'kernelSize' is 1e+20"]),
            ("zero stride", { $0.layers[0].options["stride"] = .numbers([0, 1]) }, ["'conv1' (Conv2D)", "'stride' is [0, 1]"]),
            ("one number", { $0.layers[0].options["padding"] = .numbers([2]) }, ["'conv1' (Conv2D)", "'padding': must be a list of 2 whole numbers"]),
            ("zero channels", { $0.layers[0].options["outputChannels"] = .number(0) }, ["'conv1' (Conv2D)", "'outputChannels' is 0"]),
            ("pool window", { $0.layers[2].options["kernelSize"] = .numbers([-2, 2]) }, ["(MaxPool2D)", "'kernelSize' is [-2, 2]"]),
            ("pool padding", { $0.layers[2].options["padding"] = .numbers([5, 0]) }, ["(MaxPool2D)", "padding"]),
            // No parameters grow, the output does: 1 x (28 + 2^25) x (28 + 2^25) per sample.
            ("padding of gigapixels", { $0.layers[0].options["padding"] = .numbers([16_777_216, 16_777_216]) },
             ["[16, 8388612, 8388612]", "more than 268435456 elements"]),
            ("window larger than the image", { $0.layers[5].options["kernelSize"] = .numbers([20, 20]); $0.layers[5].options["stride"] = .numbers([20, 20]) },
             ["does not fit input [16, 10, 10]"]),
        ]
        for (name, damage, expected) in cases {
            var config = original
            damage(&config)
            try JSONEncoder().encode(config).write(to: configURL)
            XCTAssertThrowsError(try Sequential.load(from: url, registry: registry), name) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(configURL.path), "\(name): \(message)")
                for text in expected { XCTAssertTrue(message.contains(text), "\(name): \(message)") }
            }
        }
    }

    /// Padding grows a sample without growing the weights: a 1 x 1 kernel padded by 2^24 gives
    /// 2^50 floats per sample from a file of a few bytes. Refused when the model is loaded.
    func testPaddingThatGrowsOutputsBeyondTheLimitIsRefusedOnLoad() throws {
        let url = folder.appendingPathComponent("conv.safetensors")
        try Sequential(inputShape: [1, 4, 4], [Conv2D(1, 1, kernelSize: 1, random: RandomGenerator(seed: 1), name: "conv")]).save(to: url)
        let configURL = Sequential.configURL(forWeights: url)
        var config = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: configURL))
        config.layers[0].options["padding"] = .numbers([16_777_216, 16_777_216])
        try JSONEncoder().encode(config).write(to: configURL)
        XCTAssertThrowsError(try Sequential.load(from: url, registry: LayerRegistry.dense.merging(.conv))) { error in
            XCTAssertTrue("\(error)".contains(configURL.path)
                          && "\(error)".contains("layer 1 'conv' (Conv2D) gives outputs of shape [1, 33554436, 33554436] per sample"), "\(error)")
        }
    }

    /// What lenet --evaluate checks before feeding MNIST: a model for other data, or one whose
    /// layers would need more than the budget per sample, is an error naming the file.
    func testEvaluationCheckRefusesModelsNotShapedForMNIST() throws {
        let random = RandomGenerator(seed: 5)
        let lenet = try LeNet5.make(random: random)
        XCTAssertNoThrow(try lenet.check(inputShape: [1, 28, 28], outputShape: [10], path: "lenet.safetensors"))
        let classes = try LeNet5.make(classes: 7, random: random)
        XCTAssertThrowsError(try classes.check(inputShape: [1, 28, 28], outputShape: [10], path: "runs/x/model.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("runs/x/model.safetensors") && "\(error)".contains("gives [7]"), "\(error)")
        }
        let padded = try Sequential(inputShape: [1, 28, 28], [
            Conv2D(1, 1, kernelSize: 1, padding: .explicit(600, 600), random: random, name: "wide"),
            MaxPool2D(kernelSize: (1214, 1214), stride: (1214, 1214), name: "pool"), Flatten(), Linear(1, 10, random: random),
        ])
        XCTAssertThrowsError(try padded.check(inputShape: [1, 28, 28], outputShape: [10], path: "p.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("p.safetensors") && "\(error)".contains("at 'wide'"), "\(error)")
        }
    }

    func testLeNetTrainsOnAFewHundredRealDigits() throws {
        let data = try MNIST.load(.training, from: DataDirectory(root: dataRoot(holding: "mnist"))).prefix(512)
        let random = RandomGenerator(seed: 3)
        let trainer = Trainer(model: try LeNet5.make(random: random), loss: SoftmaxCrossEntropy(),
                              optimizer: Adam(learningRate: 2e-3), random: random)
        let before = try trainer.evaluate(data)["loss"]!
        let history = try trainer.fit(data, epochs: 3, batchSize: 32)
        XCTAssertLessThan(history["loss"].last!, history["loss"].first!)
        XCTAssertLessThan(try trainer.evaluate(data)["loss"]!, 0.5 * before)
    }
}
