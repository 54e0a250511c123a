import Dense
import Foundation
import TestSupport
import XCTest

/// Mistakes at the public calls are errors that name the problem, never a trap: a sample
/// without its batch axis, a label outside the classes, targets of another shape.
final class PublicAPIErrorTests: XCTestCase {
    func makeTrainer(inputs: Int = 4, classes: Int = 10, loss: any Loss = SoftmaxCrossEntropy()) throws -> Trainer {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [inputs], [Linear(inputs, 8, random: random), Activation(.relu),
                                                          Linear(8, classes, random: random)])
        return Trainer(model: model, loss: loss, optimizer: Adam(), random: random)
    }

    func testOneSampleWithoutTheBatchAxisIsAnErrorSayingSo() throws {
        let trainer = try makeTrainer()
        XCTAssertThrowsError(try trainer.predict(Tensor(shape: [4]))) { error in
            XCTAssertTrue("\(error)".contains("[N] + [4], got [4]") && "\(error)".contains("batch axis"), "\(error)")
        }
        XCTAssertThrowsError(try trainer.model.predict(Tensor(shape: [2, 5]))) { XCTAssertTrue("\($0)".contains("[2, 5]"), "\($0)") }
        XCTAssertThrowsError(try trainer.model.predict(Tensor(shape: [2, 4]), batchSize: 0)) { XCTAssertTrue("\($0)".contains("batchSize"), "\($0)") }
        XCTAssertEqual(try trainer.predict(Tensor(shape: [1, 4])).shape, [1, 10])
    }

    func testALabelOutsideTheClassesIsAnErrorNamingItAndTheClassCount() throws {
        let trainer = try makeTrainer()
        let data = try Dataset(inputs: Tensor(shape: [3, 4]), targets: Tensor(shape: [3], values: [1, 12, 0]))
        for call in ["fit", "evaluate"] {
            XCTAssertThrowsError(call == "fit" ? try trainer.fit(data, epochs: 1).epochs.count : try trainer.evaluate(data).count, call) { error in
                XCTAssertTrue("\(error)".contains("label 12.0") && "\(error)".contains("10 classes"), "\(call): \(error)")
            }
        }
        XCTAssertEqual(trainer.optimizer.stepCount, 0, "nothing trained")
        for bad: Float in [-1, 2.5, .nan, .infinity, 1e30] {
            let y = try Dataset(inputs: Tensor(shape: [1, 4]), targets: Tensor(shape: [1], values: [bad]))
            XCTAssertThrowsError(try trainer.evaluate(y), "\(bad)")
        }
    }

    func testTargetsOfAnotherShapeAreErrors() throws {
        let mse = try makeTrainer(classes: 3, loss: MeanSquaredError())
        XCTAssertThrowsError(try mse.evaluate(try Dataset(inputs: Tensor(shape: [2, 4]), targets: Tensor(shape: [2, 2])))) {
            XCTAssertTrue("\($0)".contains("mse") && "\($0)".contains("[2, 2]"), "\($0)")
        }
        let bce = try makeTrainer(classes: 1, loss: BinaryCrossEntropy())
        XCTAssertThrowsError(try bce.fit(try Dataset(inputs: Tensor(shape: [2, 4]), targets: Tensor(shape: [2, 3])), epochs: 1))
        let ce = try makeTrainer(classes: 3)
        XCTAssertThrowsError(try ce.evaluate(try Dataset(inputs: Tensor(shape: [2, 4]), targets: Tensor(shape: [2, 2]))))
        XCTAssertNoThrow(try ce.evaluate(try Dataset(inputs: Tensor(shape: [2, 4]), targets: Tensor(shape: [2, 3]))), "one-hot rows")
        XCTAssertNoThrow(try ce.evaluate(try Dataset(inputs: Tensor(shape: [2, 4]), targets: Tensor(shape: [2, 1], values: [0, 2]))), "N x 1 indices")
        // A sequence's logits (T, C) per sample: an index per step, or C probabilities per step.
        let loss = SoftmaxCrossEntropy()
        XCTAssertNoThrow(try loss.check(targets: Tensor(shape: [2, 5], repeating: 3), outputShape: [5, 60]))
        XCTAssertNoThrow(try loss.check(targets: Tensor(shape: [2, 5, 60]), outputShape: [5, 60]))
        XCTAssertThrowsError(try loss.check(targets: Tensor(shape: [2, 5], repeating: 60), outputShape: [5, 60])) {
            XCTAssertTrue("\($0)".contains("label 60.0") && "\($0)".contains("60 classes"), "\($0)")
        }
        XCTAssertThrowsError(try loss.check(targets: Tensor(shape: [2, 4]), outputShape: [5, 60]))
    }

    /// 10,000 random calls of predict, evaluate and fit with random shapes, labels and losses:
    /// each either runs (when the call is valid) or throws a SynapseError; none traps.
    func testRandomShapesAndLabelsGiveErrorsNeverACrash() throws {
        let random = RandomGenerator(seed: 99)
        let losses: [any Loss] = [SoftmaxCrossEntropy(), MeanSquaredError(), BinaryCrossEntropy()]
        let trainers = try losses.map { try makeTrainer(inputs: 3, classes: 4, loss: $0) }
        let labels: [Float] = [0, 1, 3, 4, -1, 0.5, .nan, .infinity, -.infinity, 1e9, 2]
        var (ran, refused) = (0, 0)
        for case_ in 0..<10_000 {
            let trainer = trainers[random.below(trainers.count)]
            let rank = random.below(4)
            let shape = (0..<rank).map { _ in random.below(5) }
            let x = Tensor(shape: shape.isEmpty ? [] : shape)
            do {
                switch case_ % 3 {
                case 0:
                    _ = try trainer.predict(x, batchSize: random.below(4))
                default:
                    let targetShape = [shape.first ?? 0] + (0..<random.below(3)).map { _ in random.below(5) }
                    let y = Tensor(shape: targetShape)
                    for i in 0..<y.count { y[i] = labels[random.below(labels.count)] }
                    let data = try Dataset(inputs: x, targets: y)
                    if case_ % 3 == 1 { _ = try trainer.evaluate(data) } else { _ = try trainer.fit(data, epochs: trainer.epoch + 1, batchSize: 1 + random.below(3)) }
                }
                ran += 1
            } catch is SynapseError {
                refused += 1
            }
        }
        XCTAssertEqual(ran + refused, 10_000)
        XCTAssertGreaterThan(ran, 100, "some calls were valid and ran")
        XCTAssertGreaterThan(refused, 1_000)
    }

    /// A second fit with nothing left to train says so instead of returning the old history.
    func testASecondFitWithNothingToTrainIsAnError() throws {
        let trainer = try makeTrainer(classes: 3)
        let data = try Dataset(inputs: randomTensor([6, 4], RandomGenerator(seed: 2)), targets: Tensor(shape: [6], values: [0, 1, 2, 0, 1, 2]))
        try trainer.fit(data, epochs: 1)
        XCTAssertThrowsError(try trainer.fit(data, epochs: 1)) { error in
            XCTAssertTrue("\(error)".contains("has done 1") && "\(error)".contains("epochs: 2"), "\(error)")
        }
        XCTAssertEqual(try trainer.fit(data, epochs: trainer.epoch + 2).epochs.count, 3, "two more")
        XCTAssertThrowsError(try makeTrainer().fit(data, epochs: 0))
    }

    func testOptimizerAndScheduleSettingsAreCheckedBeforeTheFirstBatch() throws {
        let data = try Dataset(inputs: Tensor(shape: [4, 4], repeating: 0.5), targets: Tensor(shape: [4], values: [0, 1, 2, 3]))
        let cases: [(any Optimizer, String)] = [
            (SGD(learningRate: 0.1, nesterov: true), "nesterov needs momentum > 0"),
            (SGD(learningRate: -0.1), "learningRate is -0.1"),
            (SGD(momentum: .nan), "momentum is nan"),
            (Adam(beta1: 1), "beta1 is 1.0, it must be in 0.0 ..< 1.0"),
            (Adam(learningRate: .infinity), "learningRate is inf"),
            (RMSprop(alpha: -0.5), "alpha is -0.5"),
        ]
        for (optimizer, message) in cases {
            let trainer = try makeTrainer()
            let bad = Trainer(model: trainer.model, loss: SoftmaxCrossEntropy(), optimizer: optimizer, random: RandomGenerator(seed: 1))
            let before = bad.model.parameters.map { $0.value.array }
            XCTAssertThrowsError(try bad.fit(data, epochs: 1)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
            XCTAssertEqual(bad.model.parameters.map { $0.value.array }, before, "nothing trained")
        }
        XCTAssertNoThrow(try SGD(learningRate: 0.1, momentum: 0.9, nesterov: true).validate())
        XCTAssertNoThrow(try Adam().validate())

        let trainer = try makeTrainer()
        trainer.schedule = StepDecay(every: 0)
        XCTAssertThrowsError(try trainer.fit(data, epochs: 1)) { XCTAssertTrue("\($0)".contains("every is 0"), "\($0)") }
        XCTAssertEqual(trainer.optimizer.stepCount, 0)
    }

    func testARandomStateIsRestoredOnlyWhenValid() throws {
        let generator = RandomGenerator(seed: 3)
        let saved = generator.state
        let first = generator.next()
        XCTAssertThrowsError(try generator.restore([0, 0, 0, 0])) { XCTAssertTrue("\($0)".contains("all zero"), "\($0)") }
        XCTAssertThrowsError(try generator.restore([1, 2])) { XCTAssertTrue("\($0)".contains("2 word(s)"), "\($0)") }
        try generator.restore(saved)
        XCTAssertEqual(generator.next(), first, "the stream replays from the restored state")
        let copy = RandomGenerator(seed: 99)
        copy.restore(from: generator)
        XCTAssertEqual(copy.next(), generator.next())
    }
}
