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
    private func assertRoundTrip(_ model: Sequential, input: Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try ONNXExporter.export(model)
        let imported = try ONNXImporter.model(from: data, path: "round-trip.onnx")
        XCTAssertEqual(imported.inputShape, model.inputShape, file: file, line: line)
        XCTAssertEqual(imported.stateTensors.map(\.name), model.stateTensors.map(\.name), file: file, line: line)
        let expected = model.forward(input, training: false).array
        XCTAssertEqual(imported.forward(input, training: false).array, expected, file: file, line: line)
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

    /// The export of a padding mask (sequence_lens and the nodes that pack the real steps) is
    /// not a chain the importer reads: an error naming the nodes that branch.
    func testMaskedRNNIsRefusedByNode() throws {
        let random = RandomGenerator(seed: 18)
        let model = try Sequential(inputShape: [5], [
            Embedding(10, 3, paddingIndex: 0, random: random, name: "embedding"), SimpleRNN(3, 4, random: random, name: "rnn"),
        ])
        XCTAssertThrowsError(try ONNXImporter.model(from: ONNXExporter.export(model), path: "masked.onnx")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("masked.onnx: node 'rnn/is_padding' (Equal) and node 'embedding' both read 'embedding/ids'"), message)
            XCTAssertTrue(message.contains("branching graph"), message)
        }
    }

    func testBranchingGraphIsRefusedByNode() throws {
        let random = RandomGenerator(seed: 16)
        var proto = try ONNXExporter.modelProto(
            Sequential(inputShape: [3], [Linear(3, 3, random: random, name: "fc"), Activation(.relu, name: "relu")]),
            graphName: "branch")
        // A second reader of the Linear's output: an Add of it and the ReLU's.
        var add = Onnx_NodeProto()
        (add.opType, add.name, add.input, add.output) = ("Add", "skip", [proto.graph.node[1].output[0], proto.graph.node[0].output[0]], ["sum"])
        proto.graph.node.insert(add, at: 2)
        proto.graph.node[3].input = ["sum"]
        XCTAssertThrowsError(try ONNXImporter.model(from: proto.serializedData(), path: "branch.onnx")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("branch.onnx: node 'skip' (Add)") && message.contains("branching graph"), message)
        }
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
    private func pytorchFixture(_ name: String) throws -> (model: Sequential, input: Tensor, expected: Tensor) {
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
        XCTAssertTrue(model.layers.contains { $0 is BatchNorm })
        XCTAssertTrue(model.layers.contains { $0 is AvgPool2D })
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
