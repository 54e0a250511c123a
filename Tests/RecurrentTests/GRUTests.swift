import Dense
import Foundation
import Recurrent
import XCTest

final class GRUTests: XCTestCase {
    let (n, t, f, h) = (3, 7, 4, 5)

    /// A layer with the fixture case's weights.
    func layer(_ name: String, _ inputFeatures: Int, mode: GRU.Mode, truncation: Int? = nil) throws -> GRU {
        let gru = try GRU(inputFeatures, h, mode: mode, truncation: truncation, random: RandomGenerator(seed: 1))
        loadGatedWeights(gru, "gru.\(name)")
        return gru
    }

    func testParameterNamesAndShapesArePyTorchs() throws {
        let gru = try GRU(f, h, random: RandomGenerator(seed: 1))
        XCTAssertEqual(gru.parameters.map(\.name), gatedParameterNames)
        XCTAssertEqual(gru.parameters.map(\.value.shape), [[3 * h, f], [3 * h, h], [3 * h], [3 * h]])
        XCTAssertEqual(gru.config.parameterShapes.map(\.shape), gru.parameters.map(\.value.shape))
    }

    func testManyToManyWithInitialStateMatchesPyTorch() throws {
        let gru = try layer("m2m_h0", f, mode: .manyToMany)
        gru.initialState = gatedFixture("gru.m2m_h0.h0")
        assertGatedMatchesPyTorch(gru, "gru.m2m_h0")
        assertClose(gru.initialStateGradient!, gatedFixture("gru.m2m_h0.dh0"), relative: 0, absolute: 1e-4, "dh0")
    }

    func testManyToOneMatchesPyTorch() throws {
        assertGatedMatchesPyTorch(try layer("m2o", f, mode: .manyToOne), "gru.m2o")
        let gru = try layer("m2o_h0", f, mode: .manyToOne)
        gru.initialState = gatedFixture("gru.m2o_h0.h0")
        assertGatedMatchesPyTorch(gru, "gru.m2o_h0")
        assertClose(gru.initialStateGradient!, gatedFixture("gru.m2o_h0.dh0"), relative: 0, absolute: 1e-4, "dh0")
    }

    /// Lengths 7, 4, 1, right-padded as PyTorch's packed sequences read them; then the same
    /// sequences padded on the left give the same final states and the same gradients.
    func testMaskedSequencesMatchPackedPyTorchOnEitherSide() throws {
        for name in ["masked_m2o", "masked_m2m"] {
            let mode: GRU.Mode = name == "masked_m2o" ? .manyToOne : .manyToMany
            assertGatedMatchesPyTorch(try layer(name, f, mode: mode), "gru.\(name)", mask: gatedFixture("gru.\(name).mask"))
        }
        let gru = try layer("masked_m2m_h0", f, mode: .manyToMany)
        gru.initialState = gatedFixture("gru.masked_m2m_h0.h0")
        assertGatedMatchesPyTorch(gru, "gru.masked_m2m_h0", mask: gatedFixture("gru.masked_m2m_h0.mask"))
        assertClose(gru.initialStateGradient!, gatedFixture("gru.masked_m2m_h0.dh0"), relative: 0, absolute: 1e-4, "dh0")

        let left = try layer("masked_m2o", f, mode: .manyToOne)
        let (x, mask) = leftPadded(gatedFixture("gru.masked_m2o.x"), lengths: [7, 4, 1])
        left.inputMask = mask
        assertClose(left.forward(x, training: true), gatedFixture("gru.masked_m2o.y"), relative: 0, absolute: 1e-4,
                    "left-padded output")
        let dx = left.backward(gatedFixture("gru.masked_m2o.dy"))
        assertClose(dx, leftPadded(gatedFixture("gru.masked_m2o.dx"), lengths: [7, 4, 1]).x, relative: 0, absolute: 1e-4,
                    "left-padded input gradient")
        for (p, name) in zip(left.parameters, gatedParameterNames) {
            assertClose(p.gradient, gatedFixture("gru.masked_m2o.d\(name)"), relative: 0, absolute: 1e-4, "left-padded d\(name)")
        }
    }

    func testOneToManyMatchesPyTorch() throws {
        assertGatedMatchesPyTorch(try layer("o2m_fixed", f, mode: .oneToMany(steps: t, feedback: .fixedInput)),
                                  "gru.o2m_fixed")
        assertGatedMatchesPyTorch(try layer("o2m_feedback", h, mode: .oneToMany(steps: t, feedback: .previousOutput)),
                                  "gru.o2m_feedback")
    }

    /// Two stacked layers, whole and padded sequences, as PyTorch's `nn.GRU(num_layers: 2)`.
    func testTwoStackedLayersMatchPyTorch() throws {
        for (name, masked, many) in [("stacked_m2o", false, false), ("stacked_m2m", false, true),
                                     ("stacked_masked_m2o", true, false), ("stacked_masked_m2m", true, true)] {
            try assertStackedMatchesPyTorch("gru.\(name)", masked: masked, many: many) {
                try GRU($0, h, mode: $1, random: RandomGenerator(seed: 1))
            }
        }
    }

    func testTruncatedBackpropagationMatchesDetachedPyTorch() throws {
        assertGatedMatchesPyTorch(try layer("truncated3", f, mode: .manyToMany, truncation: 3), "gru.truncated3")
    }

    func testGradientsThroughTime() throws {
        let random = RandomGenerator(seed: 51)
        let mask = Tensor(shape: [3, 6], values: [1, 1, 1, 1, 1, 1,  0, 0, 1, 1, 1, 1,  1, 1, 1, 0, 0, 0])
        for mode in [GRU.Mode.manyToOne, .manyToMany] {
            let gru = try GRU(f, h, mode: mode, random: random)
            gru.biasHH.value.assign(randomTensor([3 * h], random, scale: 0.5))  // b_hn acts inside r (...)
            checkGradients(gru, input: randomTensor([n, 6, f], random))
            gru.inputMask = mask
            checkGradients(gru, input: randomTensor([3, 6, f], random))
        }
        checkGradients(try GRU(f, h, mode: .oneToMany(steps: 6, feedback: .fixedInput), random: random),
                       input: randomTensor([n, f], random))
        checkGradients(try GRU(h, h, mode: .oneToMany(steps: 6, feedback: .previousOutput), random: random),
                       input: randomTensor([n, h], random))
    }

    /// Stepping by hand gives the many-to-many layer's outputs.
    func testStepsGiveTheSequencesStates() throws {
        let random = RandomGenerator(seed: 52)
        let gru = try GRU(f, h, mode: .manyToMany, random: random)
        let x = randomTensor([2, 5, f], random)
        let y = gru.forward(x, training: false)
        let state = Tensor(shape: [2, h])
        for s in 0..<5 {
            let xs = Tensor(shape: [2, f], values: (0..<2).flatMap { b in x.buffer[((b * 5 + s) * f)..<((b * 5 + s + 1) * f)] })
            gru.step(input: xs, state: state, into: state)
            let expected = Tensor(shape: [2, h], values: (0..<2).flatMap { b in y.buffer[((b * 5 + s) * h)..<((b * 5 + s + 1) * h)] })
            assertClose(gru.output(of: state), expected, relative: 1e-5, absolute: 1e-6, "step \(s)")
        }
    }

    /// With two threads the steps run for two shares of the batch rows at once; padding,
    /// truncation and the initial state give what one thread gives, within float32 rounding.
    func testTwoThreadsGiveOneThreadsResults() throws {
        let (n, t) = (40, 9)
        let random = RandomGenerator(seed: 53)
        let x = randomTensor([n, t, f], random), h0 = randomTensor([n, h], random, scale: 0.5)
        let mask = Tensor(shape: [n, t], repeating: 1)
        for row in stride(from: 0, to: n, by: 3) {
            for s in 0..<(row % t) { mask[row * t + (row % 2 == 0 ? s : t - 1 - s)] = 0 }
        }
        func run(_ threads: Int) throws -> [Tensor] {
            try withBLASThreads(threads) {
                let gru = try GRU(f, h, mode: .manyToMany, truncation: 4, random: RandomGenerator(seed: 8))
                gru.initialState = h0
                gru.inputMask = mask
                let y = gru.forward(x, training: true).copy()
                let dx = gru.backward(randomTensor(y.shape, RandomGenerator(seed: 9))).copy()
                return [y, dx, gru.initialStateGradient!.copy()] + gru.parameters.map { $0.gradient.copy() }
            }
        }
        for (one, two) in zip(try run(1), try run(2)) { assertClose(two, one, relative: 1e-5, absolute: 1e-6) }
    }

    func testConfigRoundTripsThroughTheRegistry() throws {
        let config = GRU.Config(inputFeatures: f, hiddenSize: h, mode: .oneToMany(steps: 3, feedback: .fixedInput),
                                truncation: 2, recurrentInitializer: .identity)
        let decoded = try LayerRegistry.recurrent.config(type: "GRU", options: try config.options)
        XCTAssertTrue(decoded.isEqual(to: config))
        var options = try config.options
        options["inputFeatures"] = .number(-1)
        XCTAssertThrowsError(try LayerRegistry.recurrent.config(type: "GRU", options: options)) {
            XCTAssertTrue("\($0)".contains("inputFeatures"), "\($0)")
        }
    }
}
