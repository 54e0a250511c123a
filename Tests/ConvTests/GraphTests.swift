import Conv
import Dense
import Foundation
import XCTest

/// The fixtures of Scripts/fixtures/make_graph_fixtures.py.
let graphFixture = Fixture(Bundle.module.url(forResource: "graph_golden", withExtension: "safetensors", subdirectory: "Fixtures")!)

/// A graph's layers and parameters against PyTorch, its training path (trainer, checkpoints,
/// workers) against a Sequential's, its files and its errors.
final class GraphTests: FolderTestCase {
    func conv(_ c: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) throws -> Conv2D.Config {
        try Conv2D.Config(inputChannels: c, outputChannels: o, kernelSize: (k, k), stride: (stride, stride),
                          padding: .explicit(padding, padding), bias: bias)
    }

    /// The residual block of the fixtures: conv3x3 s2 -> BN -> ReLU -> conv3x3 -> BN, plus the
    /// 1x1 stride-2 projection -> BN, added, ReLU.
    func residualBlock() throws -> Graph {
        let x = Node.input(shape: [4, 6, 6], name: "x")
        var h = try conv(4, 8, 3, stride: 2, padding: 1, bias: false)(x, name: "conv1")
        h = BatchNorm.Config(features: 8)(h, name: "bn1")
        h = Activation.Config(.relu)(h, name: "relu1")
        h = try conv(8, 8, 3, padding: 1, bias: false)(h, name: "conv2")
        h = BatchNorm.Config(features: 8)(h, name: "bn2")
        var s = try conv(4, 8, 1, stride: 2, bias: false)(x, name: "shortcut")
        s = BatchNorm.Config(features: 8)(s, name: "shortcut_bn")
        let y = Activation.Config(.relu)(Add.Config()([h, s], name: "add"), name: "relu2")
        return try Graph(inputs: [x], outputs: [y], random: RandomGenerator(seed: 1))
    }

    /// h = tanh(fc1(x)) read four times: fc_a, fc_b, the gate and the product h * gate.
    func branches(random: RandomGenerator? = RandomGenerator(seed: 1)) throws -> Graph {
        let x = Node.input(shape: [5], name: "x")
        let h = Activation.Config(.tanh)(Linear.Config(inputFeatures: 5, outputFeatures: 4)(x, name: "fc1"), name: "tanh")
        let g = Activation.Config(.sigmoid)(Linear.Config(inputFeatures: 4, outputFeatures: 4)(h, name: "gate"), name: "sigmoid")
        let a = Linear.Config(inputFeatures: 4, outputFeatures: 3)(h, name: "fc_a")
        let b = Linear.Config(inputFeatures: 4, outputFeatures: 2)(h, name: "fc_b")
        let joined = Concatenate.Config(axis: -1)([a, b, Multiply.Config()([h, g], name: "gated")], name: "cat")
        let y = Linear.Config(inputFeatures: 9, outputFeatures: 2)(joined, name: "fc_out")
        return try Graph(inputs: [x], outputs: [y], random: random)
    }

    func channels() throws -> Graph {
        let x = Node.input(shape: [3, 5, 5], name: "x")
        let c1 = try conv(3, 2, 1)(x, name: "c1")
        let c2 = Activation.Config(.relu)(try conv(3, 4, 3, padding: 1)(x, name: "c2"), name: "relu")
        let pooled = GlobalAveragePooling2D.Config()(Concatenate.Config(axis: 0)([c1, c2], name: "cat"), name: "gap")
        let y = Linear.Config(inputFeatures: 6, outputFeatures: 3)(pooled, name: "fc")
        return try Graph(inputs: [x], outputs: [y], random: RandomGenerator(seed: 1))
    }

    /// Forward, every parameter gradient and BatchNorm's running statistics within 1e-4 of PyTorch.
    func matchesPyTorch(_ graph: Graph, case name: String) {
        for p in graph.parameters { p.value.assign(graphFixture("\(name).\(p.name)")) }
        graph.zeroGradients()
        let y = graph.forward(graphFixture("\(name).x"), training: true)
        assertClose(y, graphFixture("\(name).y"), relative: 1e-4, absolute: 1e-4, "\(name) output")
        graph.backward(graphFixture("\(name).dy"))
        for p in graph.parameters {
            assertClose(p.gradient, graphFixture("\(name).d.\(p.name)"), relative: 1e-4, absolute: 1e-4, "\(name) d\(p.name)")
        }
        for b in graph.buffers {
            assertClose(b.value, graphFixture("\(name).\(b.name).after"), relative: 1e-4, absolute: 1e-4, "\(name) \(b.name)")
        }
    }

    func testResidualBlockWithProjectionMatchesPyTorch() throws {
        let graph = try residualBlock()
        XCTAssertEqual(graph.outputShape, [8, 3, 3])
        XCTAssertEqual(graph.parameters.count, 9)
        matchesPyTorch(graph, case: "residual")
    }

    func testNodeReadFourTimesAndConcatenationMatchPyTorch() throws {
        matchesPyTorch(try branches(), case: "branches")
    }

    func testChannelConcatenationAndGlobalAveragePoolingMatchPyTorch() throws {
        matchesPyTorch(try channels(), case: "channels")
    }

    /// Finite differences through the whole graph (a node read four times, Multiply, Concatenate).
    func testGraphGradientByFiniteDifferences() throws {
        let graph = try branches()
        let random = RandomGenerator(seed: 3)
        let x = randomTensor([3, 5], random)
        let r = randomTensor([3, 2], random)
        func objective() -> Double {
            let y = graph.forward(x, training: true)
            return (0..<y.count).reduce(0.0) { $0 + Double(y[$1]) * Double(r[$1]) }
        }
        graph.zeroGradients()
        _ = graph.forward(x, training: true)
        graph.backward(r)
        let analytic = graph.parameterBlock.gradients.copy()
        let values = graph.parameterBlock.values
        let epsilon: Float = 1e-2
        for i in 0..<values.count {
            let saved = values[i]
            values[i] = saved + epsilon
            let plus = objective()
            values[i] = saved - epsilon
            let minus = objective()
            values[i] = saved
            let numeric = (plus - minus) / (2 * Double(epsilon))
            XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 1e-2 * max(1, abs(numeric)), "parameter element \(i)")
        }
    }

    func testGlobalAveragePoolingGradient() throws {
        XCTAssertEqual(try GlobalAveragePooling2D.Config().outputShape(for: [3, 4, 5]), [3])
        checkGradients(GlobalAveragePooling2D(), input: randomTensor([2, 3, 4, 5], RandomGenerator(seed: 2)))
        XCTAssertThrowsError(try GlobalAveragePooling2D.Config().outputShape(for: [3, 4])) { XCTAssertTrue("\($0)".contains("[3, 4]"), "\($0)") }
    }

    func testMergeLayerGradients() throws {
        // One input of each elementwise merge through checkGradients; Concatenate and several inputs
        // through the graph tests (finite differences and PyTorch).
        let random = RandomGenerator(seed: 5)
        checkGradients(Add(), input: randomTensor([2, 3], random))
        checkGradients(Multiply(), input: randomTensor([2, 3], random))
        checkGradients(Identity(), input: randomTensor([2, 3], random))
    }

    /// The same layers as a chain: a Sequential and a graph from the same seed train to the same
    /// weights, bit for bit, on one worker and on two.
    func testChainAsGraphIsBitIdenticalToSequential() throws {
        let layers: [(String, any LayerConfig)] = [
            ("conv", try conv(1, 4, 3, padding: 1)), ("bn", BatchNorm.Config(features: 4)), ("relu", Activation.Config(.relu)),
            ("pool", MaxPool2D.Config(window: PoolingWindow(kernel: (2, 2)))), ("flatten", Flatten.Config()),
            ("drop", Dropout.Config(rate: 0.25)), ("fc", Linear.Config(inputFeatures: 36, outputFeatures: 3)),
        ]
        let random = RandomGenerator(seed: 8)
        let x = randomTensor([40, 1, 6, 6], random)
        let data = try Dataset(inputs: x, targets: Tensor(shape: [40], values: (0..<40).map { Float($0 % 3) }))
        try withBLASThreads(1) {
            for workers in [1, 2] {
                let initial = RandomGenerator(seed: 1)
                let sequential = try Sequential(inputShape: [1, 6, 6], layers.map { name, config in
                    let layer = try config.makeLayer(random: initial)
                    layer.name = name
                    return layer
                })
                var node = Node.input(shape: [1, 6, 6], name: "x")
                for (name, config) in layers { node = config(node, name: name) }
                let graph = try Graph(inputs: [firstInput(of: node)], outputs: [node], random: RandomGenerator(seed: 1))
                XCTAssertEqual(graph.parameterBlock.values.array, sequential.parameterBlock.values.array)
                var results: [[Float]] = []
                for model in [sequential, graph] as [any Model] {
                    let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), random: RandomGenerator(seed: 2))
                    try trainer.use(workers: workers)
                    try trainer.fit(data, epochs: 2, batchSize: 8)
                    results.append(model.parameterBlock.values.array + model.bufferBlock.values.array + (try trainer.predict(x)).array)
                }
                XCTAssertEqual(results[0], results[1], "workers \(workers)")
            }
        }
    }

    /// The input node a chain starts from.
    func firstInput(of node: Node) -> Node {
        var n = node
        while let first = n.inputs.first { n = first }
        return n
    }

    /// Two inputs, an image and a vector: the class is set by the image's brightness and the
    /// vector's first entry together (their sum's sign). Trains through the Trainer on packed samples, then predicts
    /// from the two tensors.
    func testTwoInputGraphTrainsAndPredicts() throws {
        let image = Node.input(shape: [1, 6, 6], name: "image")
        let vector = Node.input(shape: [3], name: "vector")
        let features = GlobalAveragePooling2D.Config()(Activation.Config(.relu)(try conv(1, 4, 3, padding: 1)(image, name: "conv")), name: "gap")
        let v = Activation.Config(.relu)(Linear.Config(inputFeatures: 3, outputFeatures: 4)(vector, name: "fc_v"))
        let y = Linear.Config(inputFeatures: 8, outputFeatures: 2)(Concatenate.Config()([features, v]), name: "head")
        let graph = try Graph(inputs: [image, vector], outputs: [y], random: RandomGenerator(seed: 1))
        XCTAssertEqual(graph.inputShape, [39])
        let random = RandomGenerator(seed: 4)
        let n = 256
        let images = Tensor(shape: [n, 1, 6, 6]), vectors = randomTensor([n, 3], random)
        var labels: [Float] = []
        for i in 0..<n {
            let bright = i % 2 == 0
            for k in 0..<36 { images[i * 36 + k] = (bright ? 1 : 0) + 0.3 * Float(random.uniform() - 0.5) }
            labels.append((bright ? 0.5 : -0.5) + vectors[i * 3] > 0 ? 1 : 0)
        }
        let data = try Dataset(inputs: Graph.pack([images, vectors]), targets: Tensor(shape: [n], values: labels))
        let trainer = Trainer(model: graph, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.02), random: random)
        try trainer.fit(data, epochs: 40, batchSize: 32)
        let accuracy = try XCTUnwrap(try trainer.evaluate(data)["accuracy"])
        XCTAssertGreaterThan(accuracy, 0.9)
        let fromPacked = try trainer.predict(data.inputs)
        let fromTwo = graph.forward([images, vectors], training: false)[0]
        XCTAssertEqual(fromPacked.array, fromTwo.array)
    }

    /// Fit two epochs, checkpoint, fit on in a fresh trainer: the same weights as four straight,
    /// bit for bit; the saved graph loads (as a Graph and through SavedModel) and predicts alike.
    func testCheckpointResumeAndSaveLoad() throws {
        let random = RandomGenerator(seed: 6)
        let data = try Dataset(inputs: randomTensor([60, 5], random), targets: randomTensor([60, 2], random))
        func trainer() throws -> Trainer {
            Trainer(model: try branches(), loss: MeanSquaredError(), optimizer: Adam(learningRate: 0.01), random: RandomGenerator(seed: 2))
        }
        let url = folder.appendingPathComponent("checkpoint.safetensors")
        try withBLASThreads(1) {
            let straight = try trainer()
            try straight.fit(data, epochs: 4, batchSize: 16)
            let first = try trainer()
            try first.fit(data, epochs: 2, batchSize: 16)
            try first.saveCheckpoint(to: url)
            let resumed = try trainer()
            try resumed.loadCheckpoint(from: url)
            try resumed.fit(data, epochs: 4, batchSize: 16)
            XCTAssertEqual(resumed.model.parameterBlock.values.array, straight.model.parameterBlock.values.array)
            XCTAssertEqual(resumed.history, straight.history)

            let saved = folder.appendingPathComponent("model.safetensors")
            try straight.model.save(to: saved)
            let loaded = try Graph.load(from: saved, registry: LayerRegistry.dense)
            XCTAssertEqual(loaded.config, (straight.model as! Graph).config)
            XCTAssertEqual(try loaded.predict(data.inputs).array, try straight.predict(data.inputs).array)
            let either = try SavedModel.load(from: saved, registry: LayerRegistry.dense)
            XCTAssertTrue(either is Graph)
            XCTAssertEqual(try SafeTensors.read(from: saved).names.sorted().prefix(2), ["fc1.bias", "fc1.weight"])
        }
    }

    func testDamagedArchitectureIsAnErrorNamingTheNode() throws {
        let graph = try branches()
        let saved = folder.appendingPathComponent("model.safetensors")
        try graph.save(to: saved)
        let json = Sequential.configURL(forWeights: saved)
        let original = try String(contentsOf: json, encoding: .utf8)
        for (from, to, expected) in [
            ("\"fc1\"\n      ]", "\"fc_out\"\n      ]", "reads 'fc_out'"),          // an edge to a later node: a cycle
            ("\"inputFeatures\" : 9", "\"inputFeatures\" : 8", "'fc_out'"),        // shapes along an edge
            ("\"type\" : \"Concatenate\"", "\"type\" : \"Nope\"", "unknown layer type"),
        ] {
            let damaged = original.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(damaged, original, from)
            try damaged.write(to: json, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Graph.load(from: saved, registry: LayerRegistry.dense), from) { error in
                XCTAssertTrue("\(error)".contains(expected) && "\(error)".contains(json.path), "\(error)")
            }
        }
    }

    func testShapeErrorsNameTheNodeAndBothShapes() throws {
        let x = Node.input(shape: [4, 6, 6], name: "x")
        let a = try conv(4, 8, 3, stride: 2, padding: 1)(x, name: "down")
        XCTAssertThrowsError(try Graph(inputs: [x], outputs: [Add.Config()([a, x], name: "sum")], random: nil)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'sum'") && text.contains("[8, 3, 3]") && text.contains("[4, 6, 6]"), text)
        }
        let fc = Linear.Config(inputFeatures: 10, outputFeatures: 2)(x, name: "fc")
        XCTAssertThrowsError(try Graph(inputs: [x], outputs: [fc], random: nil)) { XCTAssertTrue("\($0)".contains("'fc'") && "\($0)".contains("[4, 6, 6]"), "\($0)") }
        let other = Node.input(shape: [3], name: "other")
        XCTAssertThrowsError(try Graph(inputs: [x], outputs: [Identity.Config()(other)], random: nil)) { XCTAssertTrue("\($0)".contains("'other'"), "\($0)") }
        XCTAssertThrowsError(try Graph(inputs: [x], outputs: [Concatenate.Config(axis: 1)([x, a])], random: nil)) { XCTAssertTrue("\($0)".contains("axis 1"), "\($0)") }
    }

    func testSummaryListsEachNodesInputs() throws {
        let summary = try residualBlock().summary()
        XCTAssertTrue(summary.contains("Connected to"), summary)
        let addLine = try XCTUnwrap(summary.split(separator: "\n").first { $0.hasPrefix("add (Add)") })
        XCTAssertTrue(addLine.hasSuffix("bn2, shortcut_bn"), String(addLine))
        XCTAssertTrue(summary.contains("Total params: 992"), summary)
    }

    /// README, "Networks as graphs": the residual block as written there.
    func testReadmeResidualBlock() throws {
        let x = Node.input(shape: [16, 32, 32], name: "x")
        func conv(_ c: Int, _ o: Int, _ k: Int, stride: Int) throws -> Conv2D.Config {
            try Conv2D.Config(inputChannels: c, outputChannels: o, kernelSize: (k, k), stride: (stride, stride),
                              padding: .explicit(k / 2, k / 2), bias: false)
        }
        var h = try conv(16, 32, 3, stride: 2)(x, name: "conv1")                        // (32, 16, 16)
        h = Activation.Config(.relu)(BatchNorm.Config(features: 32)(h, name: "bn1"), name: "relu1")
        h = BatchNorm.Config(features: 32)(try conv(32, 32, 3, stride: 1)(h, name: "conv2"), name: "bn2")
        let shortcut = BatchNorm.Config(features: 32)(try conv(16, 32, 1, stride: 2)(x, name: "proj"), name: "proj_bn")
        let y = Activation.Config(.relu)(Add.Config()([h, shortcut], name: "add"), name: "relu2")
        let block = try Graph(inputs: [x], outputs: [y], random: RandomGenerator(seed: 1))
        let summary = block.summary()                                                   // each node's inputs too
        XCTAssertEqual(block.outputShape, [32, 16, 16])
        XCTAssertTrue(summary.contains("bn2, proj_bn"), summary)
        XCTAssertEqual(block.parameters.map(\.name).prefix(3), ["conv1.weight", "bn1.weight", "bn1.bias"])
    }

    /// Two outputs: the trainer sees them packed (N, 2 + 3); mean squared error on packed targets
    /// trains both heads, and the packed prediction is the two outputs joined.
    func testTwoOutputsTrainOnPackedTargets() throws {
        let x = Node.input(shape: [4], name: "x")
        let h = Activation.Config(.tanh)(Linear.Config(inputFeatures: 4, outputFeatures: 6)(x, name: "shared"))
        let a = Linear.Config(inputFeatures: 6, outputFeatures: 2)(h, name: "head_a")
        let b = Linear.Config(inputFeatures: 6, outputFeatures: 3)(h, name: "head_b")
        let graph = try Graph(inputs: [x], outputs: [a, b], random: RandomGenerator(seed: 1))
        XCTAssertEqual(graph.outputShape, [5])
        let random = RandomGenerator(seed: 2)
        let inputs = randomTensor([64, 4], random)
        let targets = Tensor(shape: [64, 5])
        for i in 0..<64 {
            for k in 0..<5 { targets[i * 5 + k] = 0.5 * inputs[i * 4 + k % 4] - 0.2 * Float(k) }
        }
        let data = try Dataset(inputs: inputs, targets: targets)
        let trainer = Trainer(model: graph, loss: MeanSquaredError(), optimizer: Adam(learningRate: 0.02), random: random)
        let before = try XCTUnwrap(try trainer.evaluate(data)["loss"])
        try trainer.fit(data, epochs: 60, batchSize: 16)
        let after = try XCTUnwrap(try trainer.evaluate(data)["loss"])
        XCTAssertLessThan(after, before / 10)
        let outputs = graph.forward([inputs], training: false).map { $0.copy() }
        XCTAssertEqual(try trainer.predict(inputs).array, Graph.pack(outputs).array)
    }
}
