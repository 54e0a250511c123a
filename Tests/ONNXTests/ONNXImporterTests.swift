import Foundation
@testable import ONNX
import Synapse
import TestSupport
import XCTest

final class ONNXImporterTests: XCTestCase {
    private func uniform(_ shape: [Int], _ random: RandomGenerator) -> Tensor {
        Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in random.uniform(-1, 1) })
    }

    /// Export, import, and the same outputs bit for bit, with the same parameter names.
    @discardableResult
    private func assertRoundTrip(_ model: any Model, input: Tensor, sameLayers: Bool = true,
                                 file: StaticString = #filePath, line: UInt = #line) throws -> any Model {
        let data = try ONNXExporter.export(model)
        let imported = try ONNXImporter.model(from: data, path: "round-trip.onnx")
        if sameLayers {  // Dropout and Identity have no node; a sum of three is two Adds
            XCTAssertEqual(imported.layers.map { type(of: $0).typeName }, model.layers.filter { !($0 is Dropout) }.map { type(of: $0).typeName },
                           file: file, line: line)
        }
        XCTAssertEqual(imported.inputShape, model.inputShape, file: file, line: line)
        XCTAssertEqual(imported.stateTensors.map(\.name), model.stateTensors.map(\.name), file: file, line: line)
        let expected = model.forward(input, training: false).array
        XCTAssertEqual(imported.forward(input, training: false).array, expected, file: file, line: line)
        return imported
    }

    func testLeNetRoundTrip() throws {
        let random = RandomGenerator(seed: 11)
        try assertRoundTrip(LeNet5.make(random: random), input: uniform([4, 1, 28, 28], random))
        try assertRoundTrip(LeNet5.make(.original, random: random), input: uniform([4, 1, 28, 28], random))
    }

    func testVGGSmallRoundTrip() throws {
        let random = RandomGenerator(seed: 12)
        let model = try VGGSmall.make(channels: 3, height: 16, width: 16, classes: 5, random: random)
        for _ in 0..<2 { _ = model.forward(uniform([4, 3, 16, 16], random), training: true) }  // running statistics move
        try assertRoundTrip(model, input: uniform([3, 3, 16, 16], random))
    }

    func testDenseActivationsRoundTrip() throws {
        let random = RandomGenerator(seed: 13)
        let model = try Sequential(inputShape: [6], [
            Linear(6, 8, random: random, name: "fc1"), Activation(.leakyReLU(alpha: 0.2)), Dropout(rate: 0.3),
            Linear(8, 5, bias: false, random: random, name: "fc2"), Activation(.sigmoid),
            Linear(5, 4, random: random, name: "fc3"), Activation(.tanh), Activation(.softmax),
        ])
        try assertRoundTrip(model, input: uniform([5, 6], random))
    }

    func testEmbeddingAndSequenceLinearRoundTrip() throws {
        let random = RandomGenerator(seed: 14)
        let model = try Sequential(inputShape: [7], [
            Embedding(20, 4, random: random, name: "embedding"), Linear(4, 3, random: random, name: "fc"),
        ])
        let ids = Tensor(shape: [2, 7], values: (0..<14).map { _ in Float(random.below(20)) })
        try assertRoundTrip(model, input: ids)
    }

    func testSimpleRNNRoundTrip() throws {
        let random = RandomGenerator(seed: 15)
        let ids = Tensor(shape: [3, 5], values: (0..<15).map { _ in Float(random.below(10)) })
        try assertRoundTrip(Sequential(inputShape: [5], [
            Embedding(10, 3, random: random, name: "embedding"), SimpleRNN(3, 4, random: random, name: "rnn"),
            Linear(4, 2, random: random, name: "fc"),
        ]), input: ids)
        try assertRoundTrip(Sequential(inputShape: [5], [
            Embedding(10, 3, random: random, name: "embedding"),
            SimpleRNN(3, 4, mode: .manyToMany, nonlinearity: .relu, random: random, name: "rnn"),
            Linear(4, 2, random: random, name: "fc"),
        ]), input: ids)
    }

    /// Padded sequences (left padding, padding inside, a sequence of padding only): the export's
    /// packing of real steps and `sequence_lens` come back as the Embedding's padding index,
    /// for SimpleRNN, LSTM, GRU and Bidirectional alike.
    func testMaskedRecurrentRoundTrip() throws {
        let random = RandomGenerator(seed: 18)
        let ids = Tensor(shape: [4, 6], values: [0, 0, 3, 4, 5, 6,  1, 2, 0, 4, 5, 6,  0, 0, 0, 0, 0, 0,  7, 8, 9, 1, 2, 3])
        let layers: [any Layer] = [
            try SimpleRNN(3, 4, random: random, name: "rnn"),
            try LSTM(3, 4, random: random, name: "rnn"),
            try GRU(3, 4, random: random, name: "rnn"),
            try Bidirectional(.lstm(LSTM.Config(inputFeatures: 3, hiddenSize: 4)), random: random, name: "rnn"),
            try Bidirectional(.gru(GRU.Config(inputFeatures: 3, hiddenSize: 4)), merge: .sum, random: random, name: "rnn"),
        ]
        for layer in layers {
            let width = try layer.outputShape(for: [6, 3]).last!
            let model = try Sequential(inputShape: [6], [
                Embedding(10, 3, paddingIndex: 0, random: random, name: "embedding"), layer, Linear(width, 2, random: random, name: "fc"),
            ])
            let imported = try assertRoundTrip(model, input: ids)
            XCTAssertEqual((imported.layers[0] as? Embedding)?.paddingIndex, 0)
        }
    }

    /// A packing that is not the export's (a changed constant) is an error naming the node.
    func testDamagedPaddingMaskIsRefusedByNode() throws {
        let random = RandomGenerator(seed: 24)
        let model = try Sequential(inputShape: [5], [
            Embedding(10, 3, paddingIndex: 0, random: random, name: "embedding"), SimpleRNN(3, 4, random: random, name: "rnn"),
        ])
        var proto = try ONNXExporter.modelProto(model, graphName: "masked")
        let k = try XCTUnwrap(proto.graph.initializer.firstIndex { $0.name == "rnn/steps" })
        proto.graph.initializer[k].int64Data = [4]
        XCTAssertThrowsError(try ONNXImporter.model(from: proto.serializedData(), path: "masked.onnx")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("masked.onnx: node 'embedding/ids' (Cast): "), message)
            XCTAssertTrue(message.contains("the padding mask after the Embedding (node 'rnn/is_padding' (Equal) on) is not the packing"), message)
        }
    }

    /// A tensor read by two nodes and merged again: the import is a Graph, its output the
    /// ONNX model's.
    func testBranchingONNXGraphImportsAsGraph() throws {
        let random = RandomGenerator(seed: 16)
        let chain = try Sequential(inputShape: [3], [Linear(3, 3, random: random, name: "fc"), Activation(.relu, name: "relu")])
        var proto = try ONNXExporter.modelProto(chain, graphName: "branch")
        // A second reader of the Linear's output: an Add of it and the ReLU's.
        var add = Onnx_NodeProto()
        (add.opType, add.name, add.input, add.output) = ("Add", "skip", [proto.graph.node[1].output[0], proto.graph.node[0].output[0]], ["sum"])
        proto.graph.node.insert(add, at: 2)
        proto.graph.node[3].input = ["sum"]
        let imported = try ONNXImporter.model(from: proto.serializedData(), path: "branch.onnx")
        let graph = try XCTUnwrap(imported as? Graph)
        XCTAssertEqual(graph.layers.map(\.name), ["fc", "relu", "skip"])
        XCTAssertEqual(graph.layerInputs, [["input"], ["fc"], ["relu", "fc"]])
        let x = uniform([4, 3], random)
        let h = chain.layers[0].forward(x, training: false).array
        XCTAssertEqual(graph.forward(x, training: false).array, zip(h, h).map { max($0, 0) + $1 })
        // An Add of a computed tensor and an unknown one names the node.
        proto.graph.node[2].input[1] = "nowhere"
        XCTAssertThrowsError(try ONNXImporter.model(from: proto.serializedData(), path: "branch.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("branch.onnx: node 'skip' (Add): reads 'nowhere'"), "\(error)")
        }
    }

    /// resnet-small: residual Adds, projection shortcuts, nodes read twice, GlobalAveragePool.
    func testResNetSmallRoundTrip() throws {
        let random = RandomGenerator(seed: 19)
        let model = try ResNetSmall.make(channels: 3, height: 8, width: 8, classes: 4, depth: 8, random: random)
        for _ in 0..<2 { _ = model.forward(uniform([4, 3, 8, 8], random), training: true) }  // running statistics move
        let imported = try assertRoundTrip(model, input: uniform([3, 3, 8, 8], random))
        let graph = try XCTUnwrap(imported as? Graph)
        XCTAssertEqual(graph.layerInputs, model.layerInputs)
        XCTAssertEqual(graph.layers.map(\.name), model.layers.map(\.name))
    }

    /// Concatenate, Multiply, Identity and an Add of three inputs; a graph that is a chain comes
    /// back as a Sequential.
    func testMergesRoundTrip() throws {
        let random = RandomGenerator(seed: 20)
        let x = Node.input(shape: [6], name: "input")
        let a = Linear.Config(inputFeatures: 6, outputFeatures: 4)(x, name: "a")
        let b = Activation.Config(.tanh)(Linear.Config(inputFeatures: 6, outputFeatures: 4)(x, name: "b"), name: "b_tanh")
        let joined = Concatenate.Config()([a, b], name: "joined")
        let product = Identity.Config()(Multiply.Config()([joined, joined], name: "square"), name: "same")
        let sum = Add.Config()([joined, product, joined], name: "sum")
        let model = try Graph(inputs: [x], outputs: [Linear.Config(inputFeatures: 8, outputFeatures: 2)(sum, name: "fc")], random: random)
        let imported = try assertRoundTrip(model, input: uniform([5, 6], random), sameLayers: false)
        // Names from the nodes; "sum/1" (the first of the two Adds) is not plain and is named anew.
        XCTAssertEqual(imported.layers.map(\.name), ["a", "b", "b_tanh", "joined", "square", "add_1", "sum", "fc"])
        XCTAssertEqual((imported as? Graph)?.layerInputs.last, ["sum"])

        // Image channels: Concatenate along axis 0 of (C, H, W) is ONNX's axis 1.
        let image = Node.input(shape: [2, 5, 5], name: "image")
        let conv = try Conv2D.Config(inputChannels: 2, outputChannels: 3, kernelSize: (3, 3), padding: .explicit(1, 1))
        let channels = Concatenate.Config(axis: 0)([conv(image, name: "conv"), image], name: "channels")
        let pooled = GlobalAveragePooling2D.Config()(channels, name: "pool")
        try assertRoundTrip(Graph(inputs: [image], outputs: [pooled], random: random), input: uniform([2, 2, 5, 5], random))

        let chain = Activation.Config(.relu)(Linear.Config(inputFeatures: 6, outputFeatures: 3)(x, name: "fc"), name: "relu")
        let asSequential = try assertRoundTrip(Graph(inputs: [x], outputs: [chain], random: random), input: uniform([2, 6], random))
        XCTAssertTrue(asSequential is Sequential)
    }

    /// LSTM, GRU and Bidirectional (concatenated and summed) over them and SimpleRNN, both modes,
    /// back with their weights in PyTorch's gate order: the same outputs bit for bit.
    func testGatedRecurrentRoundTrip() throws {
        let random = RandomGenerator(seed: 21)
        let x = uniform([3, 5, 4], random)
        let layers: [any Layer] = [
            try LSTM(4, 6, random: random, name: "lstm"),
            try LSTM(4, 6, mode: .manyToMany, random: random, name: "lstm"),
            try GRU(4, 6, random: random, name: "gru"),
            try GRU(4, 6, mode: .manyToMany, random: random, name: "gru"),
            try Bidirectional(.lstm(LSTM.Config(inputFeatures: 4, hiddenSize: 6)), random: random, name: "bi"),
            try Bidirectional(.gru(GRU.Config(inputFeatures: 4, hiddenSize: 6, mode: .manyToMany)), random: random, name: "bi"),
            try Bidirectional(.gru(GRU.Config(inputFeatures: 4, hiddenSize: 6)), merge: .sum, random: random, name: "bi"),
            try Bidirectional(.simpleRNN(SimpleRNN.Config(inputFeatures: 4, hiddenSize: 6, mode: .manyToMany, nonlinearity: .relu)),
                              merge: .sum, random: random, name: "bi"),
        ]
        for layer in layers {
            // Non-zero biases everywhere, so a bias in the wrong gate shows.
            for p in layer.parameters where p.shape.count == 1 {
                p.value.assign(uniform(p.shape, random))
            }
            let width = try layer.outputShape(for: [5, 4]).last!
            let model = try Sequential(inputShape: [5, 4], [layer, Linear(width, 2, random: random, name: "fc")])
            let imported = try assertRoundTrip(model, input: x)
            XCTAssertEqual(imported.layers[0].config as? Bidirectional.Config, layer.config as? Bidirectional.Config)
        }
    }

    /// SequencePooling after a many-to-many layer: ReduceMean or ReduceMax over axis 1 and back,
    /// the same outputs bit for bit; under a padding mask it is refused, naming the layer (ONNX's
    /// reductions would count the padded steps).
    func testSequencePoolingRoundTripAndMaskRefused() throws {
        let random = RandomGenerator(seed: 23)
        for reduction in SequencePooling.Reduction.allCases {
            let model = try Sequential(inputShape: [5, 4], [
                GRU(4, 6, mode: .manyToMany, random: random, name: "gru"),
                SequencePooling(reduction, name: "pool"),
                Linear(6, 2, random: random, name: "fc"),
            ])
            let imported = try assertRoundTrip(model, input: uniform([3, 5, 4], random))
            XCTAssertEqual((imported.layers[1] as? SequencePooling)?.reduction, reduction)
            let masked = try Sequential(inputShape: [5], [
                Embedding(9, 4, paddingIndex: 0, random: random, name: "embedding"),
                SequencePooling(reduction, name: "pool"),
            ])
            XCTAssertThrowsError(try ONNXExporter.export(masked)) {
                XCTAssertTrue("\($0)".contains("'pool'") && "\($0)".contains("padding mask"), "\($0)")
            }
        }
    }

    /// ONNX's LSTM gates are i, o, f, c: the exported W's second block is PyTorch's fourth (o).
    func testLSTMGateOrderInONNX() throws {
        let random = RandomGenerator(seed: 22)
        let lstm = try LSTM(2, 3, random: random, name: "lstm")
        let proto = try ONNXExporter.modelProto(Sequential(inputShape: [4, 2], [lstm]), graphName: "gates")
        let w = try XCTUnwrap(proto.graph.initializer.first { $0.name == "lstm.weight_ih" })
        XCTAssertEqual(w.dims, [1, 12, 2])
        let values = try ONNXTensorReader.floats(w).array
        let pytorch = lstm.weightIH.value.array
        let (block, blocks) = (6, [0, 3, 1, 2])
        for (k, source) in blocks.enumerated() {
            XCTAssertEqual(Array(values[k * block..<(k + 1) * block]), Array(pytorch[source * block..<(source + 1) * block]))
        }
        let gru = try ONNXExporter.modelProto(Sequential(inputShape: [4, 2], [GRU(2, 3, random: random, name: "gru")]), graphName: "gru")
        let node = try XCTUnwrap(gru.graph.node.first { $0.opType == "GRU" })
        XCTAssertEqual(node.attribute.first { $0.name == "linear_before_reset" }?.i, 1)
    }

    func testDamagedFilesAreErrorsNamingTheFile() throws {
        let random = RandomGenerator(seed: 17)
        let data = try ONNXExporter.export(LeNet5.make(random: random))
        for cut in [1, data.count / 3, data.count - 1] {
            XCTAssertThrowsError(try ONNXImporter.model(from: data.prefix(cut), path: "cut.onnx")) { error in
                XCTAssertTrue("\(error)".hasPrefix("cut.onnx: "), "\(error)")
            }
        }
        // A weight whose stored bytes do not match its dims.
        var proto = try Onnx_ModelProto(serializedBytes: data)
        proto.graph.initializer[0].dims = [6, 1, 5, 6]
        XCTAssertThrowsError(try ONNXImporter.model(from: proto.serializedData(), path: "dims.onnx")) { error in
            XCTAssertTrue("\(error)".contains("dims.onnx: node 'conv1' (Conv): tensor 'conv1.weight' of dims [6, 1, 5, 6] holds 600 bytes, not 720"), "\(error)")
        }
        // An operator outside the set.
        proto = try Onnx_ModelProto(serializedBytes: data)
        proto.graph.node[1].opType = "Elu"
        XCTAssertThrowsError(try ONNXImporter.model(from: proto.serializedData(), path: "op.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("op.onnx: node 'activation_1' (Elu): operator not imported"), "\(error)")
        }
    }

    /// A fixture of Scripts/fixtures/make_onnx_fixtures.py: the model, its input and PyTorch's output.
    private func pytorchFixture(_ name: String) throws -> (model: any Model, input: Tensor, expected: Tensor) {
        let folder = repositoryFile("Tests/ONNXTests/Fixtures")
        let shapes = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("\(name).json"))) as! [String: Any]
        func floats(_ suffix: String, _ key: String) throws -> Tensor {
            let data = try Data(contentsOf: folder.appendingPathComponent("\(name).\(suffix)"))
            let values = data.withUnsafeBytes { raw in
                (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            return Tensor(shape: shapes[key] as! [Int], values: values)
        }
        let model = try ONNXImporter.read(from: folder.appendingPathComponent("\(name).onnx"))
        return (model, try floats("input.bin", "input"), try floats("output.bin", "output"))
    }

    func testPyTorchLeNet() throws {
        let (model, input, expected) = try pytorchFixture("pytorch-lenet")
        XCTAssertEqual(model.layers.map { type(of: $0).typeName },
                       ["Conv2D", "Activation", "MaxPool2D", "Conv2D", "Activation", "MaxPool2D", "Flatten",
                        "Linear", "Activation", "Linear", "Activation", "Linear"])
        // PyTorch's parameter names come through (nn.Sequential numbers its layers).
        XCTAssertEqual(model.parameters.first?.name, "0.weight")
        assertClose(model.forward(input, training: false), expected, relative: 1e-5, absolute: 1e-5)
    }

    func testPyTorchCNNWithBatchNorm() throws {
        let (model, input, expected) = try pytorchFixture("pytorch-cnn-bn")
        // PyTorch folds BatchNorm2d into the convolutions; BatchNorm1d stays a BatchNormalization.
        XCTAssertTrue(model is Sequential)
        XCTAssertTrue(model.layers.contains { $0 is BatchNorm })
        XCTAssertTrue(model.layers.contains { $0 is AvgPool2D })
        assertClose(model.forward(input, training: false), expected, relative: 1e-5, absolute: 1e-5)
    }

    /// A branching network from torch.onnx.export (residual Add, Concat, Mul, global average
    /// pooling) imports as a Graph and gives PyTorch's outputs.
    func testPyTorchBranchingNetworkImportsAsGraph() throws {
        let (model, input, expected) = try pytorchFixture("pytorch-branching")
        let graph = try XCTUnwrap(model as? Graph)
        XCTAssertEqual(graph.layers.map { type(of: $0).typeName },
                       ["Conv2D", "Activation", "Conv2D", "Activation", "Conv2D", "Add", "Activation", "Conv2D", "Concatenate",
                        "GlobalAveragePooling2D", "Activation", "Multiply", "Linear"])
        // The stem's ReLU is read by the branch, the residual Add and the side convolution.
        XCTAssertEqual(graph.layerInputs.filter { $0.contains("activation_1") }.count, 3)
        assertClose(model.forward(input, training: false), expected, relative: 1e-5, absolute: 1e-5)
    }

    /// An imported model trains: one step of SGD lowers the loss on a batch.
    func testImportedLeNetTrains() throws {
        let (model, input, _) = try pytorchFixture("pytorch-lenet")
        let targets = Tensor(shape: [input.batchSize], values: (0..<input.batchSize).map { Float($0 % 10) })
        let loss = SoftmaxCrossEntropy()
        let optimizer = SGD(learningRate: 0.05)
        func step() -> Float {
            model.zeroGradients()
            let output = model.forward(input, training: true)
            let gradient = Tensor(shape: output.shape)
            let value = loss.compute(predictions: output, targets: targets, gradient: gradient)
            model.backward(gradient)
            optimizer.step(model.parameters)
            return value
        }
        let first = step()
        for _ in 0..<5 { _ = step() }
        XCTAssertLessThan(step(), first)
    }

    /// Fine-tuning: PyTorch's LeNet-5 (untrained, as `torch.onnx.export` wrote it) imports and
    /// trains with `Trainer.fit` for one epoch on 3,000 MNIST training images; on the first
    /// 1,000 test images its accuracy goes from chance to above 80 % and its loss falls.
    func testImportedLeNetFineTunesOnMNIST() throws {
        let data = DataDirectory(root: try dataRoot(holding: "mnist"))
        let train = try MNIST.load(.training, from: data).prefix(3000)
        let test = try MNIST.load(.test, from: data).prefix(1000)
        let (model, _, _) = try pytorchFixture("pytorch-lenet")
        let random = RandomGenerator(seed: 23)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.002), random: random)
        let before = try trainer.evaluate(test)
        let history = try trainer.fit(train, epochs: 1, batchSize: 32)
        let after = try trainer.evaluate(test)
        XCTAssertLessThan(before["accuracy"]!, 0.3)
        XCTAssertGreaterThan(after["accuracy"]!, 0.8)
        XCTAssertGreaterThan(after["accuracy"]!, before["accuracy"]!)
        XCTAssertLessThan(after["loss"]!, before["loss"]! / 3)
        XCTAssertEqual(history.epochs.count, 1)
        print("imported LeNet-5 on 1,000 MNIST test images: accuracy \(before["accuracy"]!) -> \(after["accuracy"]!), "
              + "loss \(before["loss"]!) -> \(after["loss"]!)")
    }

    /// The fuzz seeds, whole and damaged (cut, bytes changed): each imports or is an error
    /// naming the file, never a trap.
    func testFuzzSeedsWholeAndDamaged() throws {
        let folder = repositoryFile("Fuzz/Corpus/onnx")
        let seeds = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "onnx" }.sorted { $0.path < $1.path }
        XCTAssertGreaterThanOrEqual(seeds.count, 4)
        var imported = 0, refused = 0
        for seed in seeds {
            let data = try Data(contentsOf: seed)
            var variants = [data, data.prefix(data.count / 2), data.prefix(data.count - 3)]
            for k in 1...8 {
                var damaged = data
                let i = damaged.startIndex + (k * 7919) % damaged.count
                damaged[i] ^= UInt8(truncatingIfNeeded: 0x5A &+ k)
                variants.append(damaged)
            }
            for (v, variant) in variants.enumerated() {
                let path = "\(seed.lastPathComponent)#\(v)"
                do {
                    let model = try ONNXImporter.model(from: variant, path: path)
                    XCTAssertFalse(model.layers.isEmpty, path)
                    imported += 1
                } catch {
                    XCTAssertTrue("\(error)".hasPrefix("\(path): "), "\(error)")
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThan(imported, seeds.count / 2)
        XCTAssertGreaterThan(refused, seeds.count)
    }
}
