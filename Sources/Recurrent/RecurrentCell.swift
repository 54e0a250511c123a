/// One time step of a recurrent network for a batch, forward and backward, over flat buffers.
///
/// A cell maps the previous state s_{t-1} (N, S) and the input x_t (N, F) to the new state s_t
/// (N, S) through an input projection z_t = x_t W_ih^T + b of width `projectionWidth` per row (H
/// for the Elman cell, 4H for the LSTM, 6H for the GRU, which keeps its recurrent projection
/// beside it). A state row is the output h_t (H floats) followed by whatever else the cell
/// carries from step to step: nothing for the Elman cell and the GRU (S = H), the cell state c_t
/// for the LSTM (S = 2H, the row [h_t | c_t]). The projection is split out so that
/// `RecurrentSequence` computes it for every step before it runs the steps, from the input where
/// it lies (`StepRows`: batch-major, no transposed copy); the cell adds the recurrent part and the
/// nonlinearity step by step.
///
/// Rows do not mix within a step: the loop may run `forwardStep`, `backwardStep` and
/// `previousStateGradient` for disjoint ranges of batch rows at once, on several threads.
///
/// All buffers are row-major and owned by the caller, contiguous except the inputs and their
/// gradient (`StepRows`); a cell keeps no per-batch buffers, so the loop sizes everything once
/// per batch shape. Backward passes *add* into the parameter gradients, as layers do.
///
/// The loop owns what is not one step: the time-major layout, the modes, padding masks,
/// truncated BPTT, the initial state and its gradient (`RecurrentSequence`).
public protocol RecurrentCell: AnyObject {
    /// F, the width of an input row.
    var inputFeatures: Int { get }
    /// H, the width of the output part of a state row.
    var hiddenSize: Int { get }
    /// S, the width of a whole state row: H followed by the cell's memory (`hiddenSize` for a
    /// cell whose state is its output; 2H for the LSTM's [h | c]).
    var stateWidth: Int { get }
    /// P, the width of a row of the input projection and of its gradient.
    var projectionWidth: Int { get }
    /// True when a step's new state may overwrite its own input projection (P == S == H and backward
    /// needs only the new state, as for the Elman cell). The loop then projects the inputs
    /// straight into the state slots and keeps no projection buffer.
    var projectsIntoState: Bool { get }
    /// The trainable parameters, in the order the owning layer lists them.
    var parameters: [Parameter] { get }

    /// Takes from the weights what the following steps need (the Elman cell: W_hh^T and W_ih^T,
    /// so its products are untransposed GEMMs). The loop calls it before the projection and steps
    /// of a pass; the weights do not change until the pass ends.
    func prepareSteps()

    /// z = x W_ih^T + b for the rows of x at every step it covers, into z (steps, rows, P),
    /// contiguous and time-major: one GEMM over all rows when x is contiguous, else one per
    /// step (the rows of a batch-major input, read where they are).
    func projectInput(_ x: StepRows, into z: UnsafeMutablePointer<Float>)
    /// One step forward for `batch` rows: from the input projection z (N, P) and the previous
    /// state (N, S), writes the new state (N, S). `state` may be `projection` when
    /// `projectsIntoState`; the cell may leave in `projection` whatever its backward needs.
    func forwardStep(projection: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                     into state: UnsafeMutablePointer<Float>, batch: Int)

    /// One step backward, first half: from dLoss/ds_t (N, S) and the step's forward values,
    /// writes dLoss/dz_t (N, P), and into `previousGradient` (N, S) the part of dLoss/ds_{t-1}
    /// that does not pass through the recurrent product (the LSTM's dc_{t-1} = dc_t f_t, the
    /// GRU's z_t dh_t; nothing for the Elman cell). The loop then zeroes the rows of dz_t of
    /// padded steps.
    func backwardStep(stateGradient: UnsafePointer<Float>, state: UnsafePointer<Float>,
                      previous: UnsafePointer<Float>, projection: UnsafePointer<Float>,
                      into projectionGradient: UnsafeMutablePointer<Float>,
                      previousGradient: UnsafeMutablePointer<Float>, batch: Int)

    /// One step backward, second half: completes dLoss/ds_{t-1} (N, S) in `previousGradient`
    /// with the part through the recurrence, from dz_t (N, P) (zero on padded rows). The h part
    /// is written or added to what `backwardStep` left there, as the cell's `backwardStep` needs.
    func previousStateGradient(projectionGradient: UnsafePointer<Float>, previous: UnsafePointer<Float>,
                               into previousGradient: UnsafeMutablePointer<Float>, batch: Int)

    /// Adds the parameter gradients of every (step, row) pair of `inputs` at once: dz (steps,
    /// rows, P) and the previous states (steps, rows, S), contiguous and time-major, and the
    /// inputs x where they are.
    func accumulateParameterGradients(projectionGradient: UnsafePointer<Float>, inputs: StepRows,
                                      previousStates: UnsafePointer<Float>)

    /// dLoss/dx = dz W_ih for every (step, row) pair of `inputGradient`: dz (steps, rows, P),
    /// contiguous, into dx where it is, `beta` times what dx held added (0: overwrite).
    func inputGradient(projectionGradient: UnsafePointer<Float>, beta: Float, into inputGradient: StepRows)
}

/// The rows of a batch at several steps, in a buffer nobody copies: row i of step s (F floats)
/// starts at `base + s * stepStride + i * rowStride`. A time-major (T, N, F) buffer has
/// stepStride N F and rowStride F (`contiguous`); a batch-major (N, T, F) one stepStride F and
/// rowStride T F; one input fed at every step, stepStride 0.
public struct StepRows {
    /// Row 0 of step 0.
    public var base: UnsafeMutablePointer<Float>
    /// The number of steps.
    public var steps: Int
    /// The rows (batch samples) at each step.
    public var rows: Int
    /// Floats from a row at one step to the same row at the next (0: one input fed at every step).
    public var stepStride: Int
    /// Floats from one row to the next within a step.
    public var rowStride: Int

    /// Rows at `base` with the given strides, in floats; the caller keeps the buffer alive.
    public init(base: UnsafeMutablePointer<Float>, steps: Int, rows: Int, stepStride: Int, rowStride: Int) {
        (self.base, self.steps, self.rows, self.stepStride, self.rowStride) = (base, steps, rows, stepStride, rowStride)
    }

    /// `steps` x `rows` rows of `width` floats one after the other.
    public static func contiguous(_ base: UnsafeMutablePointer<Float>, steps: Int = 1, rows: Int, width: Int) -> StepRows {
        StepRows(base: base, steps: steps, rows: rows, stepStride: rows * width, rowStride: width)
    }

    /// True when the rows of every step follow each other, `width` floats apart.
    public func isContiguous(width: Int) -> Bool { rowStride == width && (steps == 1 || stepStride == rows * width) }

    /// Row 0 of step s.
    public func step(_ s: Int) -> UnsafeMutablePointer<Float> { base + s * stepStride }
}

extension RecurrentCell {
    /// One batch of contiguous rows, x (rows, F) -> z (rows, P), after `prepareSteps()`: a
    /// single step driven by hand.
    public func projectInput(_ x: UnsafePointer<Float>, rows: Int, into z: UnsafeMutablePointer<Float>) {
        prepareSteps()
        projectInput(.contiguous(UnsafeMutablePointer(mutating: x), rows: rows, width: inputFeatures), into: z)
    }

    /// The parameter gradients of `rows` contiguous rows: dz (rows, P), x (rows, F), previous
    /// states (rows, S).
    public func accumulateParameterGradients(projectionGradient: UnsafePointer<Float>, inputs: UnsafePointer<Float>,
                                             previousStates: UnsafePointer<Float>, rows: Int) {
        accumulateParameterGradients(
            projectionGradient: projectionGradient,
            inputs: .contiguous(UnsafeMutablePointer(mutating: inputs), rows: rows, width: inputFeatures),
            previousStates: previousStates)
    }

    /// dx = dz W_ih for `rows` contiguous rows: dz (rows, P) -> dx (rows, F).
    public func inputGradient(projectionGradient: UnsafePointer<Float>, rows: Int, beta: Float,
                              into inputGradient: UnsafeMutablePointer<Float>) {
        self.inputGradient(projectionGradient: projectionGradient, beta: beta,
                           into: .contiguous(inputGradient, rows: rows, width: inputFeatures))
    }
}
