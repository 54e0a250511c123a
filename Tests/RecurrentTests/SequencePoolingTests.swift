import Dense
import Foundation
import Recurrent
import XCTest

/// The PyTorch fixtures written by Scripts/fixtures/make_pooling_fixtures.py (`<mean|max>.<tensor>`).
private let poolingFixture = Fixture(Bundle.module.url(forResource: "pooling_golden", withExtension: "safetensors",
                                                       subdirectory: "Fixtures")!)

final class SequencePoolingTests: FolderTestCase {
    /// The masked mean and maximum of PyTorch, on left, right and inner padding and a sample with
    /// no real step: output and input gradient. The mean sums at most 7 terms of order one and
    /// the maximum copies values, so 1e-6 holds float32 rounding with room.
    func testMaskedMeanAndMaximumMatchPyTorch() {
        for reduction in SequencePooling.Reduction.allCases {
            let name = reduction.rawValue
            let pool = SequencePooling(reduction, name: "pool")
            pool.inputMask = poolingFixture("\(name).mask")
            assertClose(pool.forward(poolingFixture("\(name).x"), training: true), poolingFixture("\(name).y"),
                        relative: 0, absolute: 1e-6, "\(name) output")
            assertClose(pool.backward(poolingFixture("\(name).dy")), poolingFixture("\(name).dx"),
                        relative: 0, absolute: 1e-6, "\(name) input gradient")
        }
    }

    func testGradientsByFiniteDifferences() {
        let random = RandomGenerator(seed: 5)
        let x = randomTensor([3, 6, 4], random)
        let mask = Tensor(shape: [3, 6], values: [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0])
        for reduction in SequencePooling.Reduction.allCases {
            for mask in [nil, mask] {
                let pool = SequencePooling(reduction)
                pool.inputMask = mask
                // Random values lie far apart next to the step of 1e-3, so the maximum keeps its step.
                checkGradients(pool, input: x, epsilon: 1e-3)
            }
        }
    }

    /// Embedding(padding 0) -> LSTM (many-to-many) -> SequencePooling in a model: the padding
    /// mask reaches the pooling, so a review padded on the left scores as the review alone, and
    /// a padded step's vector never counts.
    func testModelPassesThePaddingMaskThroughTheRecurrentLayer() throws {
        for reduction in SequencePooling.Reduction.allCases {
            func model(steps: Int) throws -> Sequential {
                let random = RandomGenerator(seed: 3)
                return try Sequential(inputShape: [steps], [
                    Embedding(20, 4, paddingIndex: 0, random: random, name: "embedding"),
                    LSTM(4, 6, mode: .manyToMany, random: random, name: "rnn"),
                    SequencePooling(reduction, name: "pool"),
                    Linear(6, 1, random: random, name: "fc"),
                ])
            }
            let short = try model(steps: 3).forward(Tensor(shape: [1, 3], values: [5, 7, 2]))
            let padded = try model(steps: 6).forward(Tensor(shape: [1, 6], values: [0, 0, 0, 5, 7, 2]))
            // As in EmbeddingTests: other shapes round in another order; 3 steps of 4 + 6 + 1
            // terms of order one, so 1e-5.
            XCTAssertEqual(short[0], padded[0], accuracy: 1e-5, "\(reduction)")
        }
    }

    func testSaveAndLoadThroughTheRegistryAndShapeErrors() throws {
        let random = RandomGenerator(seed: 8)
        let model = try Sequential(inputShape: [5, 3], [
            GRU(3, 4, mode: .manyToMany, random: random, name: "rnn"),
            SequencePooling(.max, name: "pool"),
            Linear(4, 2, random: random, name: "fc"),
        ])
        let url = folder.appendingPathComponent("model.safetensors")
        try model.save(to: url)
        let loaded = try Sequential.load(from: url, registry: .recurrent.merging(.dense))
        XCTAssertEqual((loaded.layers[1] as? SequencePooling)?.config, SequencePooling.Config(reduction: .max))
        let x = randomTensor([2, 5, 3], random)
        XCTAssertEqual(loaded.forward(x).array, model.forward(x).array)

        var options = try SequencePooling.Config(reduction: .mean).options
        options["reduction"] = .string("median")
        XCTAssertThrowsError(try LayerRegistry.recurrent.config(type: "SequencePooling", options: options)) {
            XCTAssertTrue("\($0)".contains("reduction"), "\($0)")
        }
        XCTAssertThrowsError(try Sequential(inputShape: [3, 8, 8], [SequencePooling(.mean, name: "pool")])) {
            XCTAssertTrue("\($0)".contains("SequencePooling 'pool'"), "\($0)")
        }
    }
}
