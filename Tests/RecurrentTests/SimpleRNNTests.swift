import Dense
import Recurrent
import XCTest

final class SimpleRNNTests: XCTestCase {
    let (n, t, f, h) = (3, 7, 4, 5)

    /// A layer with the fixture's weights.
    func layer(_ name: String, _ inputFeatures: Int, mode: SimpleRNN.Mode,
               nonlinearity: SimpleRNN.Nonlinearity = .tanh, truncation: Int? = nil) throws -> SimpleRNN {
        let rnn = try SimpleRNN(inputFeatures, h, mode: mode, nonlinearity: nonlinearity, truncation: truncation,
                            random: RandomGenerator(seed: 1))
        rnn.weightIH.value.assign(fixture("\(name).weight_ih"))
        rnn.weightHH.value.assign(fixture("\(name).weight_hh"))
        rnn.bias.value.assign(fixture("\(name).bias"))
        return rnn
    }

    func assertMatchesPyTorch(_ rnn: SimpleRNN, _ name: String, mask: Tensor? = nil,
                              file: StaticString = #filePath, line: UInt = #line) {
        rnn.inputMask = mask
        assertClose(rnn.forward(fixture("\(name).x"), training: true), fixture("\(name).y"), "\(name) output",
                    file: file, line: line)
        assertClose(rnn.backward(fixture("\(name).dy")), fixture("\(name).dx"), "\(name) input gradient",
                    file: file, line: line)
        assertClose(rnn.weightIH.gradient, fixture("\(name).dweight_ih"), "\(name) dW_ih", file: file, line: line)
        assertClose(rnn.weightHH.gradient, fixture("\(name).dweight_hh"), "\(name) dW_hh", file: file, line: line)
        assertClose(rnn.bias.gradient, fixture("\(name).dbias"), "\(name) dbias", file: file, line: line)
    }

    func testManyToManyWithInitialStateMatchesPyTorch() throws {
        let rnn = try layer("m2m_tanh_h0", f, mode: .manyToMany)
        rnn.initialState = fixture("m2m_tanh_h0.h0")
        assertMatchesPyTorch(rnn, "m2m_tanh_h0")
        assertClose(rnn.initialStateGradient!, fixture("m2m_tanh_h0.dh0"), "dh0")
    }

    /// A clone (a data-parallel replica's layer) keeps what its config does not: the
    /// initial state, in storage of its own.
    func testCloneKeepsTheInitialStateAndWeights() throws {
        let rnn = try layer("m2m_tanh_h0", f, mode: .manyToMany, truncation: 3)
        rnn.name = "rnn"
        rnn.initialState = fixture("m2m_tanh_h0.h0")
        let copy = try XCTUnwrap(try rnn.clone() as? SimpleRNN)
        XCTAssertEqual(copy.name, "rnn")
        XCTAssertEqual(copy.truncation, 3)
        XCTAssertEqual(copy.initialState?.array, rnn.initialState?.array)
        XCTAssertFalse(copy.initialState!.storage === rnn.initialState!.storage)
        XCTAssertFalse(copy.weightHH.value.storage === rnn.weightHH.value.storage)
        copy.truncation = nil
        assertMatchesPyTorch(copy, "m2m_tanh_h0")
        assertClose(copy.initialStateGradient!, fixture("m2m_tanh_h0.dh0"), "dh0")
    }

    func testManyToOneMatchesPyTorch() throws {
        assertMatchesPyTorch(try layer("m2o_tanh", f, mode: .manyToOne), "m2o_tanh")
    }

    func testReLUMatchesPyTorch() throws {
        assertMatchesPyTorch(try layer("m2m_relu", f, mode: .manyToMany, nonlinearity: .relu), "m2m_relu")
    }

    func testMaskedSequencesMatchPackedPyTorch() throws {
        // Lengths 7, 4, 1, right-padded: PyTorch's packed sequences skip the padding entirely.
        assertMatchesPyTorch(try layer("masked_m2o", f, mode: .manyToOne), "masked_m2o", mask: fixture("masked_m2o.mask"))
        assertMatchesPyTorch(try layer("masked_m2m", f, mode: .manyToMany), "masked_m2m", mask: fixture("masked_m2m.mask"))
    }

    func testOneToManyMatchesPyTorch() throws {
        assertMatchesPyTorch(try layer("o2m_fixed", f, mode: .oneToMany(steps: t, feedback: .fixedInput)), "o2m_fixed")
        assertMatchesPyTorch(try layer("o2m_feedback", h, mode: .oneToMany(steps: t, feedback: .previousOutput)),
                             "o2m_feedback")
    }

    func testTruncatedBackpropagationMatchesDetachedPyTorch() throws {
        assertMatchesPyTorch(try layer("truncated3", f, mode: .manyToMany, truncation: 3), "truncated3")
    }

    func testGradientsThroughTime() throws {
        let random = RandomGenerator(seed: 21)
        for mode in [SimpleRNN.Mode.manyToOne, .manyToMany] {
            for nonlinearity in [SimpleRNN.Nonlinearity.tanh, .relu] {
                let rnn = try SimpleRNN(f, h, mode: mode, nonlinearity: nonlinearity, random: random)
                // ReLU has kinks: a smaller step keeps finite differences off them.
                checkGradients(rnn, input: randomTensor([n, 6, f], random), epsilon: nonlinearity == .relu ? 1e-4 : 1e-2)
            }
        }
        let fixed = try SimpleRNN(f, h, mode: .oneToMany(steps: 6, feedback: .fixedInput), random: random)
        checkGradients(fixed, input: randomTensor([n, f], random))
        let fed = try SimpleRNN(h, h, mode: .oneToMany(steps: 6, feedback: .previousOutput), random: random)
        checkGradients(fed, input: randomTensor([n, h], random))
        // Finite differences see the whole dependence, which truncation cuts on purpose (the
        // golden test covers it); a chunk as long as the sequence must be full BPTT.
        let untruncated = try SimpleRNN(f, h, mode: .manyToMany, truncation: 6, random: random)
        checkGradients(untruncated, input: randomTensor([n, 6, f], random))
    }

    func testGradientsWithMask() throws {
        let random = RandomGenerator(seed: 22)
        let mask = Tensor(shape: [3, 6], values: [1, 1, 1, 1, 1, 1,  0, 0, 1, 1, 1, 1,  1, 1, 1, 0, 0, 0])
        for mode in [SimpleRNN.Mode.manyToOne, .manyToMany] {
            let rnn = try SimpleRNN(f, h, mode: mode, random: random)
            rnn.inputMask = mask
            checkGradients(rnn, input: randomTensor([3, 6, f], random))
        }
    }

    func testInitialStateGradient() throws {
        let random = RandomGenerator(seed: 23)
        let rnn = try SimpleRNN(f, h, mode: .manyToMany, random: random)
        let x = randomTensor([2, 5, f], random)
        let h0 = randomTensor([2, h], random, scale: 0.5)
        rnn.initialState = h0
        // d/dh0 of sum(y * r), by finite differences.
        let r = randomTensor([2, 5, h], random)
        func objective() -> Double {
            let y = rnn.forward(x, training: true)
            return (0..<y.count).reduce(0.0) { $0 + Double(y[$1]) * Double(r[$1]) }
        }
        _ = rnn.forward(x, training: true)
        _ = rnn.backward(r)
        let analytic = rnn.initialStateGradient!.copy()
        for i in 0..<h0.count {
            let saved = h0[i]
            h0[i] = saved + 1e-2; let plus = objective()
            h0[i] = saved - 1e-2; let minus = objective()
            h0[i] = saved
            XCTAssertEqual(Double(analytic[i]), (plus - minus) / 2e-2, accuracy: 1e-2 * max(1, abs(Double(analytic[i]))))
        }
    }

    /// The same sequence unpadded, padded on the left and padded on the right: identical final
    /// state, identical per-step states on the real steps, identical parameter gradients.
    func testPaddingOnEitherSideChangesNothing() throws {
        let random = RandomGenerator(seed: 24)
        let real = 5, padded = 9
        let sequence = randomTensor([1, real, f], random)
        func run(_ mode: SimpleRNN.Mode, offset: Int?) throws -> (y: Tensor, dWhh: Tensor, dx: Tensor) {
            let rnn = try SimpleRNN(f, h, mode: mode, random: RandomGenerator(seed: 7))
            let steps = offset == nil ? real : padded
            let x = randomTensor([1, steps, f], random, scale: 5)  // garbage in the padding
            let mask = Tensor(shape: [1, steps])
            for s in 0..<real {
                let at = s + (offset ?? 0)
                mask[at] = 1
                for j in 0..<f { x[at * f + j] = sequence[s * f + j] }
            }
            rnn.inputMask = offset == nil ? nil : mask
            let y = rnn.forward(x, training: true).copy()
            let dy = Tensor(shape: y.shape, repeating: 0.5)
            let dx = rnn.backward(dy).copy()
            // Keep the real steps only, for comparison.
            let realY = mode == .manyToOne ? y : Tensor(shape: [1, real, h], values:
                Array(y.buffer[((offset ?? 0) * h)..<(((offset ?? 0) + real) * h)]))
            let realDx = Tensor(shape: [1, real, f], values:
                Array(dx.buffer[((offset ?? 0) * f)..<(((offset ?? 0) + real) * f)]))
            if offset != nil {
                for s in 0..<steps where mask[s] == 0 {
                    XCTAssertTrue((0..<f).allSatisfy { dx[s * f + $0] == 0 }, "padded step \(s) has an input gradient")
                    if mode == .manyToMany {
                        XCTAssertTrue((0..<h).allSatisfy { y[s * h + $0] == 0 }, "padded step \(s) has an output")
                    }
                }
            }
            return (realY, rnn.weightHH.gradient.copy(), realDx)
        }
        // Padding changes the shapes of the products (more rows in the input projection, zero
        // terms in the weight gradients' sums), which OpenBLAS may add in another order. The sums
        // here have at most T x h = 45 terms of order one: 2 x 45 x 2^-24 = 5.4e-6 relative to their
        // magnitude, so 1e-5 relative with a 1e-6 floor for values near zero.
        for mode in [SimpleRNN.Mode.manyToOne, .manyToMany] {
            let plain = try run(mode, offset: nil)
            for offset in [0, padded - real, 2] {  // right padding, left padding, both sides
                let other = try run(mode, offset: offset)
                assertClose(other.y, plain.y, relative: 1e-5, "\(mode) output, real steps at \(offset)")
                assertClose(other.dx, plain.dx, relative: 1e-5, "\(mode) input gradient, real steps at \(offset)")
                assertClose(other.dWhh, plain.dWhh, relative: 1e-5, "\(mode) dW_hh, real steps at \(offset)")
            }
        }
    }

    /// With two threads the steps run for two shares of the batch rows at once (at least 16 rows
    /// each); padding, truncation, the initial state and both modes give what one thread gives.
    func testTwoThreadsSplittingTheBatchGiveOneThreadsResults() throws {
        let (n, t) = (40, 9)
        let random = RandomGenerator(seed: 25)
        let x = randomTensor([n, t, f], random)
        let h0 = randomTensor([n, h], random, scale: 0.5)
        let mask = Tensor(shape: [n, t], repeating: 1)
        for row in stride(from: 0, to: n, by: 3) {
            for s in 0..<(row % t) { mask[row * t + (row % 2 == 0 ? s : t - 1 - s)] = 0 }  // left or right padding
        }
        for mode in [SimpleRNN.Mode.manyToOne, .manyToMany] {
            func run(_ threads: Int) throws -> [Tensor] {
                try withBLASThreads(threads) {
                    let rnn = try SimpleRNN(f, h, mode: mode, truncation: 4, random: RandomGenerator(seed: 8))
                    rnn.initialState = h0
                    rnn.inputMask = mask
                    let y = rnn.forward(x, training: true).copy()
                    let dx = rnn.backward(randomTensor(y.shape, RandomGenerator(seed: 9))).copy()
                    return [y, dx, rnn.weightIH.gradient, rnn.weightHH.gradient, rnn.bias.gradient,
                            rnn.initialStateGradient!].map { $0.copy() }
                }
            }
            let one = try run(1)
            guard withBLASThreads(2, { BLAS.threads }) == 2 else { throw XCTSkip("OpenBLAS runs one thread here") }
            let two = try run(2)
            // Each row's recurrence is the same arithmetic; only the GEMM kernel OpenBLAS picks
            // for 20 rows rather than 40 may add a dot product of h = 5 terms in another order
            // (2 x 5 x 2^-24 = 6e-7 relative per step), and the weight gradients' sums over
            // n x t = 360 rows run in other blocks: 1e-5 relative with a 1e-6 floor.
            for (j, name) in ["output", "dx", "dW_ih", "dW_hh", "dbias", "dh0"].enumerated() {
                assertClose(two[j], one[j], relative: 1e-5, "\(mode) \(name), two threads against one")
            }
        }
    }

    func testOrthogonalRecurrentWeights() throws {
        let rnn = try SimpleRNN(3, 16, random: RandomGenerator(seed: 5))
        let w = rnn.weightHH.value
        for i in 0..<16 {
            for j in 0..<16 {
                let dot = (0..<16).reduce(Float(0)) { $0 + w[i * 16 + $1] * w[j * 16 + $1] }
                XCTAssertEqual(dot, i == j ? 1 : 0, accuracy: 1e-5)
            }
        }
    }

    func testShapeInferenceRejectsWrongInputs() throws {
        let random = RandomGenerator(seed: 6)
        XCTAssertEqual(try SimpleRNN(4, 8, random: random).outputShape(for: [10, 4]), [8])
        XCTAssertEqual(try SimpleRNN(4, 8, mode: .manyToMany, random: random).outputShape(for: [10, 4]), [10, 8])
        XCTAssertEqual(try SimpleRNN(4, 8, mode: .oneToMany(steps: 3, feedback: .fixedInput), random: random)
            .outputShape(for: [4]), [3, 8])
        XCTAssertThrowsError(try Sequential(inputShape: [10, 3], [SimpleRNN(4, 8, random: random, name: "rnn")])) {
            XCTAssertTrue("\($0)".contains("rnn") && "\($0)".contains("[10, 3]"), "\($0)")
        }
    }

    func testStepEqualsOneStepOfTheSequence() throws {
        let random = RandomGenerator(seed: 8)
        let rnn = try SimpleRNN(f, h, mode: .manyToMany, random: random)
        let x = randomTensor([2, 3, f], random)
        let y = rnn.forward(x, training: false).copy()
        let state = Tensor(shape: [2, h])
        for s in 0..<3 {
            var values: [Float] = []
            for b in 0..<2 { values += x.buffer[((b * 3 + s) * f)..<((b * 3 + s + 1) * f)] }
            let xs = Tensor(shape: [2, f], values: values)
            rnn.step(input: xs, state: state, into: state)
            // `step` projects one step's inputs where `forward` projects all steps in one product,
            // so the sums may be added in another order: each state is tanh of f + h + 1 = 10
            // terms of order one (2 x 10 x 2^-24 = 1.2e-6 a step), carried over three steps by an
            // orthogonal W_hh and tanh, neither of which magnifies it; 1e-5 leaves a margin.
            for b in 0..<2 {
                for j in 0..<h { XCTAssertEqual(state[b * h + j], y[(b * 3 + s) * h + j], accuracy: 1e-5) }
            }
        }
    }
}
