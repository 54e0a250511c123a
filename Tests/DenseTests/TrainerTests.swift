import Dense
import Foundation
import XCTest

final class TrainerTests: FolderTestCase {
    func blobs(_ n: Int, seed: UInt64) throws -> Dataset { try blobData(n, seed: seed) }

    func makeTrainer(seed: UInt64 = 3, schedule: (any LearningRateSchedule)? = nil) throws -> Trainer {
        try blobTrainer(seed: seed, schedule: schedule)
    }

    func testFitLearnsAndRecordsHistory() throws {
        let trainer = try makeTrainer()
        let history = try trainer.fit(try blobs(300, seed: 1), epochs: 8, batchSize: 16, validation: .split(0.2, seed: 5))
        XCTAssertEqual(history.epochs.count, 8)
        XCTAssertLessThan(history["loss"].last!, history["loss"].first!)
        XCTAssertGreaterThan(history["val_accuracy"].last!, 0.9)
        let test = try trainer.evaluate(try blobs(150, seed: 2))
        XCTAssertGreaterThan(test["accuracy"]!, 0.9)
        XCTAssertEqual(try trainer.predict(try blobs(10, seed: 3).inputs).shape, [10, 3])
    }

    func testXORConverges() throws {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [2], [Linear(2, 8, random: random), Activation(.tanh), Linear(8, 1, random: random)])
        let data = try Dataset(inputs: Tensor(shape: [4, 2], values: [0, 0, 0, 1, 1, 0, 1, 1]),
                               targets: Tensor(shape: [4, 1], values: [0, 1, 1, 0]))
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(), optimizer: Adam(learningRate: 0.05), random: random)
        try trainer.fit(data, epochs: 500, batchSize: 4, shuffle: false)
        let logits = try model.predict(data.inputs)
        XCTAssertEqual(logits.array.map { $0 > 0 }, [false, true, true, false])
        XCTAssertEqual(try trainer.evaluate(data)["accuracy"], 1)
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
        let loaded = try Sequential.load(from: checkpoint, registry: .dense)
        XCTAssertEqual(loaded.layers.count, 4)
        let best = history["val_accuracy"].max()!
        let evaluation = Trainer(model: loaded, loss: SoftmaxCrossEntropy(), optimizer: SGD(), random: RandomGenerator(seed: 1))
        let (_, validation) = try blobs(90, seed: 6).split(validationFraction: 0.3, seed: 2)
        XCTAssertEqual(try evaluation.evaluate(validation)["accuracy"]!, best, accuracy: 1e-9, "the checkpoint holds the best epoch")
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
        _ = try trainer.evaluate(data)
        _ = try trainer.predict(data.inputs)
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

/// Three Gaussian blobs in 4 dimensions, 3 classes.
func blobData(_ n: Int, seed: UInt64) throws -> Dataset {
    let random = RandomGenerator(seed: seed)
    let x = Tensor(shape: [n, 4]), y = Tensor(shape: [n])
    for i in 0..<n {
        let c = i % 3
        y[i] = Float(c)
        for j in 0..<4 { x[i * 4 + j] = random.normal(mean: j == c ? 2 : 0, standardDeviation: 0.7) }
    }
    return try Dataset(inputs: x, targets: y)
}

/// A 4-16-3 network with dropout, Adam.
func blobTrainer(seed: UInt64 = 3, schedule: (any LearningRateSchedule)? = nil) throws -> Trainer {
    let random = RandomGenerator(seed: seed)
    let model = try Sequential(inputShape: [4], [
        Linear(4, 16, initializer: .heUniform, random: random, name: "fc1"), Activation(.relu),
        Dropout(rate: 0.2), Linear(16, 3, random: random, name: "fc2"),
    ])
    return Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01),
                   random: random, schedule: schedule)
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

    /// The mode holds on the threads a parallel loop runs on, not only the caller's; and only
    /// while the caller has it.
    func testParallelLoopsRunInTheCallersDenormalMode() {
        #if arch(x86_64) || arch(arm64)
        let smallest = Float.leastNormalMagnitude
        let n = 64
        let results = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let threads = UnsafeMutableBufferPointer<pthread_t>.allocate(capacity: n)
        defer { results.deallocate(); threads.deallocate() }
        // Worker threads started now, in the default mode (a thread started later could inherit
        // the mode of the thread that starts it).
        BLAS.concurrentPerform(n, callsBLAS: false) { w, _ in threads[w] = pthread_self(); usleep(200) }
        for flush in [true, false] {
            results.initialize(repeating: -1)
            FloatingPointMode.withDenormalsFlushed(flush) {
                BLAS.concurrentPerform(n, callsBLAS: false) { w, _ in
                    threads[w] = pthread_self()
                    results[w] = halve(smallest)
                    usleep(200)  // long enough that the other threads take iterations too
                }
            }
            XCTAssertTrue(threads.contains { pthread_equal($0, pthread_self()) == 0 }, "some iterations ran on other threads")
            XCTAssertEqual(results.map { $0 == 0 }, Array(repeating: flush, count: n), "flush \(flush)")
        }
        #endif
    }
}

/// Stopping inside an epoch, resuming, and checking checkpoints before they change anything.
final class ResumeTests: FolderTestCase {
    let data = try! blobData(200, seed: 4)

    /// A trainer with dropout (random draws every batch), a plateau schedule and early stopping
    /// that keeps the best weights: every kind of state a checkpoint must carry.
    func makeRun(stopAt: (epoch: Int, batch: Int)? = nil) throws -> (Trainer, EarlyStopping, [any Callback]) {
        let trainer = try blobTrainer(schedule: ReduceOnPlateau(monitor: "loss", factor: 0.5, patience: 1))
        let stopper = EarlyStopping(monitor: "val_loss", patience: 2, restoreBestWeights: true)
        var callbacks: [any Callback] = [stopper]
        if let stopAt {
            let request = StopRequest()
            trainer.stopRequest = request
            callbacks.append(RequestStop(request: request, epoch: stopAt.epoch, batch: stopAt.batch))
        }
        return (trainer, stopper, callbacks)
    }

    func fit(_ trainer: Trainer, _ callbacks: [any Callback]) throws {
        try trainer.fit(data, epochs: 6, batchSize: 32, validation: .split(0.25, seed: 9), callbacks: callbacks)
    }

    func assertSame(_ a: Trainer, _ b: Trainer, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        for (x, y) in zip(a.model.stateTensors, b.model.stateTensors) {
            XCTAssertEqual(x.value.array.map(\.bitPattern), y.value.array.map(\.bitPattern), "\(message): \(x.name)", file: file, line: line)
        }
        for p in a.model.parameters {
            let q = b.model.parameters.first { $0.name == p.name }!
            XCTAssertEqual(a.optimizer.slots(for: p).map(\.array), b.optimizer.slots(for: q).map(\.array), "\(message): optimizer \(p.name)", file: file, line: line)
        }
        XCTAssertEqual(a.history, b.history, message, file: file, line: line)
        XCTAssertEqual(a.random.state, b.random.state, message, file: file, line: line)
        XCTAssertEqual(a.optimizer.learningRate, b.optimizer.learningRate, message, file: file, line: line)
        XCTAssertEqual(a.optimizer.stepCount, b.optimizer.stepCount, message, file: file, line: line)
    }

    /// A stop requested inside an epoch writes a checkpoint with the position; a new trainer that
    /// loads it and runs `fit` ends with the same model, bit for bit, as the run never stopped.
    func testStopInsideAnEpochThenResumeIsBitIdentical() throws {
        // Bit-identity holds for the same thread settings: OpenBLAS may split a product
        // differently with another thread count, which changes the rounding. Pin one thread.
        let threads = BLAS.threads
        BLAS.threads = 1
        defer { BLAS.threads = threads }

        let (straight, straightStopper, straightCallbacks) = try makeRun()
        try fit(straight, straightCallbacks)
        XCTAssertGreaterThan(straight.epoch, 2)

        // 150 training samples in batches of 32: 5 batches an epoch, the last of 22.
        for stopAt in [(epoch: 0, batch: 1), (epoch: 1, batch: 3), (epoch: 2, batch: 5)] {
            let checkpoint = folder.appendingPathComponent("stop-\(stopAt.epoch)-\(stopAt.batch).safetensors")
            let (first, _, callbacks) = try makeRun(stopAt: stopAt)
            first.checkpointURL = checkpoint
            XCTAssertThrowsError(try fit(first, callbacks)) { error in
                guard let stopped = error as? TrainingStopped else { return XCTFail("\(error)") }
                XCTAssertEqual([stopped.epoch, stopped.batch, stopped.batches], [stopAt.epoch, stopAt.batch, 5])
                XCTAssertEqual(stopped.checkpoint, checkpoint)
            }
            XCTAssertEqual(first.epoch, stopAt.epoch)
            XCTAssertEqual(first.position?.batch, stopAt.batch)

            // A new process: everything built again from the same seed, then the checkpoint loaded.
            let (resumed, stopper, resumedCallbacks) = try makeRun()
            try resumed.loadCheckpoint(from: checkpoint, callbacks: resumedCallbacks)
            XCTAssertEqual(resumed.epoch, stopAt.epoch)
            XCTAssertEqual(resumed.position, first.position)
            resumed.checkpointURL = folder.appendingPathComponent("after.safetensors")
            try fit(resumed, resumedCallbacks)
            assertSame(resumed, straight, "stopped at \(stopAt)")
            XCTAssertEqual(stopper.bestEpoch, straightStopper.bestEpoch)
            XCTAssertEqual(stopper.stoppedEpoch, straightStopper.stoppedEpoch)
            XCTAssertNil(resumed.position)

            // The end-of-training checkpoint resumes to the same model too (nothing left to train).
            let (again, _, againCallbacks) = try makeRun()
            try again.loadCheckpoint(from: folder.appendingPathComponent("after.safetensors"), callbacks: againCallbacks)
            try fit(again, againCallbacks)
            assertSame(again, straight, "resumed after the end, from \(stopAt)")
        }
    }

    /// A checkpoint written at the end of an epoch (what a SIGKILL leaves) resumes exactly too.
    func testEndOfEpochCheckpointResumesExactly() throws {
        let threads = BLAS.threads
        BLAS.threads = 1  // bit-identity holds for the same thread settings
        defer { BLAS.threads = threads }
        let (straight, _, straightCallbacks) = try makeRun()
        try fit(straight, straightCallbacks)
        final class Copy: Callback {
            let from: URL, to: URL
            init(_ from: URL, _ to: URL) { (self.from, self.to) = (from, to) }
            func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
                if epoch == 1 { try FileManager.default.copyItem(at: from, to: to) }
            }
        }
        let (first, _, callbacks) = try makeRun()
        let checkpoint = folder.appendingPathComponent("every.safetensors"), kept = folder.appendingPathComponent("epoch1.safetensors")
        first.checkpointURL = checkpoint
        // The trainer writes its checkpoint after the callbacks: copy it when the next epoch ends.
        try fit(first, callbacks + [Copy(checkpoint, kept)])
        let (resumed, _, resumedCallbacks) = try makeRun()
        try resumed.loadCheckpoint(from: kept, callbacks: resumedCallbacks)
        XCTAssertEqual(resumed.epoch, 1)
        XCTAssertNil(resumed.position)
        try fit(resumed, resumedCallbacks)
        assertSame(resumed, straight, "resumed after epoch 1")
    }

    /// Rewrites a checkpoint's metadata and tensors.
    func rewrite(_ url: URL, to target: URL, _ change: (inout SafeTensors.Contents) -> Void) throws {
        var contents = try SafeTensors.read(from: url)
        change(&contents)
        try SafeTensors.write(contents.tensors, metadata: contents.metadata, to: target)
    }

    /// Every metadata value is range-checked before anything changes: a bad one throws and
    /// leaves the weights, optimizer state, schedule, epoch, generator and callbacks as they were.
    func testBadCheckpointsAreRefusedWithoutChangingAnything() throws {
        let (trainer, _, callbacks) = try makeRun(stopAt: (epoch: 1, batch: 2))
        let good = folder.appendingPathComponent("good.safetensors")
        trainer.checkpointURL = good
        XCTAssertThrowsError(try fit(trainer, callbacks))
        let cases: [(String, String, (inout SafeTensors.Contents) -> Void)] = [
            ("all-zero random state", "random_state", { $0.metadata["random_state"] = "0,0,0,0" }),
            ("three random words", "random_state", { $0.metadata["random_state"] = "1,2,3" }),
            ("absurd plateau counter", "wait is 1e+300", { $0.metadata["schedule_state"] = #"{"best":0.5,"wait":1e300}"# }),
            ("negative plateau counter", "wait is -1", { $0.metadata["schedule_state"] = #"{"best":0.5,"wait":-1}"# }),
            ("NaN best loss", "best is nan", { $0.metadata["schedule_state"] = #"{"best":"NaN","wait":0}"# }),
            ("epoch beyond the history", "does not match", { $0.metadata["epoch"] = "7" }),
            ("negative step count", "negative", { $0.metadata["optimizer_steps"] = "-3" }),
            ("infinite learning rate", "learning rate", { $0.metadata["learning_rate"] = String(Float.infinity.bitPattern) }),
            ("position beyond the epoch", "position", { $0.metadata["position"] = $0.metadata["position"]!.replacingOccurrences(of: "2,32,150,", with: "9,32,150,") }),
            ("all-zero epoch random state", "position", { $0.metadata["position"] = "2,32,150,0:0:0:0,0,0,64,64" }),
            ("huge sample count", "position", { $0.metadata["position"] = "9223372036854775807,2,9223372036854775807,1:2:3:4,0,0,0,2" }),
            ("early-stopping counter", "early-stopping state: wait", { $0.metadata["callback.early_stopping"] = #"{"monitor":"val_loss","wait":"99"}"# }),
            ("early-stopping best epoch", "best_epoch", { $0.metadata["callback.early_stopping"] = #"{"monitor":"val_loss","wait":"0","best_epoch":"5"}"# }),
            ("stop flag", "stop_training", { $0.metadata["stop_training"] = "yes" }),
            ("weights of the wrong shape", "fc2.bias", { contents in
                let i = contents.tensors.firstIndex { $0.name == "fc2.bias" }!
                contents.tensors[i].tensor = Tensor(shape: [4])
            }),
        ]
        XCTAssertNotNil(try SafeTensors.read(from: good).metadata["position"])
        for (name, expected, change) in cases {
            let bad = folder.appendingPathComponent("bad.safetensors")
            try rewrite(good, to: bad, change)
            let (fresh, stopper, freshCallbacks) = try makeRun()
            _ = try fresh.fit(data, epochs: 1, batchSize: 32, validation: .split(0.25, seed: 9), callbacks: freshCallbacks)
            let weights = fresh.model.stateTensors.map(\.value.array)
            let slots = fresh.model.parameters.map { fresh.optimizer.slots(for: $0).map(\.array) }
            let (state, rate, steps, history) = (fresh.random.state, fresh.optimizer.learningRate, fresh.optimizer.stepCount, fresh.history)
            let schedule = fresh.schedule!.state, best = stopper.bestEpoch
            XCTAssertThrowsError(try fresh.loadCheckpoint(from: bad, callbacks: freshCallbacks), name) { error in
                XCTAssertTrue("\(error)".hasPrefix(bad.path + ": "), "\(name): \(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
            }
            XCTAssertEqual(fresh.model.stateTensors.map(\.value.array), weights, name)
            XCTAssertEqual(fresh.model.parameters.map { fresh.optimizer.slots(for: $0).map(\.array) }, slots, name)
            XCTAssertEqual(fresh.random.state, state, name)
            XCTAssertEqual(fresh.optimizer.learningRate, rate, name)
            XCTAssertEqual(fresh.optimizer.stepCount, steps, name)
            XCTAssertEqual(fresh.history, history, name)
            XCTAssertEqual(fresh.epoch, 1, name)
            XCTAssertNil(fresh.position, name)
            XCTAssertEqual(fresh.schedule!.state, schedule, name)
            XCTAssertEqual(stopper.bestEpoch, best, name)
        }
        // The good one loads.
        let (fresh, _, freshCallbacks) = try makeRun()
        try fresh.loadCheckpoint(from: good, callbacks: freshCallbacks)
        XCTAssertEqual(fresh.position?.batch, 2)
    }

    /// ModelCheckpoint's best value travels in the trainer's checkpoints, so a resumed run does
    /// not overwrite the best model with a worse one.
    func testModelCheckpointBestIsRestored() throws {
        let (trainer, _, _) = try makeRun()
        let best = ModelCheckpoint(url: folder.appendingPathComponent("best.safetensors"), monitor: "val_accuracy")
        trainer.checkpointURL = folder.appendingPathComponent("every.safetensors")
        try trainer.fit(data, epochs: 2, batchSize: 32, validation: .split(0.25, seed: 9), callbacks: [best])
        let saved = best.checkpointState(trainer).values
        XCTAssertEqual(saved["best"].flatMap(UInt64.init).map(Double.init(bitPattern:)), trainer.history["val_accuracy"].max())
        let (resumed, _, _) = try makeRun()
        let again = ModelCheckpoint(url: best.url, monitor: "val_accuracy")
        XCTAssertEqual(again.checkpointState(resumed).values, [:])
        try resumed.loadCheckpoint(from: trainer.checkpointURL!, callbacks: [again])
        XCTAssertEqual(again.checkpointState(resumed).values, saved)
    }

    /// A checkpoint as the code before positions and callback states wrote it (exactly its eight
    /// metadata keys, no callback tensors) still loads and continues as before.
    func testCheckpointOfThePreviousFormatLoads() throws {
        let (trainer, _, _) = try makeRun()
        try trainer.fit(data, epochs: 2, batchSize: 32, validation: .split(0.25, seed: 9))
        let current = folder.appendingPathComponent("current.safetensors"), previous = folder.appendingPathComponent("previous.safetensors")
        try trainer.saveCheckpoint(to: current)
        try rewrite(current, to: previous) { contents in
            let keys: Set = ["format", "synapse.checkpoint", "epoch", "optimizer_steps", "learning_rate", "schedule_state", "random_state", "history"]
            contents.metadata = contents.metadata.filter { keys.contains($0.key) }
            contents.tensors.removeAll { $0.name.hasPrefix("callback/") }
        }
        XCTAssertEqual(try SafeTensors.read(from: previous).metadata.count, 8)
        let (resumed, _, callbacks) = try makeRun()
        try resumed.loadCheckpoint(from: previous, callbacks: callbacks)
        XCTAssertEqual(resumed.epoch, 2)
        XCTAssertEqual(resumed.history, trainer.history)
        XCTAssertEqual(resumed.random.state, trainer.random.state)
        XCTAssertEqual(resumed.model.stateTensors.map(\.value.array), trainer.model.stateTensors.map(\.value.array))
        XCTAssertNoThrow(try Sequential.load(from: current, registry: .dense), "a checkpoint loads as a plain model")
    }
}

/// Requests a stop after the given batch of the given epoch (0-based epoch, 1-based batch count).
final class RequestStop: Callback {
    let request: StopRequest, epoch: Int, batch: Int
    var current = 0
    init(request: StopRequest, epoch: Int, batch: Int) { (self.request, self.epoch, self.batch) = (request, epoch, batch) }
    func epochBegan(_ trainer: Trainer, epoch: Int) { current = epoch }
    func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double]) {
        if current == epoch && batch + 1 == self.batch { request.request() }
    }
}
