import Dense
import Foundation
import Recurrent
import XCTest

final class LSTMTests: XCTestCase {
    let (n, t, f, h) = (3, 7, 4, 5)

    /// A layer with the fixture case's weights.
    func layer(_ name: String, _ inputFeatures: Int, mode: LSTM.Mode, truncation: Int? = nil) throws -> LSTM {
        let lstm = try LSTM(inputFeatures, h, mode: mode, truncation: truncation, random: RandomGenerator(seed: 1))
        loadGatedWeights(lstm, "lstm.\(name)")
        return lstm
    }

    func testParameterNamesAndShapesArePyTorchs() throws {
        let lstm = try LSTM(f, h, random: RandomGenerator(seed: 1))
        XCTAssertEqual(lstm.parameters.map(\.name), gatedParameterNames)
        XCTAssertEqual(lstm.parameters.map(\.value.shape), [[4 * h, f], [4 * h, h], [4 * h], [4 * h]])
        XCTAssertEqual(lstm.config.parameterShapes.map(\.shape), lstm.parameters.map(\.value.shape))
        // The forget gate's part of bias_ih starts at 1, the rest at 0.
        XCTAssertEqual(lstm.biasIH.value.array, [Float](repeating: 0, count: h) + [Float](repeating: 1, count: h)
                       + [Float](repeating: 0, count: 2 * h))
        XCTAssertEqual(lstm.biasHH.value.array, [Float](repeating: 0, count: 4 * h))
    }

    func testManyToManyWithInitialStatesMatchesPyTorch() throws {
        let lstm = try layer("m2m_h0", f, mode: .manyToMany)
        lstm.initialState = gatedFixture("lstm.m2m_h0.h0")
        lstm.initialCellState = gatedFixture("lstm.m2m_h0.c0")
        assertGatedMatchesPyTorch(lstm, "lstm.m2m_h0")
        assertClose(lstm.initialStateGradient!, gatedFixture("lstm.m2m_h0.dh0"), relative: 0, absolute: 1e-4, "dh0")
        assertClose(lstm.initialCellStateGradient!, gatedFixture("lstm.m2m_h0.dc0"), relative: 0, absolute: 1e-4, "dc0")
    }

    func testManyToOneMatchesPyTorch() throws {
        assertGatedMatchesPyTorch(try layer("m2o", f, mode: .manyToOne), "lstm.m2o")
        let lstm = try layer("m2o_h0", f, mode: .manyToOne)
        lstm.initialState = gatedFixture("lstm.m2o_h0.h0")
        lstm.initialCellState = gatedFixture("lstm.m2o_h0.c0")
        assertGatedMatchesPyTorch(lstm, "lstm.m2o_h0")
        assertClose(lstm.initialStateGradient!, gatedFixture("lstm.m2o_h0.dh0"), relative: 0, absolute: 1e-4, "dh0")
        assertClose(lstm.initialCellStateGradient!, gatedFixture("lstm.m2o_h0.dc0"), relative: 0, absolute: 1e-4, "dc0")
    }

    /// Lengths 7, 4, 1, right-padded as PyTorch's packed sequences read them; then the same
    /// sequences padded on the left give the same final states and the same gradients.
    func testMaskedSequencesMatchPackedPyTorchOnEitherSide() throws {
        for name in ["masked_m2o", "masked_m2m"] {
            let mode: LSTM.Mode = name == "masked_m2o" ? .manyToOne : .manyToMany
            assertGatedMatchesPyTorch(try layer(name, f, mode: mode), "lstm.\(name)", mask: gatedFixture("lstm.\(name).mask"))
        }
        let lstm = try layer("masked_m2m_h0", f, mode: .manyToMany)
        lstm.initialState = gatedFixture("lstm.masked_m2m_h0.h0")
        lstm.initialCellState = gatedFixture("lstm.masked_m2m_h0.c0")
        assertGatedMatchesPyTorch(lstm, "lstm.masked_m2m_h0", mask: gatedFixture("lstm.masked_m2m_h0.mask"))
        assertClose(lstm.initialStateGradient!, gatedFixture("lstm.masked_m2m_h0.dh0"), relative: 0, absolute: 1e-4, "dh0")
        assertClose(lstm.initialCellStateGradient!, gatedFixture("lstm.masked_m2m_h0.dc0"), relative: 0, absolute: 1e-4, "dc0")

        let left = try layer("masked_m2o", f, mode: .manyToOne)
        let (x, mask) = leftPadded(gatedFixture("lstm.masked_m2o.x"), lengths: [7, 4, 1])
        left.inputMask = mask
        assertClose(left.forward(x, training: true), gatedFixture("lstm.masked_m2o.y"), relative: 0, absolute: 1e-4,
                    "left-padded output")
        let dx = left.backward(gatedFixture("lstm.masked_m2o.dy"))
        assertClose(dx, leftPadded(gatedFixture("lstm.masked_m2o.dx"), lengths: [7, 4, 1]).x, relative: 0, absolute: 1e-4,
                    "left-padded input gradient")
        for (p, name) in zip(left.parameters, gatedParameterNames) {
            assertClose(p.gradient, gatedFixture("lstm.masked_m2o.d\(name)"), relative: 0, absolute: 1e-4, "left-padded d\(name)")
        }
    }

    func testOneToManyMatchesPyTorch() throws {
        assertGatedMatchesPyTorch(try layer("o2m_fixed", f, mode: .oneToMany(steps: t, feedback: .fixedInput)),
                                  "lstm.o2m_fixed")
        assertGatedMatchesPyTorch(try layer("o2m_feedback", h, mode: .oneToMany(steps: t, feedback: .previousOutput)),
                                  "lstm.o2m_feedback")
    }

    /// Two stacked layers, whole and padded sequences, as PyTorch's `nn.LSTM(num_layers: 2)`.
    func testTwoStackedLayersMatchPyTorch() throws {
        for (name, masked, many) in [("stacked_m2o", false, false), ("stacked_m2m", false, true),
                                     ("stacked_masked_m2o", true, false), ("stacked_masked_m2m", true, true)] {
            try assertStackedMatchesPyTorch("lstm.\(name)", masked: masked, many: many) {
                try LSTM($0, h, mode: $1, random: RandomGenerator(seed: 1))
            }
        }
    }

    func testTruncatedBackpropagationMatchesDetachedPyTorch() throws {
        assertGatedMatchesPyTorch(try layer("truncated3", f, mode: .manyToMany, truncation: 3), "lstm.truncated3")
    }

    func testGradientsThroughTime() throws {
        let random = RandomGenerator(seed: 41)
        let mask = Tensor(shape: [3, 6], values: [1, 1, 1, 1, 1, 1,  0, 0, 1, 1, 1, 1,  1, 1, 1, 0, 0, 0])
        for mode in [LSTM.Mode.manyToOne, .manyToMany] {
            let lstm = try LSTM(f, h, mode: mode, random: random)
            checkGradients(lstm, input: randomTensor([n, 6, f], random))
            lstm.inputMask = mask
            checkGradients(lstm, input: randomTensor([3, 6, f], random))
        }
        checkGradients(try LSTM(f, h, mode: .oneToMany(steps: 6, feedback: .fixedInput), random: random),
                       input: randomTensor([n, f], random))
        checkGradients(try LSTM(h, h, mode: .oneToMany(steps: 6, feedback: .previousOutput), random: random),
                       input: randomTensor([n, h], random))
    }

    /// Stepping by hand with the whole state [h | c] gives the many-to-many layer's outputs.
    func testStepsCarryTheWholeState() throws {
        let random = RandomGenerator(seed: 42)
        let lstm = try LSTM(f, h, mode: .manyToMany, random: random)
        let x = randomTensor([2, 5, f], random)
        let y = lstm.forward(x, training: false)
        XCTAssertEqual(lstm.stateWidth, 2 * h)
        let state = Tensor(shape: [2, 2 * h])
        for s in 0..<5 {
            let xs = Tensor(shape: [2, f], values: (0..<2).flatMap { b in x.buffer[((b * 5 + s) * f)..<((b * 5 + s + 1) * f)] })
            lstm.step(input: xs, state: state, into: state)
            let expected = Tensor(shape: [2, h], values: (0..<2).flatMap { b in y.buffer[((b * 5 + s) * h)..<((b * 5 + s + 1) * h)] })
            assertClose(lstm.output(of: state), expected, relative: 1e-5, absolute: 1e-6, "step \(s)")
        }
    }

    /// Saved and loaded through the registry: the same config, parameter names `rnn.weight_ih`...
    /// and the same outputs; a bad option is an error naming it.
    func testSaveAndLoadThroughTheRegistry() throws {
        let random = RandomGenerator(seed: 43)
        let model = try Sequential(inputShape: [6, f], [
            LSTM(f, h, mode: .manyToOne, truncation: 4, random: random, name: "rnn"),
            Linear(h, 2, random: random, name: "fc"),
        ])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-lstm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("model.safetensors")
        try model.save(to: url)
        let loaded = try Sequential.load(from: url, registry: .recurrent.merging(.dense))
        XCTAssertEqual(loaded.parameters.map(\.name).prefix(4), ["rnn.weight_ih", "rnn.weight_hh", "rnn.bias_ih", "rnn.bias_hh"])
        XCTAssertEqual((loaded.layers[0] as? LSTM)?.config, (model.layers[0] as? LSTM)?.config)
        let x = randomTensor([3, 6, f], random)
        XCTAssertEqual(loaded.forward(x).array, model.forward(x).array)

        var options = try LSTM.Config(inputFeatures: f, hiddenSize: h).options
        options["hiddenSize"] = .number(0)
        XCTAssertThrowsError(try LayerRegistry.recurrent.config(type: "LSTM", options: options)) {
            XCTAssertTrue("\($0)".contains("hiddenSize"), "\($0)")
        }
        options["hiddenSize"] = .number(Double(h))
        options["mode"] = .string("sideways")
        XCTAssertThrowsError(try LayerRegistry.recurrent.config(type: "LSTM", options: options)) {
            XCTAssertTrue("\($0)".contains("sideways"), "\($0)")
        }
    }
}
