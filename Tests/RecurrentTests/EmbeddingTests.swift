import Dense
import Foundation
import Recurrent
import XCTest

final class EmbeddingTests: FolderTestCase {
    func testEmbeddingMatchesPyTorch() throws {
        let embedding = try Embedding(10, 4, paddingIndex: 0, random: RandomGenerator(seed: 1))
        embedding.weight.value.assign(fixture("embedding.weight"))
        let ids = fixture("embedding.ids")
        assertClose(embedding.forward(ids, training: true), fixture("embedding.y"), "output")
        embedding.backwardParameters(fixture("embedding.dy"))
        assertClose(embedding.weight.gradient, fixture("embedding.dweight"), "weight gradient")
        XCTAssertEqual(embedding.outputMask?.array, [0, 1, 1, 1, 1, 0, 1, 1])
    }

    func testEmbeddingGradientTouchesOnlyTheRowsUsed() throws {
        let random = RandomGenerator(seed: 2)
        let embedding = try Embedding(12, 3, paddingIndex: 0, random: random)
        let ids = Tensor(shape: [2, 5], values: [0, 4, 4, 9, 1, 2, 0, 0, 11, 4])
        // The padding row is frozen (as in PyTorch), so finite differences run on a table without one.
        checkGradients(try Embedding(12, 3, random: random), input: ids, checkInput: false)
        embedding.weight.zeroGradient()
        _ = embedding.forward(ids, training: true)
        embedding.backwardParameters(Tensor(shape: [2, 5, 3], repeating: 1))
        for row in 0..<12 {
            let touched = (0..<3).contains { embedding.weight.gradient[row * 3 + $0] != 0 }
            XCTAssertEqual(touched, [1, 2, 4, 9, 11].contains(row), "row \(row)")
        }
    }

    /// Embedding(padding 0) -> SimpleRNN in a model: the RNN gets the padding mask, so a review
    /// padded on the left scores the same as the review alone.
    func testModelPassesThePaddingMaskToTheRNN() throws {
        func model(steps: Int) throws -> Sequential {
            let random = RandomGenerator(seed: 3)
            return try Sequential(inputShape: [steps], [
                Embedding(20, 4, paddingIndex: 0, random: random, name: "embedding"),
                SimpleRNN(4, 6, random: random, name: "rnn"),
                Linear(6, 1, random: random, name: "fc"),
            ])
        }
        let short = try model(steps: 3).forward(Tensor(shape: [1, 3], values: [5, 7, 2]))
        let padded = try model(steps: 6).forward(Tensor(shape: [1, 6], values: [0, 0, 0, 5, 7, 2]))
        // Other sequence lengths are products of other shapes (rounded in another order): the
        // output is 6 products over a state of 3 steps of 4 + 6 + 1 terms, all of order one;
        // 2 x 30 x 2^-24 = 3.6e-6 bounds the difference, so 1e-5.
        XCTAssertEqual(short[0], padded[0], accuracy: 1e-5)
        let unmasked = try Sequential(inputShape: [6], [
            Embedding(20, 4, random: RandomGenerator(seed: 3)), SimpleRNN(4, 6, random: RandomGenerator(seed: 3)),
        ])
        XCTAssertNil((unmasked.layers[0] as! Embedding).outputMask)
    }

    /// An Embedding -> SimpleRNN -> Linear model on two workers: clones that read the model's
    /// weights, and the gradient of one worker.
    func testRecurrentModelOnTwoWorkersMatchesOneWorker() throws {
        func make() throws -> Sequential {
            let random = RandomGenerator(seed: 7)
            return try Sequential(inputShape: [6], [
                Embedding(12, 4, paddingIndex: 0, random: random, name: "embedding"),
                SimpleRNN(4, 5, random: random, name: "rnn"), Linear(5, 1, random: random, name: "head"),
            ])
        }
        let x = Tensor(shape: [4, 6], values: [0, 0, 3, 4, 5, 6, 1, 2, 3, 11, 10, 9, 0, 7, 8, 2, 2, 1, 0, 0, 0, 0, 5, 4])
        let y = Tensor(shape: [4, 1], values: [1, 0, 1, 0])
        let (model, reference) = (try make(), try make())
        let parallel = try DataParallel(model: model, workers: 2)
        XCTAssertEqual(parallel.replicas[0].parameters.map(\.value.data), model.parameters.map(\.value.data))
        let a = parallel.computeGradients(inputs: x, targets: y, loss: BinaryCrossEntropy(), metric: .binaryAccuracy,
                                          random: RandomGenerator(seed: 1))
        let b = DataParallel(model: reference).computeGradients(inputs: x, targets: y, loss: BinaryCrossEntropy(),
                                                                metric: .binaryAccuracy, random: RandomGenerator(seed: 1))
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-6)
        for (p, q) in zip(model.parameters, reference.parameters) {
            assertClose(p.gradient, q.gradient, relative: 1e-5, absolute: 1e-7, p.name)
        }
    }

    func testRecurrentModelSavesAndLoads() throws {
        let random = RandomGenerator(seed: 4)
        let model = try Sequential(inputShape: [8], [
            Embedding(30, 5, paddingIndex: 0, random: random, name: "embedding"),
            SimpleRNN(5, 7, mode: .manyToMany, nonlinearity: .relu, truncation: 4, random: random, name: "rnn"),
            Linear(7, 30, random: random, name: "head"),
        ])
        let url = folder.appendingPathComponent("model.safetensors")
        try model.save(to: url)
        let loaded = try Sequential.load(from: url, registry: LayerRegistry.dense.merging(.recurrent))
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertEqual(loaded.parameters.map(\.name),
                       ["embedding.weight", "rnn.weight_ih", "rnn.weight_hh", "rnn.bias", "head.weight", "head.bias"])
        let x = Tensor(shape: [2, 8], values: [0, 0, 3, 4, 5, 6, 7, 8, 1, 2, 3, 29, 0, 0, 0, 0])
        // Bit for bit: the same weights through the same products, one after the other in one process.
        XCTAssertEqual(loaded.forward(x).array, model.forward(x).array)
        let rnn = loaded.layers[1] as! SimpleRNN
        XCTAssertEqual(rnn.truncation, 4)
        XCTAssertEqual(rnn.nonlinearity, .relu)
    }

    func testRecurrentInitialisersThrowOnBadArguments() throws {
        let random = RandomGenerator(seed: 1)
        XCTAssertThrowsError(try Embedding(0, 4, random: random)) { XCTAssertTrue("\($0)".contains("'vocabularySize' is 0"), "\($0)") }
        XCTAssertThrowsError(try Embedding(5, 4, paddingIndex: 5, random: random)) { XCTAssertTrue("\($0)".contains("'paddingIndex' is 5"), "\($0)") }
        XCTAssertThrowsError(try Embedding(1 << 20, 1 << 20, random: random)) { XCTAssertTrue("\($0)".contains("more than"), "\($0)") }
        XCTAssertThrowsError(try SimpleRNN(0, 4, random: random)) { XCTAssertTrue("\($0)".contains("'inputFeatures' is 0"), "\($0)") }
        XCTAssertThrowsError(try SimpleRNN(3, 4, mode: .oneToMany(steps: 0, feedback: .fixedInput), random: random)) {
            XCTAssertTrue("\($0)".contains("'steps' is 0"), "\($0)")
        }
        XCTAssertThrowsError(try SimpleRNN(3, 4, mode: .oneToMany(steps: 2, feedback: .previousOutput), random: random)) {
            XCTAssertTrue("\($0)".contains("inputFeatures == hiddenSize"), "\($0)")
        }
        XCTAssertThrowsError(try SimpleRNN(3, 4, truncation: -1, random: random)) { XCTAssertTrue("\($0)".contains("'truncation' is -1"), "\($0)") }
        XCTAssertThrowsError(try LayerRegistry.recurrent.config(type: "Embedding", options: ["vocabularySize": .number(1e300), "dimension": .number(4)])) {
            XCTAssertTrue("\($0)".contains("'vocabularySize'"), "\($0)")
        }
    }
}
