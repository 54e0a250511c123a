import Dense
import Foundation
import XCTest

final class SequentialTests: FolderTestCase {
    func mlp(seed: UInt64 = 1) throws -> Sequential {
        let random = RandomGenerator(seed: seed)
        return try Sequential(inputShape: [6], [
            Linear(6, 5, random: random, name: "fc1"), Activation(.relu), Linear(5, 3, random: random, name: "fc2"),
        ])
    }

    func testWholeModelMatchesPyTorch() throws {
        let model = try mlp()
        try model.loadWeights(from: fixtureURL("pytorch_mlp", "safetensors"))
        let logits = model.forward(fixture("mlp.x"), training: true)
        let gradient = Tensor(shape: logits.shape)
        let loss = SoftmaxCrossEntropy().compute(predictions: logits, targets: fixture("mlp.labels"), gradient: gradient)
        model.zeroGradients()
        model.backward(gradient)
        assertClose(Tensor(shape: [1], values: [loss]), fixture("mlp.loss"), "loss")
        for p in model.parameters {
            assertClose(p.gradient, fixture("mlp.grad_" + p.name.replacingOccurrences(of: ".", with: "_")), p.name)
        }
    }

    func testSummaryListsLayersShapesAndParameterCounts() throws {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [784], [
            Linear(784, 256, random: random, name: "fc1"), Activation(.relu), BatchNorm(features: 256),
            Dropout(rate: 0.2), Linear(256, 10, random: random, name: "fc2"),
        ])
        let summary = model.summary()
        XCTAssertTrue(summary.contains("fc1 (Linear)"), summary)
        XCTAssertTrue(summary.contains("activation_1 (ReLU)"), summary)
        XCTAssertTrue(summary.contains("(None, 256)"), summary)
        XCTAssertTrue(summary.contains("200,960"), summary)
        // 200,960 + 512 (gamma, beta) + 2,570 trainable; 512 running statistics.
        XCTAssertTrue(summary.contains("Total params: 204,554"), summary)
        XCTAssertTrue(summary.contains("Trainable params: 204,042"), summary)
        XCTAssertTrue(summary.contains("Non-trainable params: 512"), summary)
    }

    func testMismatchedLayersAreRejectedWhenBuilt() {
        let random = RandomGenerator(seed: 1)
        XCTAssertThrowsError(try Sequential(inputShape: [4], [
            Linear(4, 8, random: random, name: "a"), Linear(9, 2, random: random, name: "b"),
        ])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("'b'") && message.contains("[8]") && message.contains("9"), message)
        }
        XCTAssertThrowsError(try Sequential(inputShape: [4], [
            Linear(4, 4, random: random, name: "x"), Linear(4, 4, random: random, name: "x"),
        ]))
    }

    func testSaveAndLoadRestoreArchitectureAndOutputs() throws {
        let random = RandomGenerator(seed: 2)
        let model = try Sequential(inputShape: [6], [
            Linear(6, 5, initializer: .heNormal, random: random, name: "fc1"), BatchNorm(features: 5),
            Activation(.leakyReLU(alpha: 0.2)), Dropout(rate: 0.1), Linear(5, 3, random: random, name: "fc2"),
        ])
        let x = randomTensor([4, 6], random)
        _ = model.forward(x, training: true)  // move the running statistics off their start
        let url = folder.appendingPathComponent("m.safetensors")
        try model.save(to: url, training: ["epochs": .number(3)])
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("m.json").path))
        let loaded = try Sequential.load(from: url, registry: .dense)
        XCTAssertEqual(loaded.layers.map(\.name), model.layers.map(\.name))
        XCTAssertEqual(loaded.config.layers, model.config.layers)
        // Bit for bit: the same weights through the same products, one after the other in one process.
        XCTAssertEqual(loaded.forward(x, training: false).array, model.forward(x, training: false).array)
        let names = try SafeTensors.read(from: url).names
        XCTAssertEqual(Set(names), ["fc1.weight", "fc1.bias", "batchnorm_1.weight", "batchnorm_1.bias",
                                    "batchnorm_1.running_mean", "batchnorm_1.running_var", "fc2.weight", "fc2.bias"])
        // No temporary files are left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["m.json", "m.safetensors"])
    }

    func testLoadingMismatchedWeightsNamesEveryProblemAndChangesNothing() throws {
        let url = folder.appendingPathComponent("bad.safetensors")
        try SafeTensors.write([
            ("fc1.weight", Tensor(shape: [5, 7])), ("fc1.bias", Tensor(shape: [5])),
            ("fc2.weight", Tensor(shape: [3, 5])), ("extra", Tensor(shape: [1])),
        ], to: url)
        let model = try mlp()
        let before = model.parameters.map { $0.value.array }
        XCTAssertThrowsError(try model.loadWeights(from: url)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(url.path), message)
            XCTAssertTrue(message.contains("'fc1.weight' has shape [5, 7], the model needs [5, 6]"), message)
            XCTAssertTrue(message.contains("missing tensor 'fc2.bias'"), message)
            XCTAssertTrue(message.contains("unexpected tensor 'extra'"), message)
        }
        XCTAssertEqual(model.parameters.map { $0.value.array }, before)
    }

    func testLoadingIntegerWeightsIsRefused() throws {
        let contents = SafeTensors.Contents(
            tensors: try mlp().stateTensors.map { ($0.name, $0.value) }, metadata: [:],
            dtypes: ["fc1.weight": "I64"])
        XCTAssertThrowsError(try mlp().loadWeights(contents, path: "ints.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("dtype I64"), "\(error)")
        }
    }

    func testUnknownLayerTypeListsTheKnownOnes() throws {
        let url = folder.appendingPathComponent("m.safetensors")
        try mlp().save(to: url)
        let configURL = Sequential.configURL(forWeights: url)
        let text = try String(contentsOf: configURL, encoding: .utf8).replacingOccurrences(of: "\"Linear\"", with: "\"Dense9\"")
        try text.write(to: configURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Sequential.load(from: url, registry: .dense)) { error in
            XCTAssertTrue("\(error)".contains("unknown layer type 'Dense9'") && "\(error)".contains("Linear"), "\(error)")
        }
    }

    // MARK: Damaged architecture files (issue 12)

    /// Saves a small model, lets `damage` edit its architecture file, and returns the message of
    /// the error loading it gives (failing when it loads).
    func loadError(_ damage: (inout ModelConfig) -> Void, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let random = RandomGenerator(seed: 4)
        let model = try Sequential(inputShape: [6], [
            Linear(6, 5, random: random, name: "fc1"), BatchNorm(features: 5, name: "bn"),
            Dropout(rate: 0.1, name: "drop"), Linear(5, 3, random: random, name: "fc2"),
        ])
        let url = folder.appendingPathComponent("m.safetensors")
        try model.save(to: url)
        let configURL = Sequential.configURL(forWeights: url)
        var config = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: configURL))
        damage(&config)
        try JSONEncoder().encode(config).write(to: configURL)
        var message = ""
        XCTAssertThrowsError(try Sequential.load(from: url, registry: .dense), file: file, line: line) { message = "\($0)" }
        XCTAssertTrue(message.contains(configURL.path), "the error names the file: \(message)", file: file, line: line)
        return message
    }

    func testDamagedArchitectureOptionsAreErrorsNamingFileLayerAndOption() throws {
        let cases: [(String, (inout ModelConfig) -> Void, [String])] = [
            ("Linear size 0", { $0.layers[0].options["outputFeatures"] = .number(0) }, ["'fc1' (Linear)", "'outputFeatures' is 0"]),
            ("BatchNorm size 0", { $0.layers[1].options["features"] = .number(0) }, ["'bn' (BatchNorm)", "'features' is 0"]),
            ("Dropout rate 1", { $0.layers[2].options["rate"] = .number(1) }, ["'drop' (Dropout)", "'rate'", "[0, 1)"]),
            ("Dropout rate 1.5", { $0.layers[2].options["rate"] = .number(1.5) }, ["'drop' (Dropout)", "'rate'"]),
            ("Dropout rate -0.1", { $0.layers[2].options["rate"] = .number(-0.1) }, ["'drop' (Dropout)", "'rate'"]),
            ("above Int.max", { $0.layers[0].options["inputFeatures"] = .number(1e19) }, ["'fc1' (Linear)", "'inputFeatures' is 1e+19"]),
            ("far above Int.max", { $0.layers[3].options["outputFeatures"] = .number(1e300) }, ["'fc2' (Linear)", "'outputFeatures'"]),
            ("fraction", { $0.layers[0].options["inputFeatures"] = .number(2.5) }, ["'inputFeatures' is 2.5", "whole number"]),
            ("absurd weight", {
                $0.layers[0].options["inputFeatures"] = .number(16_777_216)
                $0.layers[0].options["outputFeatures"] = .number(16_777_216)
            }, ["'fc1' (Linear)", "more than 268435456 elements"]),
            // Within the limits (10^8 floats, 400 MB) but not what the weight file holds:
            // refused from the header, before any layer allocates.
            ("weights disagree", { $0.layers[0].options["inputFeatures"] = .number(10_000); $0.layers[0].options["outputFeatures"] = .number(10_000) },
             ["'fc1' (Linear) needs 'fc1.weight' of shape [10000, 10000], m.safetensors has [5, 6]", "'fc1.bias' of shape [10000]"]),
            // Unnamed layers cannot be matched by name; their weights are bounded by the file's.
            ("unnamed and large", { $0.layers[0].name = ""; $0.layers[0].options["inputFeatures"] = .number(10_000); $0.layers[0].options["outputFeatures"] = .number(10_000) },
             ["the layers need 100010038 weights, m.safetensors holds 73"]),
            ("BatchNorm momentum", { $0.layers[1].options["momentum"] = .number(5) }, ["'bn' (BatchNorm)", "'momentum'"]),
            ("input shape", { $0.inputShape = [Int.max] }, ["input shape [\(Int.max)]"]),
            ("empty input dimension", { $0.inputShape = [0] }, ["input shape [0]"]),
        ]
        for (name, damage, expected) in cases {
            let message = try loadError(damage)
            for text in expected { XCTAssertTrue(message.contains(text), "\(name): \(message)") }
        }
    }

    /// A layer whose output per sample is beyond the tensor limit, though its parameters are
    /// small: refused when the model is loaded, before anything runs.
    func testOutputsBeyondTheLimitAreRefusedOnLoad() throws {
        let random = RandomGenerator(seed: 1)
        let url = folder.appendingPathComponent("wide.safetensors")
        try Sequential(inputShape: [4], [Linear(4, 2, random: random, name: "fc")]).save(to: url)
        let configURL = Sequential.configURL(forWeights: url)
        var config = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: configURL))
        config.inputShape = [1 << 24, 1 << 24, 4]  // each dimension within the limit, not the product
        try JSONEncoder().encode(config).write(to: configURL)
        XCTAssertThrowsError(try Sequential.load(from: url, registry: .dense)) { error in
            XCTAssertTrue("\(error)".contains(configURL.path) && "\(error)".contains("input shape"), "\(error)")
        }
    }

    func testLayerInitialisersThrowOnBadArguments() throws {
        let random = RandomGenerator(seed: 1)
        XCTAssertThrowsError(try Linear(0, 3, random: random)) { XCTAssertTrue("\($0)".contains("Linear 'inputFeatures' is 0"), "\($0)") }
        XCTAssertThrowsError(try Linear(1 << 20, 1 << 20, random: random)) { XCTAssertTrue("\($0)".contains("more than"), "\($0)") }
        XCTAssertThrowsError(try BatchNorm(features: 0)) { XCTAssertTrue("\($0)".contains("BatchNorm 'features' is 0"), "\($0)") }
        XCTAssertThrowsError(try BatchNorm(features: 3, momentum: 2)) { XCTAssertTrue("\($0)".contains("momentum"), "\($0)") }
        for rate: Float in [-0.5, 1, .nan] {
            XCTAssertThrowsError(try Dropout(rate: rate)) { XCTAssertTrue("\($0)".contains("Dropout 'rate'"), "\($0)") }
        }
        XCTAssertThrowsError(try Activation(.leakyReLU(alpha: -1))) { XCTAssertTrue("\($0)".contains("LeakyReLU"), "\($0)") }
        XCTAssertNoThrow(try Dropout(rate: 0))
    }

    func testModelShapeCheckNamesTheFileAndBothShapes() throws {
        let model = try mlp()
        XCTAssertNoThrow(try model.check(inputShape: [6], outputShape: [3], path: "m.safetensors"))
        XCTAssertThrowsError(try model.check(inputShape: [1, 28, 28], outputShape: [10], path: "runs/m.safetensors")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("runs/m.safetensors") && message.contains("[6]") && message.contains("[3]")
                          && message.contains("[1, 28, 28]") && message.contains("[10]"), message)
        }
    }
}
