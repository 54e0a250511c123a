import Dense
import Foundation
import Recurrent
import TestSupport
import XCTest

/// The README's sentiment example, step by step, on the first 2,000 real IMDB training reviews:
/// it must run, and training must lower the loss.
final class ReadmeTests: XCTestCase {
    func testTheSentimentExampleRuns() throws {
        let random = RandomGenerator(seed: 1)
        let imdb = try realIMDB()
        let reviews = Array(imdb.train.prefix(2000))
        let words = reviews.map { Tokenizer.words($0.text) }
        let vocabulary = try Vocabulary(documents: words, size: 20_000)
        let ids = vocabulary.encode(words, length: 200)
        XCTAssertEqual(ids.shape, [2000, 200])
        let labels = Tensor(shape: [reviews.count, 1], values: reviews.map { $0.positive ? 1 : 0 })
        let rnn = try Sequential(inputShape: [200], [
            Embedding(vocabulary.count, 64, paddingIndex: 0, initializer: .uniform(0.05), random: random),
            SimpleRNN(64, 64, mode: .manyToOne, nonlinearity: .relu, recurrentInitializer: .identity, random: random),
            Linear(64, 1, random: random),
        ])
        let rnnTrainer = Trainer(model: rnn, loss: BinaryCrossEntropy(), optimizer: Adam(), random: random)
        rnnTrainer.clipNorm = 1
        let history = try rnnTrainer.fit(try Dataset(inputs: ids, targets: labels), epochs: 2, batchSize: 64,
                                         validation: .split(0.1, seed: 1))
        XCTAssertEqual(history.epochs.count, 2)
        XCTAssertLessThan(history["loss"][1], history["loss"][0])
        XCTAssertNotNil(history["val_accuracy"].first)
    }

    /// The README's gated and bidirectional layers in the sentiment model's place, stacked with
    /// dropout between, on padded ids (no data needed): they build, save their PyTorch names, run
    /// forward and backward through a training epoch with a finite loss.
    func testTheGatedAndBidirectionalLayersReplaceSimpleRNN() throws {
        let random = RandomGenerator(seed: 2)
        let model = try Sequential(inputShape: [12], [
            Embedding(50, 64, paddingIndex: 0, initializer: .uniform(0.05), random: random),
            LSTM(64, 64, mode: .manyToMany, random: random),
            Dropout(rate: 0.2),
            Bidirectional(.gru(GRU.Config(inputFeatures: 64, hiddenSize: 64)), merge: .concatenate, random: random),
            Linear(128, 1, random: random),
        ])
        XCTAssertTrue(model.parameters.map(\.name).contains("bidirectional_1.weight_ih_reverse"), "\(model.parameters.map(\.name))")
        let ids = Tensor(shape: [8, 12])
        for row in 0..<8 { for step in (row % 5)..<12 { ids[row * 12 + step] = Float(1 + (row * 7 + step) % 49) } }
        let labels = Tensor(shape: [8, 1], values: (0..<8).map { Float($0 % 2) })
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(), optimizer: Adam(), random: random)
        let history = try trainer.fit(try Dataset(inputs: ids, targets: labels), epochs: 1, batchSize: 4)
        XCTAssertTrue(history["loss"][0].isFinite)
    }
}
