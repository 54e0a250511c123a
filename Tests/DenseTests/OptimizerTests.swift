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

/// Optimizers step a model's whole parameter block in one loop, with the same results as one
/// parameter at a time.
final class BlockOptimizerTests: XCTestCase {
    func optimizers() -> [(String, () -> any Optimizer)] {
        [("sgd", { SGD(learningRate: 0.1) }), ("sgd_momentum", { SGD(learningRate: 0.1, momentum: 0.9) }),
         ("sgd_nesterov", { SGD(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01) }),
         ("rmsprop", { RMSprop(learningRate: 0.01, weightDecay: 0.01) }),
         ("adam", { Adam(learningRate: 0.01, weightDecay: 0.01) })]
    }

    /// The PyTorch steps again, with the fixture's values as a one-parameter model's block.
    func testOptimizersOverABlockMatchPyTorch() throws {
        for (name, make) in optimizers() {
            let p0 = fixture("opt.p0"), grads = fixture("opt.grads"), expected = fixture("opt_\(name).steps")
            let n = p0.count
            let model = try Sequential(inputShape: [n], [Linear(n, 1, bias: false, random: RandomGenerator(seed: 1))])
            let p = model.parameters[0]
            p.value.assign(p0)
            XCTAssertNotNil(ParameterBlock.common(model.parameters))
            let optimizer = make()
            for step in 0..<3 {
                p.gradient.data.update(from: grads.data + step * n, count: n)
                optimizer.step(model.parameters)
                let want = Tensor(shape: [n], values: Array(expected.buffer[(step * n)..<((step + 1) * n)]))
                assertClose(p.value, want, relative: 1e-6, absolute: 1e-6, "\(name) step \(step + 1)")
            }
        }
    }

    /// A block step equals per-parameter steps bit for bit, and the state slots are views into
    /// the optimizer's state blocks.
    func testBlockStepEqualsPerParameterSteps() throws {
        for (name, make) in optimizers() {
            let random = RandomGenerator(seed: 4)
            let model = try Sequential(inputShape: [6], [
                Linear(6, 9, random: random), Activation(.tanh), Linear(9, 5, random: random), Linear(5, 2, random: random),
            ])
            let loose = model.parameters.map { Parameter(name: $0.name, value: $0.value.copy()) }
            let (blockOptimizer, looseOptimizer) = (make(), make())
            for _ in 0..<4 {
                for (p, q) in zip(model.parameters, loose) {
                    for i in 0..<p.gradient.count { p.gradient[i] = random.uniform(-1, 1) }
                    q.gradient.assign(p.gradient)
                }
                blockOptimizer.step(model.parameters)
                looseOptimizer.step(loose)
            }
            for (p, q) in zip(model.parameters, loose) {
                XCTAssertEqual(p.value.array, q.value.array, "\(name): \(p.name)")
                for (a, b) in zip(blockOptimizer.slots(for: p), looseOptimizer.slots(for: q)) {
                    XCTAssertEqual(a.array, b.array, "\(name): \(p.name) state")
                    XCTAssertEqual(a.shape, p.shape)
                }
            }
            // The slots of consecutive parameters are adjacent in one state block.
            guard !blockOptimizer.slotNames.isEmpty else { continue }
            let slots = model.parameters.map { blockOptimizer.slots(for: $0)[0] }
            for (a, b) in zip(slots, slots.dropFirst()) {
                XCTAssertTrue(a.storage === b.storage, name)
                XCTAssertEqual(a.data + a.count, b.data, name)
            }
        }
    }

    func testClippingTheBlockEqualsClippingEachParameter() throws {
        let random = RandomGenerator(seed: 5)
        let model = try Sequential(inputShape: [4], [Linear(4, 8, random: random), Linear(8, 3, random: random)])
        let loose = model.parameters.map { Parameter(name: $0.name, value: $0.value.copy()) }
        for (p, q) in zip(model.parameters, loose) {
            for i in 0..<p.gradient.count { p.gradient[i] = random.uniform(-2, 2) }
            q.gradient.assign(p.gradient)
        }
        XCTAssertEqual(clipGradientNorm(model.parameters, maxNorm: 0.5), clipGradientNorm(loose, maxNorm: 0.5))
        for (p, q) in zip(model.parameters, loose) { XCTAssertEqual(p.gradient.array, q.gradient.array, p.name) }
        XCTAssertEqual(clipGradientNorm(model.parameters, maxNorm: 10), 0.5, accuracy: 1e-5)
    }
}

extension OptimizerTests {
    /// `ReduceOnPlateau` knows which way its metric improves: by name (as `EarlyStopping`), or as told.
    func testReduceOnPlateauFollowsItsMode() {
        let rising = ReduceOnPlateau(monitor: "val_accuracy", factor: 0.5, patience: 2)
        XCTAssertEqual(rising.mode, .max)
        var rate: Float = 1
        for accuracy in [0.5, 0.6, 0.7, 0.8] { rate = rising.rate(after: 0, current: rate, logs: ["val_accuracy": accuracy]) }
        XCTAssertEqual(rate, 1, "a rising accuracy is progress")
        for accuracy in [0.79, 0.78] { rate = rising.rate(after: 0, current: rate, logs: ["val_accuracy": accuracy]) }
        XCTAssertEqual(rate, 0.5, "two epochs below the best halve the rate")

        XCTAssertEqual(ReduceOnPlateau(monitor: "val_loss").mode, .min)
        let told = ReduceOnPlateau(monitor: "val_score", mode: .max, factor: 0.5, patience: 1)
        rate = 1
        for score in [1.0, 2.0, 3.0] { rate = told.rate(after: 0, current: rate, logs: ["val_score": score]) }
        XCTAssertEqual(rate, 1)
        told.state = [:]
        XCTAssertEqual(told.state["best"], -.infinity, "a fresh maximising schedule starts from the bottom")
    }
}
