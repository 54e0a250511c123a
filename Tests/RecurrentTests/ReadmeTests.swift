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
}
