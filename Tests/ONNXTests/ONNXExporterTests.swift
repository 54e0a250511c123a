import Foundation
@testable import ONNX
import Synapse
import TestSupport
import XCTest

/// y = 2x: a layer type the exporter has no mapping for.
private final class Doubling: Layer {
    struct Config: LayerConfig {
        static let typeName = "Doubling"
        func validate() throws {}
        func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
        func makeLayer(random: RandomGenerator?) throws -> any Layer { Doubling() }
    }
    let config = Config()
    var name = ""
    func forward(_ input: Tensor, training: Bool) -> Tensor {
        Tensor(shape: input.shape, values: input.array.map { 2 * $0 })
    }
    func backward(_ outputGradient: Tensor) -> Tensor {
        Tensor(shape: outputGradient.shape, values: outputGradient.array.map { 2 * $0 })
    }
}

final class ONNXExporterTests: XCTestCase {
    private func exported(_ model: Sequential) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: ONNXExporter.export(model))
    }

    private func assertRefused(_ model: Sequential, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ONNXExporter.export(model), file: file, line: line) { error in
            let message = "\(error)"
            for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", file: file, line: line) }
        }
    }

    func testLeNetGraph() throws {
        let model = try LeNet5.make(random: RandomGenerator(seed: 1))
        let proto = try exported(model)
        XCTAssertEqual(proto.irVersion, 8)
        XCTAssertEqual(proto.opsetImport.map(\.version), [17])
        XCTAssertEqual(proto.graph.node.map(\.opType),
                       ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten",
                        "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Identity"])
        // The input: (N, 1, 28, 28) with N dynamic; the output (N, 10).
        let input = proto.graph.input[0].type.tensorType.shape.dim
        XCTAssertEqual(input.map(\.dimParam), ["N", "", "", ""])
        XCTAssertEqual(input.dropFirst().map(\.dimValue), [1, 28, 28])
        XCTAssertEqual(proto.graph.output[0].type.tensorType.shape.dim.dropFirst().map(\.dimValue), [10])
        // Every weight, under the model's name, with its values.
        XCTAssertEqual(proto.graph.initializer.map(\.name), model.stateTensors.map(\.name))
        for (tensor, parameter) in zip(proto.graph.initializer, model.stateTensors) {
            XCTAssertEqual(tensor.dims, parameter.shape.map(Int64.init))
            let values = tensor.rawData.withUnsafeBytes { raw in
                (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            XCTAssertEqual(values, parameter.value.array, tensor.name)
        }
        let conv1 = proto.graph.node[0].attribute.first { $0.name == "pads" }
        XCTAssertEqual(conv1?.ints, [2, 2, 2, 2])
    }

    func testDropoutIsLeftOut() throws {
        let random = RandomGenerator(seed: 2)
        let model = try Sequential(inputShape: [4], [Linear(4, 3, random: random, name: "fc"), Dropout(rate: 0.5)])
        XCTAssertEqual(try exported(model).graph.node.map(\.opType), ["Gemm", "Identity"])
    }

    func testUnknownLayerIsRefusedByName() throws {
        let random = RandomGenerator(seed: 3)
        let model = try Sequential(inputShape: [4], [Linear(4, 4, random: random, name: "fc"), Doubling()])
        assertRefused(model, mentioning: ["layer 2 'doubling_1' (Doubling)", "no ONNX mapping", "SimpleRNN"])
    }

    func testOneToManyRNNIsRefused() throws {
        let random = RandomGenerator(seed: 4)
        let model = try Sequential(inputShape: [3], [
            SimpleRNN(3, 5, mode: .oneToMany(steps: 4, feedback: .fixedInput), random: random, name: "generator"),
        ])
        assertRefused(model, mentioning: ["'generator' (SimpleRNN)", "one-to-many"])
    }

    func testMaskedManyToManyIsRefused() throws {
        let random = RandomGenerator(seed: 5)
        let model = try Sequential(inputShape: [6], [
            Embedding(10, 4, paddingIndex: 0, random: random, name: "embedding"),
            SimpleRNN(4, 5, mode: .manyToMany, random: random, name: "rnn"),
        ])
        assertRefused(model, mentioning: ["'rnn' (SimpleRNN)", "padding mask from 'embedding'"])
    }

    func testMaskWithoutRecurrentLayerIsRefused() throws {
        let random = RandomGenerator(seed: 6)
        let model = try Sequential(inputShape: [6], [
            Embedding(10, 4, paddingIndex: 0, random: random, name: "embedding"), Flatten(), Linear(24, 2, random: random),
        ])
        assertRefused(model, mentioning: ["padding mask of 'embedding'"])
    }

    func testRNNWeightsInONNXLayout() throws {
        let random = RandomGenerator(seed: 7)
        let model = try Sequential(inputShape: [5], [
            Embedding(10, 3, random: random, name: "embedding"), SimpleRNN(3, 4, random: random, name: "rnn"),
        ])
        let proto = try exported(model)
        let byName = Dictionary(uniqueKeysWithValues: proto.graph.initializer.map { ($0.name, $0) })
        XCTAssertEqual(byName["rnn.weight_ih"]?.dims, [1, 4, 3])
        XCTAssertEqual(byName["rnn.weight_hh"]?.dims, [1, 4, 4])
        XCTAssertEqual(byName["rnn.bias"]?.dims, [1, 8])
        XCTAssertEqual(proto.graph.node.map(\.opType), ["Cast", "Gather", "Transpose", "RNN", "Squeeze", "Identity"])
    }
}
