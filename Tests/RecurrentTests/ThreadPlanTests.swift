import Dense
import Foundation
import Recurrent
import XCTest

/// OpenBLAS's threads and the parallel loops' budget are decided once per fit, evaluate or
/// predict (`BLAS.withThreadPlan`), and nothing changes them inside.
final class ThreadPlanTests: XCTestCase {
    /// Records OpenBLAS's threads and the loop budget at every batch and epoch end.
    final class Recorder: Callback {
        var seen: Set<[Int]> = []
        func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double]) { seen.insert([BLAS.threads, BLAS.loopThreads]) }
        func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws { seen.insert([BLAS.threads, BLAS.loopThreads]) }
    }

    override func setUp() { BLAS.threads = 2 }
    override func tearDown() { BLAS.threads = 1 }

    func data(_ sampleShape: [Int] = [6, 3]) throws -> Dataset {
        let random = RandomGenerator(seed: 5)
        return try Dataset(inputs: Tensor(shape: [64] + sampleShape, values: (0..<(64 * 18)).map { _ in random.uniform(-1, 1) }),
                           targets: Tensor(shape: [64], values: (0..<64).map { Float($0 % 2) }))
    }

    func fit(_ sampleShape: [Int] = [6, 3], _ layers: (RandomGenerator) throws -> [any Layer], workers: Int = 1) throws -> Set<[Int]> {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: sampleShape, layers(random))
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(), random: random)
        trainer.verbose = false
        try trainer.use(workers: workers)
        let recorder = Recorder()
        try trainer.fit(data(sampleShape), epochs: 2, batchSize: 32, validation: .split(0.25, seed: 1), callbacks: [recorder])
        XCTAssertEqual(BLAS.threads, 2, "restored after the fit")
        XCTAssertEqual(BLAS.loopThreads, 2)
        return recorder.seen
    }

    func testARecurrentModelGivesTheCoresToItsRowShares() throws {
        let seen = try fit { random in
            [try SimpleRNN(3, 32, mode: .manyToOne, random: random), try Linear(32, 2, random: random)]
        }
        XCTAssertEqual(seen, [[1, 2]], "OpenBLAS on one thread, the RNN's rows on two, through training and validation")
    }

    func testAModelWithoutRowSharesGivesTheCoresToOpenBLAS() throws {
        let seen = try fit([18]) { random in [try Linear(18, 2, random: random)] }
        XCTAssertEqual(seen, [[2, 2]])
    }

    func testSeveralWorkersRunOneThreadEach() throws {
        let seen = try fit([6, 3], { random in
            [try SimpleRNN(3, 32, mode: .manyToOne, random: random), try Linear(32, 2, random: random)]
        }, workers: 2)
        XCTAssertEqual(seen, [[1, 1]])
    }

    func testALoopThatCallsOpenBLASNeverChangesItsThreads() {
        var during: [Int] = []
        let lock = NSLock()
        BLAS.concurrentPerform(2) { _, _ in lock.lock(); during.append(BLAS.threads); lock.unlock() }
        XCTAssertEqual(during, [2], "with OpenBLAS on two threads the parts run as one share, on its setting")
        BLAS.threads = 1
        during = []
        BLAS.concurrentPerform(2) { _, _ in lock.lock(); during.append(BLAS.threads); lock.unlock() }
        XCTAssertEqual(during, [1, 1])
    }

    func testPredictGivesTheSameOutputsUnderEitherPlan() throws {
        let random = RandomGenerator(seed: 2)
        let model = try Sequential(inputShape: [6, 3], [try SimpleRNN(3, 32, mode: .manyToOne, random: random), try Linear(32, 2, random: random)])
        let x = try data().inputs
        let two = try model.predict(x)
        BLAS.threads = 1
        let one = try model.predict(x)
        // Row shares or not, each row's products are the same sums; OpenBLAS may pick another
        // kernel for another product size, so allow float rounding.
        for (a, b) in zip(two.array, one.array) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }
}
