import Dense
import Foundation
import Recurrent
import XCTest

final class BidirectionalTests: XCTestCase {
    let (n, t, f, h) = (3, 7, 4, 5)

    func wrapped(_ kind: String, mode: RecurrentMode) -> Bidirectional.Wrapped {
        kind == "lstm" ? .lstm(LSTM.Config(inputFeatures: f, hiddenSize: h, mode: mode))
                       : .gru(GRU.Config(inputFeatures: f, hiddenSize: h, mode: mode))
    }

    /// Both directions against PyTorch's `bidirectional=True` (packed when masked): output, input
    /// gradient and both directions' parameter gradients within 1e-4.
    func assertMatchesPyTorch(_ kind: String, _ name: String, mode: RecurrentMode, merge: Bidirectional.Merge = .concatenate,
                              masked: Bool, mask override: Tensor? = nil, input: Tensor? = nil,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let prefix = "\(kind).\(name)"
        let layer = try Bidirectional(wrapped(kind, mode: mode), merge: merge, random: RandomGenerator(seed: 1))
        for (direction, copy) in [("forward", layer.forwardLayer), ("backward", layer.backwardLayer)] {
            for (p, tensor) in zip(copy.parameters, gatedParameterNames) {
                p.value.assign(gatedFixture("\(prefix).\(direction).\(tensor)"))
            }
        }
        layer.inputMask = override ?? (masked ? gatedFixture("\(prefix).mask") : nil)
        let y = layer.forward(input ?? gatedFixture("\(prefix).x"), training: true)
        let expectedY = gatedFixture("\(prefix).y"), expectedDx = gatedFixture("\(prefix).dx")
        if override == nil {
            assertClose(y, expectedY, relative: 0, absolute: 1e-4, "\(prefix) output", file: file, line: line)
            assertClose(layer.backward(gatedFixture("\(prefix).dy")), expectedDx, relative: 0, absolute: 1e-4,
                        "\(prefix) input gradient", file: file, line: line)
        } else {
            // Left padding (many-to-one): the same final states and gradients, the input gradient moved.
            assertClose(y, expectedY, relative: 0, absolute: 1e-4, "\(prefix) left-padded output", file: file, line: line)
            assertClose(layer.backward(gatedFixture("\(prefix).dy")), leftPadded(expectedDx, lengths: [7, 4, 1]).x,
                        relative: 0, absolute: 1e-4, "\(prefix) left-padded input gradient", file: file, line: line)
        }
        for (direction, copy) in [("forward", layer.forwardLayer), ("backward", layer.backwardLayer)] {
            for (p, tensor) in zip(copy.parameters, gatedParameterNames) {
                assertClose(p.gradient, gatedFixture("\(prefix).\(direction).d\(tensor)"), relative: 0, absolute: 1e-4,
                            "\(prefix) \(direction) d\(tensor)", file: file, line: line)
            }
        }
    }

    func testBothDirectionsMatchPyTorch() throws {
        for kind in ["lstm", "gru"] {
            try assertMatchesPyTorch(kind, "bi_m2o", mode: .manyToOne, masked: false)
            try assertMatchesPyTorch(kind, "bi_m2m", mode: .manyToMany, masked: false)
            try assertMatchesPyTorch(kind, "bi_masked_m2o", mode: .manyToOne, masked: true)
            try assertMatchesPyTorch(kind, "bi_masked_m2m", mode: .manyToMany, masked: true)
            try assertMatchesPyTorch(kind, "bi_sum_masked_m2m", mode: .manyToMany, merge: .sum, masked: true)
        }
    }

    /// The backward direction reads the real steps only, whatever side the padding is on.
    func testLeftPaddingGivesThePackedResults() throws {
        for kind in ["lstm", "gru"] {
            let (x, mask) = leftPadded(gatedFixture("\(kind).bi_masked_m2o.x"), lengths: [7, 4, 1])
            try assertMatchesPyTorch(kind, "bi_masked_m2o", mode: .manyToOne, masked: true, mask: mask, input: x)
        }
    }

    func testGradients() throws {
        let random = RandomGenerator(seed: 61)
        let mask = Tensor(shape: [3, 6], values: [1, 1, 1, 1, 1, 1,  0, 0, 1, 1, 1, 1,  1, 1, 0, 1, 0, 0])
        for merge in [Bidirectional.Merge.concatenate, .sum] {
            let layer = try Bidirectional(.simpleRNN(SimpleRNN.Config(inputFeatures: f, hiddenSize: h, mode: .manyToMany)),
                                          merge: merge, random: random)
            layer.inputMask = mask
            checkGradients(layer, input: randomTensor([3, 6, f], random))
        }
    }

    /// Saved and loaded in a model through the registry: the nested config, the parameter names
    /// and the outputs; one-to-many is refused with an error that says so.
    func testSaveAndLoad() throws {
        let random = RandomGenerator(seed: 62)
        let model = try Sequential(inputShape: [6, f], [
            Bidirectional(wrapped("gru", mode: .manyToOne), random: random, name: "rnn"),
            Linear(2 * h, 1, random: random, name: "fc"),
        ])
        XCTAssertEqual(model.parameters.map(\.name).prefix(5),
                       ["rnn.weight_ih", "rnn.weight_hh", "rnn.bias_ih", "rnn.bias_hh", "rnn.weight_ih_reverse"])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-bi-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("model.safetensors")
        try model.save(to: url)
        let loaded = try Sequential.load(from: url, registry: .recurrent.merging(.dense))
        XCTAssertEqual((loaded.layers[0] as? Bidirectional)?.config, (model.layers[0] as? Bidirectional)?.config)
        let x = randomTensor([2, 6, f], random)
        XCTAssertEqual(loaded.forward(x).array, model.forward(x).array)
        XCTAssertThrowsError(try Bidirectional(wrapped("lstm", mode: .oneToMany(steps: 3, feedback: .fixedInput)),
                                               random: random)) {
            XCTAssertTrue("\($0)".contains("one-to-many"), "\($0)")
        }
    }
}
