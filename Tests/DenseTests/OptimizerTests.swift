import Dense
import XCTest

final class OptimizerTests: XCTestCase {
    func run(_ optimizer: any Optimizer, _ name: String) {
        let p = Parameter(name: "p", value: fixture("opt.p0").copy())
        let grads = fixture("opt.grads")
        let expected = fixture("opt_\(name).steps")
        let n = p.value.count
        for step in 0..<3 {
            p.gradient.data.update(from: grads.data + step * n, count: n)
            optimizer.step([p])
            let want = Tensor(shape: [n], values: Array(expected.buffer[(step * n)..<((step + 1) * n)]))
            assertClose(p.value, want, relative: 1e-6, absolute: 1e-6, "\(name) step \(step + 1)")
        }
    }

    func testSGDMatchesPyTorch() { run(SGD(learningRate: 0.1), "sgd") }
    func testMomentumMatchesPyTorch() { run(SGD(learningRate: 0.1, momentum: 0.9), "sgd_momentum") }
    func testNesterovWithWeightDecayMatchesPyTorch() {
        run(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01), "sgd_nesterov")
    }
    func testRMSpropMatchesPyTorch() { run(RMSprop(learningRate: 0.01, weightDecay: 0.01), "rmsprop") }
    func testAdamMatchesPyTorch() { run(Adam(learningRate: 0.01, weightDecay: 0.01), "adam") }

    func testGradientClippingByGlobalNorm() {
        let a = Parameter(name: "a", value: Tensor(shape: [2])), b = Parameter(name: "b", value: Tensor(shape: [1]))
        a.gradient.assign(Tensor(shape: [2], values: [3, 0]))
        b.gradient.assign(Tensor(shape: [1], values: [4]))
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 1), 5)
        XCTAssertEqual(a.gradient[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.gradient[0], 0.8, accuracy: 1e-5)
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(b.gradient[0], 0.8, accuracy: 1e-5, "a norm under the limit is left alone")
    }

    func testSchedules() {
        XCTAssertEqual(StepDecay(initial: 1, factor: 0.5, every: 2).rate(after: 1, current: 1, logs: [:]), 0.5)
        XCTAssertEqual(StepDecay(initial: 1, factor: 0.5, every: 2).rate(after: 0, current: 1, logs: [:]), 1)
        XCTAssertEqual(ExponentialDecay(initial: 1, decay: 0.9).rate(after: 1, current: 1, logs: [:]), 0.81, accuracy: 1e-6)
        let plateau = ReduceOnPlateau(factor: 0.5, patience: 2)
        var rate: Float = 1
        for loss in [1.0, 0.9, 0.95, 0.93, 0.99] { rate = plateau.rate(after: 0, current: rate, logs: ["val_loss": loss]) }
        XCTAssertEqual(rate, 0.5, "two epochs without improvement halve the rate once")
    }
}
