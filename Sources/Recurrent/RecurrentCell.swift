/// One time step of a recurrent network for a batch, forward and backward, over flat buffers.
///
/// A cell maps the previous state h_{t-1} (N, H) and the input x_t (N, F) to the new state h_t
/// (N, H) through an input projection z_t = x_t W_ih^T + b of width `projectionWidth` per row (H
/// for the Elman cell; a GRU would have 3H). The projection is split out so that
/// `RecurrentSequence` computes it for every step in one GEMM before it runs the steps; the cell
/// adds the recurrent part and the nonlinearity step by step.
///
/// Rows do not mix within a step: the loop may run `forwardStep`, `backwardStep` and
/// `previousStateGradient` for disjoint ranges of batch rows at once, on several threads.
///
/// All buffers are row-major, contiguous and owned by the caller; a cell keeps no per-batch
/// buffers, so the loop sizes everything once per batch shape. Backward passes *add* into the
/// parameter gradients, as layers do.
///
/// The loop owns what is not one step: the time-major layout, the modes, padding masks,
/// truncated BPTT, the initial state and its gradient (`RecurrentSequence`).
public protocol RecurrentCell: AnyObject {
    /// F, the width of an input row.
    var inputFeatures: Int { get }
    /// H, the width of a state row (the state is the output).
    var hiddenSize: Int { get }
    /// P, the width of a row of the input projection and of its gradient.
    var projectionWidth: Int { get }
    /// True when a step's new state may overwrite its own input projection (P == H and backward
    /// needs only the new state, as for the Elman cell). The loop then projects the inputs
    /// straight into the state slots and keeps no projection buffer.
    var projectsIntoState: Bool { get }
    /// The trainable parameters, in the order the owning layer lists them.
    var parameters: [Parameter] { get }

    /// z = x W_ih^T + b for `rows` rows of x (rows, F) into z (rows, P): one GEMM. Called before
    /// the `forwardStep`s it feeds, with the weights they use, so a cell may take what the steps
    /// need from the weights here (the Elman cell takes W_hh^T).
    func projectInput(_ x: UnsafePointer<Float>, rows: Int, into z: UnsafeMutablePointer<Float>)

    /// One step forward for `batch` rows: from the input projection z (N, P) and the previous
    /// state (N, H), writes the new state (N, H). `state` may be `projection` when
    /// `projectsIntoState`; the cell may leave in `projection` whatever its backward needs.
    func forwardStep(projection: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                     into state: UnsafeMutablePointer<Float>, batch: Int)

    /// One step backward, first half: from dLoss/dh_t (N, H) and the step's forward values,
    /// writes dLoss/dz_t (N, P). The loop then zeroes the rows of padded steps.
    func backwardStep(stateGradient: UnsafePointer<Float>, state: UnsafePointer<Float>,
                      previous: UnsafePointer<Float>, projection: UnsafePointer<Float>,
                      into projectionGradient: UnsafeMutablePointer<Float>, batch: Int)

    /// One step backward, second half: dLoss/dh_{t-1} (N, H) through the recurrence, from dz_t
    /// (N, P) (zero on padded rows), written (not added) into `previousGradient`.
    func previousStateGradient(projectionGradient: UnsafePointer<Float>, previous: UnsafePointer<Float>,
                               into previousGradient: UnsafeMutablePointer<Float>, batch: Int)

    /// Adds the parameter gradients of `rows` (step, row) pairs at once: dz (rows, P), the inputs
    /// x (rows, F) and the previous states (rows, H), each in the same order (time-major).
    func accumulateParameterGradients(projectionGradient: UnsafePointer<Float>, inputs: UnsafePointer<Float>,
                                      previousStates: UnsafePointer<Float>, rows: Int)

    /// dLoss/dx = dz W_ih for `rows` rows: dz (rows, P) -> dx (rows, F), `beta` times what dx
    /// held added (0: overwrite).
    func inputGradient(projectionGradient: UnsafePointer<Float>, rows: Int, beta: Float,
                       into inputGradient: UnsafeMutablePointer<Float>)
}
