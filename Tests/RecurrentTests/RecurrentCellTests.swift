import Dense
import Recurrent
import XCTest

/// The `RecurrentCell` protocol driven directly, as a second cell type would be, against the
/// sequence layer that runs the same cell.
final class RecurrentCellTests: XCTestCase {
    let (n, f, h) = (3, 4, 5)

    struct Step {
        var state, projectionGradient, inputGradient, previousGradient: Tensor
    }

    /// One step through the protocol alone: h_t from x_t (N, F) and h_{t-1} (N, H), then, for
    /// dLoss/dh_t = `stateGradient`, dz_t, dx_t and dh_{t-1}, adding the parameter gradients into
    /// the cell's parameters. Backward runs from `backwardState` (the layer's h_t) when given, so
    /// it sees exactly the values the layer's backward saw. The projection gets a buffer of its
    /// own, so the cell also runs without projecting into the state.
    func step<Cell: RecurrentCell>(_ cell: Cell, input x: Tensor, previous: Tensor, stateGradient: Tensor,
                                   backwardState: Tensor? = nil) -> Step {
        let rows = x.batchSize
        let z = Tensor(shape: [rows, cell.projectionWidth]), state = Tensor(shape: [rows, cell.stateWidth])
        cell.projectInput(x.data, rows: rows, into: z.data)
        cell.forwardStep(projection: z.data, previous: previous.data, into: state.data, batch: rows)
        let dz = Tensor(shape: [rows, cell.projectionWidth])
        let dx = Tensor(shape: [rows, cell.inputFeatures]), dPrevious = Tensor(shape: [rows, cell.stateWidth])
        cell.backwardStep(stateGradient: stateGradient.data, state: (backwardState ?? state).data, previous: previous.data,
                          projection: z.data, into: dz.data, previousGradient: dPrevious.data, batch: rows)
        cell.previousStateGradient(projectionGradient: dz.data, previous: previous.data, into: dPrevious.data, batch: rows)
        cell.accumulateParameterGradients(projectionGradient: dz.data, inputs: x.data, previousStates: previous.data,
                                          rows: rows)
        cell.inputGradient(projectionGradient: dz.data, rows: rows, beta: 0, into: dx.data)
        return Step(state: state, projectionGradient: dz, inputGradient: dx, previousGradient: dPrevious)
    }

    /// A cell of its own (its own parameters and gradients) with `rnn`'s weights.
    func copyCell(of rnn: SimpleRNN) -> SimpleRNNCell {
        let cell = SimpleRNNCell(rnn.inputFeatures, rnn.hiddenSize, nonlinearity: rnn.nonlinearity,
                                 random: RandomGenerator(seed: 99))
        for (mine, theirs) in zip(cell.parameters, rnn.parameters) { mine.value.assign(theirs.value) }
        return cell
    }

    /// Step `s` of a batch-first (N, T, C) tensor, as (N, C).
    func slice(_ t: Tensor, step s: Int) -> Tensor {
        let (steps, width) = (t.shape[1], t.shape[2])
        var values: [Float] = []
        for b in 0..<t.shape[0] { values += t.buffer[((b * steps + s) * width)..<((b * steps + s + 1) * width)] }
        return Tensor(shape: [t.shape[0], width], values: values)
    }

    /// A one-step sequence from an initial state is one cell step: output, input gradient,
    /// initial-state gradient and parameter gradients.
    func testCellStepEqualsOneStepOfTheSequence() throws {
        let random = RandomGenerator(seed: 31)
        for nonlinearity in [SimpleRNN.Nonlinearity.tanh, .relu] {
            let rnn = try SimpleRNN(f, h, mode: .manyToMany, nonlinearity: nonlinearity, random: random)
            let bias = randomTensor([h], random, scale: 0.5)
            rnn.bias.value.assign(bias)
            let cell = copyCell(of: rnn)
            let x = randomTensor([n, 1, f], random), h0 = randomTensor([n, h], random), dy = randomTensor([n, 1, h], random)
            rnn.initialState = h0
            // With one step the layer issues the cell's products with the cell's shapes (its input
            // projection has T x N = N rows) and the same elementwise loops, in the same order,
            // so with OpenBLAS held to one thread every sum is added in the same order: the
            // results must be identical, not merely close.
            let (y, dx, one) = withBLASThreads(1) {
                let y = rnn.forward(x, training: true).copy()
                let dx = rnn.backward(dy).copy()
                let one = step(cell, input: slice(x, step: 0), previous: h0, stateGradient: slice(dy, step: 0))
                return (y, dx, one)
            }
            let what = "\(nonlinearity)"
            XCTAssertEqual(one.state.array, y.array, "\(what) state")
            XCTAssertEqual(one.inputGradient.array, dx.array, "\(what) input gradient")
            XCTAssertEqual(one.previousGradient.array, rnn.initialStateGradient?.array, "\(what) initial-state gradient")
            for (mine, theirs) in zip(cell.parameters, rnn.parameters) {
                XCTAssertEqual(mine.gradient.array, theirs.gradient.array, "\(what) \(theirs.name) gradient")
            }
        }
    }

    /// The last step of a longer sequence, cut off from the earlier steps by truncated BPTT, is
    /// one cell step from the layer's own previous state: the layer's parameter gradients are that
    /// step's, and the earlier steps get no input gradient.
    func testCellStepEqualsTheLastStepOfATruncatedSequence() throws {
        let random = RandomGenerator(seed: 32)
        let t = 4
        let rnn = try SimpleRNN(f, h, mode: .manyToMany, truncation: t - 1, random: random)
        rnn.bias.value.assign(randomTensor([h], random, scale: 0.5))
        let cell = copyCell(of: rnn)
        let x = randomTensor([n, t, f], random)
        let dy = Tensor(shape: [n, t, h])  // a gradient on the last step only
        for b in 0..<n { for j in 0..<h { dy[(b * t + t - 1) * h + j] = random.uniform(-1, 1) } }
        let y = rnn.forward(x, training: true).copy()
        let dx = rnn.backward(dy).copy()
        let last = step(cell, input: slice(x, step: t - 1), previous: slice(y, step: t - 2),
                        stateGradient: slice(dy, step: t - 1), backwardState: slice(y, step: t - 1))
        // The layer projects the inputs of all T x N rows in one product, the cell those of N rows:
        // the same terms, which OpenBLAS may add in another order. Every operand lies in [-1, 1]
        // (inputs, gradients, tanh states; Glorot and orthogonal weights), so a sum of k terms
        // differs by at most 2 k u k (u = 2^-24): the state by 2 x 5 x 5 u = 3e-6 through the
        // input projection (F + 1 = 5 terms; tanh does not magnify), dx by 2 x 5 x 5 u = 3e-6
        // (H = 5 terms), dW_hh and dW_ih by 2 x 3 x 3 u = 1e-6 (N = 3 non-zero terms: the other
        // steps' rows of dz are exactly zero and add exact zeros). Backward starts from the
        // layer's own states, so dz itself is computed from the same values. 5e-6 covers all.
        assertClose(last.state, slice(y, step: t - 1), relative: 0, absolute: 5e-6, "state")
        assertClose(last.inputGradient, slice(dx, step: t - 1), relative: 0, absolute: 5e-6, "input gradient")
        for s in 0..<(t - 1) {
            XCTAssertTrue(slice(dx, step: s).array.allSatisfy { $0 == 0 }, "step \(s) beyond the truncation has a gradient")
        }
        for (mine, theirs) in zip(cell.parameters, rnn.parameters) {
            assertClose(mine.gradient, theirs.gradient, relative: 0, absolute: 5e-6, "\(theirs.name) gradient")
        }
    }
}
