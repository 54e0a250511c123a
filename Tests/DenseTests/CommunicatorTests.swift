import Dense
import Foundation
import XCTest

/// Ranks as threads of this process, for testing the trainer across ranks without MPI: every
/// collective hands each rank's buffer to all, and sums in rank order (for two ranks a + b, the
/// one rounded addition an MPI all-reduce makes too).
final class ThreadRanks: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var contributions: [Data]
    private var result: [Data] = []
    private var arrived = 0, generation = 0

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: Data(), count: size)
    }

    /// Every rank's bytes, in rank order, once all have called.
    func exchange(_ rank: Int, _ bytes: Data) -> [Data] {
        condition.lock()
        defer { condition.unlock() }
        contributions[rank] = bytes
        arrived += 1
        let mine = generation
        if arrived == size {
            result = contributions
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        return result
    }

    final class Rank: Communicator, @unchecked Sendable {
        let group: ThreadRanks
        let rank: Int
        var size: Int { group.size }
        init(_ group: ThreadRanks, _ rank: Int) { (self.group, self.rank) = (group, rank) }

        func sum<T: FloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>) {
            let all = group.exchange(rank, Data(buffer: buffer))
            let arrays = all.map { $0.withUnsafeBytes { Array($0.bindMemory(to: T.self)) } }
            for i in buffer.indices {
                var total = arrays[0][i]
                for r in 1..<arrays.count { total += arrays[r][i] }
                buffer[i] = total
            }
        }

        func fromRoot<T>(_ buffer: UnsafeMutableBufferPointer<T>) {
            let all = group.exchange(rank, Data(buffer: buffer))
            all[0].withUnsafeBytes { bytes in
                for (i, value) in bytes.bindMemory(to: T.self).enumerated() { buffer[i] = value }
            }
        }

        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { sum(buffer) }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { sum(buffer) }
        func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>) { fromRoot(buffer) }
        func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt64>) { fromRoot(buffer) }
        func barrier() { _ = group.exchange(rank, Data()) }
        func abort(_ message: String, code: Int32) -> Never { fatalError("rank \(rank): \(message)") }
    }

    /// Runs `body(rank)` on `size` threads of their own and waits for all of them.
    func run(_ body: @escaping @Sendable (Rank) -> Void) {
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            let thread = Thread { body(Rank(self, r)); done.leave() }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
    }
}

final class CommunicatorTests: XCTestCase {
    func testSingleProcessLeavesBuffersAlone() {
        let one = SingleProcess()
        XCTAssertEqual(one.rank, 0)
        XCTAssertEqual(one.size, 1)
        XCTAssertTrue(one.isRoot)
        let t = Tensor(shape: [3], values: [1, -2, 3])
        one.allReduceSum(t)
        one.broadcast(t)
        XCTAssertEqual(t.array, [1, -2, 3])
        XCTAssertEqual(one.broadcast([7, 9]), [7, 9])
        XCTAssertEqual(one.allReduceSum([0.5]), [0.5])
    }

    /// Global slices: a batch of n rows cut into `slices` as one process with that many workers
    /// cuts it; fewer rows than slices give one row each and idle slices after.
    func testSliceStarts() {
        XCTAssertEqual((0...4).map { DataParallel.sliceStart($0, of: 4, rows: 10) }, [0, 2, 5, 7, 10])
        XCTAssertEqual((0...4).map { DataParallel.sliceStart($0, of: 4, rows: 2) }, [0, 1, 2, 2, 2])
        XCTAssertEqual((0...2).map { DataParallel.sliceStart($0, of: 2, rows: 1) }, [0, 1, 1])
    }

    struct Run {
        let weights: [Float], buffers: [Float], history: History
    }

    /// Linear-BatchNorm-ReLU-Dropout-Linear on fixed data of 201 samples: 161 train in batches of
    /// 32, the last of one row (with two ranks, rank 1 sits that one out).
    static func train(seed: UInt64, workers: Int, communicator: any Communicator, augment: Bool = false) throws -> Run {
        let dataRandom = RandomGenerator(seed: 2026)
        let (n, features) = (201, 6)
        let inputs = Tensor(shape: [n, features]), targets = Tensor(shape: [n, 3])
        for i in 0..<n {
            for f in 0..<features { inputs.data[i * features + f] = (f % 3 == i % 3 ? 1 : 0) + dataRandom.normal(standardDeviation: 0.7) }
            targets.data[i * 3 + i % 3] = 1
        }
        let data = try Dataset(inputs: inputs, targets: targets)
        let random = RandomGenerator(seed: seed)
        let model = try Sequential(inputShape: [features], [
            Linear(features, 12, random: random, name: "fc1"),
            BatchNorm(features: 12, name: "bn"),
            Activation(.relu),
            Dropout(rate: 0.3, name: "dropout"),
            Linear(12, 3, random: random, name: "fc2"),
        ])
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), random: random)
        try trainer.use(workers: workers, communicator: communicator)
        if augment {
            trainer.augmentBatch = { batch, random in for i in 0..<batch.count { batch.data[i] += random.uniform(-0.2, 0.2) } }
        }
        let history = try trainer.fit(data, epochs: 2, batchSize: 32, validation: .split(0.2, seed: 5))
        return Run(weights: model.parameterBlock.values.array, buffers: model.bufferBlock.values.array, history: history)
    }

    /// Two ranks of one worker (threads here, MPI in DistributedTests) against one process of two
    /// workers: same slices, same dropout draws, and the gradient g0 + g1 on both sides (one
    /// float addition, commutative), so the same bits. Rank 1 starts from another seed and is
    /// overwritten by rank 0's broadcast.
    func testTwoRanksEqualOneProcessWithTwoWorkers() throws {
        for augment in [false, true] {
            let reference = try Self.train(seed: 1, workers: 2, communicator: SingleProcess(), augment: augment)
            nonisolated(unsafe) var runs = [Run?](repeating: nil, count: 2)
            let lock = NSLock()
            ThreadRanks(size: 2).run { rank in
                let run = try! Self.train(seed: 1 + UInt64(rank.rank) * 6, workers: 1, communicator: rank, augment: augment)
                lock.withLock { runs[rank.rank] = run }
            }
            for run in runs {
                XCTAssertEqual(run?.weights, reference.weights, "augment: \(augment)")
                XCTAssertEqual(run?.buffers, reference.buffers, "augment: \(augment)")
                XCTAssertEqual(run?.history["val_accuracy"], reference.history["val_accuracy"])
                XCTAssertEqual(run?.history["loss"], reference.history["loss"], "the training loss is summed slice by slice as one process sums it")
            }
            let one = try Self.train(seed: 1, workers: 1, communicator: SingleProcess(), augment: augment)
            XCTAssertNotEqual(one.weights, reference.weights, "one worker draws other dropout masks")
        }
    }

    /// Ranks that train on different amounts of data would make different numbers of steps (and
    /// wait for each other forever): they stop at the start of fit with a message.
    func testDataMismatchStopsEveryRank() {
        nonisolated(unsafe) var messages = [String](repeating: "", count: 2)
        let lock = NSLock()
        ThreadRanks(size: 2).run { rank in
            do {
                let random = RandomGenerator(seed: 1)
                let model = try Sequential(inputShape: [4], [Linear(4, 3, random: random, name: "fc")])
                let trainer = Trainer(model: model, loss: MeanSquaredError(), optimizer: SGD(), random: random)
                try trainer.use(workers: 1, communicator: rank)
                let n = rank.rank == 0 ? 8 : 9
                try trainer.fit(try Dataset(inputs: Tensor(shape: [n, 4]), targets: Tensor(shape: [n, 3])), epochs: 1, batchSize: 4)
            } catch {
                lock.withLock { messages[rank.rank] = "\(error)" }
            }
        }
        XCTAssertTrue(messages[1].contains("samples 9 (rank 0: 8)"), messages[1])
        XCTAssertTrue(messages[0].contains("1 rank(s)"), messages[0])
    }

    /// Ranks that build different models all stop at the start of fit with a message, none waits.
    func testArchitectureMismatchStopsEveryRank() {
        nonisolated(unsafe) var messages = [String](repeating: "", count: 2)
        let lock = NSLock()
        ThreadRanks(size: 2).run { rank in
            do {
                let random = RandomGenerator(seed: 1)
                let model = try Sequential(inputShape: [4], [Linear(4, rank.rank == 0 ? 3 : 5, random: random, name: "fc")])
                let trainer = Trainer(model: model, loss: MeanSquaredError(), optimizer: SGD(), random: random)
                try trainer.use(workers: 1, communicator: rank)
                let outputs = rank.rank == 0 ? 3 : 5
                let data = try Dataset(inputs: Tensor(shape: [8, 4]), targets: Tensor(shape: [8, outputs]))
                try trainer.fit(data, epochs: 1, batchSize: 4)
            } catch {
                lock.withLock { messages[rank.rank] = "\(error)" }
            }
        }
        XCTAssertTrue(messages[1].contains("differs from rank 0's: parameters 25 (rank 0: 15)"), messages[1])
        XCTAssertTrue(messages[0].contains("1 rank(s) hold a model or run that differs from rank 0's"), messages[0])
    }
}
