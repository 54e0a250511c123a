@testable import Dense
import Foundation
import XCTest

/// One learning rate, one source: a decay starts from the optimizer's rate, and a schedule that
/// names another first rate is refused before training.
final class LearningRateSourceTests: XCTestCase {
    func data() throws -> Dataset {
        let random = RandomGenerator(seed: 3)
        return try Dataset(inputs: Tensor(shape: [16, 2], values: (0..<32).map { _ in random.uniform(-1, 1) }),
                           targets: Tensor(shape: [16], values: (0..<16).map { Float($0 % 2) }))
    }

    func trainer(rate: Float, schedule: any LearningRateSchedule) throws -> Trainer {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [2], [Linear(2, 2, random: random)])
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: rate),
                              random: random, schedule: schedule)
        trainer.verbose = false
        return trainer
    }

    func testADecayWithoutInitialStartsFromTheOptimizersRate() throws {
        let trainer = try trainer(rate: 0.05, schedule: ExponentialDecay(decay: 0.5))
        let history = try trainer.fit(data(), epochs: 3, batchSize: 8)
        let rates = history["lr"].map { Float($0) }
        XCTAssertEqual(rates.count, 3)
        XCTAssertEqual(rates[0], 0.05, accuracy: 1e-7, "epoch 1 runs at the optimizer's rate: \(rates)")
        XCTAssertEqual(rates[1], 0.025, accuracy: 1e-7, "\(rates)")
        XCTAssertEqual(rates[2], 0.0125, accuracy: 1e-7, "\(rates)")
    }

    func testTwoDifferentFirstRatesAreAnError() throws {
        let trainer = try trainer(rate: 0.05, schedule: ExponentialDecay(initial: 1e-3, decay: 0.8))
        XCTAssertThrowsError(try trainer.fit(data(), epochs: 2, batchSize: 8)) { error in
            XCTAssertTrue("\(error)".contains("0.05") && "\(error)".contains("0.001") && "\(error)".contains("give the rate once"), "\(error)")
        }
        XCTAssertEqual(trainer.epoch, 0, "refused before any step")
        // The same rate given twice is one rate.
        XCTAssertNoThrow(try self.trainer(rate: 1e-3, schedule: StepDecay(initial: 1e-3, every: 1)).fit(data(), epochs: 1, batchSize: 8))
    }

    func testTheStartingRateIsKeptInTheScheduleState() throws {
        let schedule = StepDecay(factor: 0.1, every: 1)
        XCTAssertEqual(schedule.rate(after: 0, current: 0.2, logs: [:]), 0.02, accuracy: 1e-8)
        XCTAssertEqual(schedule.state["initial"]!, Double(Float(0.2)), accuracy: 1e-12)
        // A resumed run's schedule, given the saved state, scales the same first rate whatever the
        // optimizer's rate is by then.
        let resumed = StepDecay(factor: 0.1, every: 1)
        resumed.state = schedule.state
        XCTAssertEqual(resumed.rate(after: 1, current: 0.02, logs: [:]), 0.002, accuracy: 1e-9)
        XCTAssertThrowsError(try resumed.validate(state: ["initial": -1]))
    }
}

/// A monitor the logs will not hold is an error before the first batch, not after an epoch.
final class MonitorCheckTests: XCTestCase {
    func testAnUnknownMonitorIsRefusedBeforeTraining() throws {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [2], [Linear(2, 2, random: random)])
        let data = try Dataset(inputs: Tensor(shape: [8, 2], repeating: 0.5), targets: Tensor(shape: [8], values: [0, 1, 0, 1, 0, 1, 0, 1]))
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1), random: random)
        trainer.verbose = false
        XCTAssertThrowsError(try trainer.fit(data, epochs: 1, batchSize: 4, validation: .split(0.25, seed: 1),
                                             callbacks: [EarlyStopping(monitor: "val_acc")])) { error in
            XCTAssertTrue("\(error)".contains("'val_acc'") && "\(error)".contains("val_accuracy"), "\(error)")
        }
        XCTAssertThrowsError(try trainer.fit(data, epochs: 1, batchSize: 4, callbacks: [EarlyStopping()])) { error in
            XCTAssertTrue("\(error)".contains("need validation data"), "\(error)")
        }
        trainer.schedule = ReduceOnPlateau(monitor: "accuracy")
        XCTAssertNoThrow(try trainer.fit(data, epochs: 1, batchSize: 4))
        XCTAssertEqual(trainer.epoch, 1, "only the refused fits trained nothing")
    }
}
