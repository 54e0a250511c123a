import Dense
import Foundation
import XCTest

final class TrainerTests: FolderTestCase {
    /// Three Gaussian blobs in 4 dimensions, 3 classes.
    func blobs(_ n: Int, seed: UInt64) throws -> Dataset {
        let random = RandomGenerator(seed: seed)
        let x = Tensor(shape: [n, 4]), y = Tensor(shape: [n])
        for i in 0..<n {
            let c = i % 3
            y[i] = Float(c)
            for j in 0..<4 { x[i * 4 + j] = random.normal(mean: j == c ? 2 : 0, standardDeviation: 0.7) }
        }
        return try Dataset(inputs: x, targets: y)
    }

    func makeTrainer(seed: UInt64 = 3, schedule: (any LearningRateSchedule)? = nil) throws -> Trainer {
        let random = RandomGenerator(seed: seed)
        let model = try Sequential(inputShape: [4], [
            Linear(4, 16, initializer: .heUniform, random: random, name: "fc1"), Activation(.relu),
            Dropout(rate: 0.2), Linear(16, 3, random: random, name: "fc2"),
        ])
        return Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01),
                       random: random, schedule: schedule)
    }

    func testFitLearnsAndRecordsHistory() throws {
        let trainer = try makeTrainer()
        let history = try trainer.fit(try blobs(300, seed: 1), epochs: 8, batchSize: 16, validation: .split(0.2, seed: 5))
        XCTAssertEqual(history.epochs.count, 8)
        XCTAssertLessThan(history["loss"].last!, history["loss"].first!)
        XCTAssertGreaterThan(history["val_accuracy"].last!, 0.9)
        let test = trainer.evaluate(try blobs(150, seed: 2))
        XCTAssertGreaterThan(test["accuracy"]!, 0.9)
        XCTAssertEqual(trainer.predict(try blobs(10, seed: 3).inputs).shape, [10, 3])
    }

    func testXORConverges() throws {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [2], [Linear(2, 8, random: random), Activation(.tanh), Linear(8, 1, random: random)])
        let data = try Dataset(inputs: Tensor(shape: [4, 2], values: [0, 0, 0, 1, 1, 0, 1, 1]),
                               targets: Tensor(shape: [4, 1], values: [0, 1, 1, 0]))
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(), optimizer: Adam(learningRate: 0.05), random: random)
        try trainer.fit(data, epochs: 500, batchSize: 4, shuffle: false)
        let logits = model.predict(data.inputs)
        XCTAssertEqual(logits.array.map { $0 > 0 }, [false, true, true, false])
        XCTAssertEqual(trainer.evaluate(data)["accuracy"], 1)
    }

    /// Bit for bit: both runs make the same products in the same order, in one process with
    /// OpenBLAS pinned to one thread (another thread count may split a product differently).
    func testResumedRunEqualsUninterruptedRun() throws {
        try withBLASThreads(1) { try resumedRunEqualsUninterruptedRun() }
    }

    func resumedRunEqualsUninterruptedRun() throws {
        let data = try blobs(200, seed: 4)
        func schedule() -> ReduceOnPlateau { ReduceOnPlateau(monitor: "loss", factor: 0.5, patience: 1) }
        let straight = try makeTrainer(schedule: schedule())
        try straight.fit(data, epochs: 6, batchSize: 32, validation: .split(0.25, seed: 9))

        let first = try makeTrainer(schedule: schedule())
        let checkpoint = folder.appendingPathComponent("ckpt.safetensors")
        try first.fit(data, epochs: 3, batchSize: 32, validation: .split(0.25, seed: 9))
        try first.saveCheckpoint(to: checkpoint)

        // A new process: the model is built again from the same seed, then the checkpoint is loaded.
        let resumed = try makeTrainer(seed: 3, schedule: schedule())
        try resumed.loadCheckpoint(from: checkpoint)
        XCTAssertEqual(resumed.epoch, 3)
        let history = try resumed.fit(data, epochs: 6, batchSize: 32, validation: .split(0.25, seed: 9))
        XCTAssertEqual(history.epochs.count, 6)
        XCTAssertEqual(history, straight.history)
        for (a, b) in zip(resumed.model.stateTensors, straight.model.stateTensors) {
            XCTAssertEqual(a.value.array, b.value.array, a.name)
        }
        XCTAssertEqual(resumed.optimizer.stepCount, straight.optimizer.stepCount)
        XCTAssertEqual(resumed.optimizer.learningRate, straight.optimizer.learningRate)
    }

    func testCheckpointForAnotherOptimizerIsRefused() throws {
        let trainer = try makeTrainer()
        let url = folder.appendingPathComponent("ckpt.safetensors")
        try trainer.saveCheckpoint(to: url)
        let random = RandomGenerator(seed: 3)
        let model = try Sequential(inputShape: [4], [
            Linear(4, 16, random: random, name: "fc1"), Activation(.relu), Dropout(rate: 0.2), Linear(16, 3, random: random, name: "fc2"),
        ])
        let other = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: RMSprop(), random: random)
        XCTAssertThrowsError(try other.loadCheckpoint(from: url)) { error in
            XCTAssertTrue("\(error)".contains("square_avg"), "\(error)")
        }
        XCTAssertThrowsError(try other.loadCheckpoint(from: fixtureURL("pytorch_mlp", "safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("not a Synapse training checkpoint"), "\(error)")
        }
    }

    func testValidationSplitIsSeededDisjointAndComplete() throws {
        let n = 50
        let data = try Dataset(inputs: Tensor(shape: [n, 1], values: (0..<n).map(Float.init)),
                               targets: Tensor(shape: [n], values: (0..<n).map(Float.init)))
        let (train, validation) = try data.split(validationFraction: 0.2, seed: 7)
        let (train2, validation2) = try data.split(validationFraction: 0.2, seed: 7)
        let (_, validation3) = try data.split(validationFraction: 0.2, seed: 8)
        XCTAssertEqual(validation.count, 10)
        XCTAssertEqual(train.count, 40)
        XCTAssertEqual(validation.targets.array, validation2.targets.array)
        XCTAssertEqual(train.targets.array, train2.targets.array)
        XCTAssertNotEqual(validation.targets.array, validation3.targets.array)
        XCTAssertEqual(Set(train.targets.array + validation.targets.array).count, n)
        XCTAssertEqual(validation.targets.array, validation.targets.array.sorted(), "kept in the original order")
        XCTAssertEqual(train.inputs.array, train.targets.array, "inputs travel with their targets")
        XCTAssertThrowsError(try data.split(validationFraction: 1, seed: 1))
    }

    func testEarlyStoppingStopsAndRestoresTheBestWeights() throws {
        let trainer = try makeTrainer()
        let data = try blobs(120, seed: 5)
        // A learning rate this high makes the validation loss stop improving quickly.
        trainer.optimizer.learningRate = 0.5
        let stopper = EarlyStopping(monitor: "val_loss", patience: 2, restoreBestWeights: true)
        let saved = SnapshotAtBest(monitor: "val_loss")
        let history = try trainer.fit(data, epochs: 50, batchSize: 8, validation: .split(0.3, seed: 1), callbacks: [saved, stopper])
        let stopped = try XCTUnwrap(stopper.stoppedEpoch)
        let best = try XCTUnwrap(stopper.bestEpoch)
        XCTAssertEqual(history.epochs.count, stopped + 1)
        XCTAssertEqual(stopped - best, 2)
        XCTAssertEqual(history["val_loss"][best], history["val_loss"].min())
        for (p, expected) in zip(trainer.model.stateTensors, saved.best) { XCTAssertEqual(p.value.array, expected, p.name) }
    }

    func testCSVLogAndBestOnlyCheckpoint() throws {
        let trainer = try makeTrainer()
        let csv = folder.appendingPathComponent("log.csv")
        let checkpoint = folder.appendingPathComponent("best.safetensors")
        let history = try trainer.fit(try blobs(90, seed: 6), epochs: 4, batchSize: 16, validation: .split(0.3, seed: 2),
                                      callbacks: [CSVLogger(url: csv), ModelCheckpoint(url: checkpoint, monitor: "val_accuracy")])
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 5)
        XCTAssertEqual(lines[0], "epoch,accuracy,loss,lr,samples,val_accuracy,val_loss")
        XCTAssertTrue(lines[4].hasPrefix("4,"))
        let loaded = try Sequential.load(from: checkpoint)
        XCTAssertEqual(loaded.layers.count, 4)
        let best = history["val_accuracy"].max()!
        let evaluation = Trainer(model: loaded, loss: SoftmaxCrossEntropy(), optimizer: SGD(), random: RandomGenerator(seed: 1))
        let (_, validation) = try blobs(90, seed: 6).split(validationFraction: 0.3, seed: 2)
        XCTAssertEqual(evaluation.evaluate(validation)["accuracy"]!, best, accuracy: 1e-9, "the checkpoint holds the best epoch")
    }

    func testBatchAugmentationRunsOnTrainingBatchesOnly() throws {
        let trainer = try makeTrainer()
        final class Count { var batches = 0, samples = 0 }
        let count = Count()
        trainer.augmentBatch = { batch, _ in count.batches += 1; count.samples += batch.batchSize }
        let data = try blobs(100, seed: 7)
        try trainer.fit(data, epochs: 2, batchSize: 32, validation: .split(0.2, seed: 1))
        XCTAssertEqual(count.batches, 2 * 3)
        XCTAssertEqual(count.samples, 2 * 80)
        _ = trainer.evaluate(data)
        _ = trainer.predict(data.inputs)
        XCTAssertEqual(count.batches, 6, "evaluation and prediction are not augmented")
    }

    func testDivergingLossIsReportedNotTrainedOn() throws {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [1], [Linear(1, 1, random: random)])
        let data = try Dataset(inputs: Tensor(shape: [2, 1], values: [1e20, 2]), targets: Tensor(shape: [2, 1], values: [1e20, 1]))
        let trainer = Trainer(model: model, loss: MeanSquaredError(), optimizer: SGD(learningRate: 1), random: random)
        XCTAssertThrowsError(try trainer.fit(data, epochs: 3, batchSize: 2)) { error in
            XCTAssertTrue("\(error)".contains("the loss became"), "\(error)")
        }
    }
}

/// Copies the weights whenever `monitor` reaches a new minimum.
final class SnapshotAtBest: Callback {
    let monitor: String
    var best: [[Float]] = []
    var bestValue = Double.infinity
    init(monitor: String) { self.monitor = monitor }
    func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if let value = logs[monitor], value < bestValue {
            bestValue = value
            best = trainer.model.stateTensors.map { $0.value.array }
        }
    }
}

final class FloatingPointModeTests: XCTestCase {
    @inline(never) func halve(_ x: Float) -> Float { x * 0.5 }

    func testDenormalsFlushOnlyInsideAndTheModeComesBack() {
        let smallest = Float.leastNormalMagnitude
        XCTAssertTrue(halve(smallest).isSubnormal)
        let inside = FloatingPointMode.withDenormalsFlushed { halve(smallest) }
        #if arch(x86_64) || arch(arm64)
        XCTAssertEqual(inside, 0)
        #endif
        XCTAssertTrue(halve(smallest).isSubnormal, "the previous mode is restored")
        XCTAssertTrue(FloatingPointMode.withDenormalsFlushed(false) { halve(smallest) }.isSubnormal)
    }
}
