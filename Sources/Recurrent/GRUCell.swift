import CKernels
import Dense

/// The gated recurrent unit, PyTorch's `nn.GRU` step:
///
///     r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
///     z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
///     n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))
///     h' = (1 - z) n + z h
///
/// Shapes: x (N, F), h (N, H) (the state is the output, S = H); `weight_ih` (3H, F) and
/// `weight_hh` (3H, H) with the gates stacked in PyTorch's order r, z, n; `bias_ih` and
/// `bias_hh` (3H), which differ in effect (b_hn sits inside r (...)), so both are kept.
///
/// A projection row holds 6H floats: the input projection x W_ih^T + b_ih and beside it the
/// recurrent one h W_hh^T + b_hh, which each step adds with one GEMM. The step leaves r, z, n
/// and h W_hn^T + b_hn in the row for backward, whose gradient row likewise holds the input
/// projection's gradient and the recurrent projection's (they differ in the n part by the factor
/// r). Products go through `BLAS`; the gate math is the CKernels `gru_forward` and
/// `gru_backward` (tanh as `rationalTanh`, the sigmoid as 0.5 tanh(x / 2) + 0.5), vectorised.
public final class GRUCell: RecurrentCell {
    /// F, the width of an input row.
    public let inputFeatures: Int
    /// H, the width of h.
    public let hiddenSize: Int
    /// `weight_ih` (3H, F), `weight_hh` (3H, H), `bias_ih` and `bias_hh` (3H).
    public let weightIH: Parameter
    /// `weight_hh` (3H, H), gates r, z, n.
    public let weightHH: Parameter
    /// `bias_ih` (3H).
    public let biasIH: Parameter
    /// `bias_hh` (3H); its n block is applied inside r (...).
    public let biasHH: Parameter

    /// W_hh^T (H, 3H) and W_ih^T (F, 3H), copied by `prepareSteps`; the two biases side by side
    /// (6H), which starts every projection row.
    private let recurrentTransposed: UnsafeMutablePointer<Float>
    private let inputTransposed: UnsafeMutablePointer<Float>
    private let biasRow: UnsafeMutablePointer<Float>

    /// H: the state is the output.
    public var stateWidth: Int { hiddenSize }
    /// 6H: the input projection (3H) and beside it the recurrent one (3H).
    public var projectionWidth: Int { 6 * hiddenSize }
    /// False: backward needs the gates the step leaves in the projection.
    public var projectsIntoState: Bool { false }
    /// `weight_ih`, `weight_hh`, `bias_ih` and `bias_hh`, PyTorch's order.
    public var parameters: [Parameter] { [weightIH, weightHH, biasIH, biasHH] }

    /// `weight_ih` Glorot uniform, then each gate's block of `weight_hh` from
    /// `recurrentInitializer` (in that order from `random`), the biases zero; every parameter
    /// zero without a generator.
    public init(_ inputFeatures: Int, _ hiddenSize: Int, recurrentInitializer: Initializer = .orthogonal,
                random: RandomGenerator?, storage: ParameterStorage = .standalone) {
        self.inputFeatures = inputFeatures
        self.hiddenSize = hiddenSize
        let (f, h) = (inputFeatures, hiddenSize)
        weightIH = storage.parameter("weight_ih", [3 * h, f])
        weightHH = storage.parameter("weight_hh", [3 * h, h])
        biasIH = storage.parameter("bias_ih", [3 * h])
        biasHH = storage.parameter("bias_hh", [3 * h])
        if let random {
            fillGatedWeights(weightIH: weightIH.value, weightHH: weightHH.value, gates: 3, inputFeatures: f,
                             hiddenSize: h, recurrent: recurrentInitializer, random: random)
        }
        recurrentTransposed = .allocate(capacity: 3 * h * h)
        recurrentTransposed.initialize(repeating: 0, count: 3 * h * h)
        inputTransposed = .allocate(capacity: 3 * h * f)
        inputTransposed.initialize(repeating: 0, count: 3 * h * f)
        biasRow = .allocate(capacity: 6 * h)
        biasRow.initialize(repeating: 0, count: 6 * h)
    }

    deinit {
        recurrentTransposed.deallocate()
        inputTransposed.deallocate()
        biasRow.deallocate()
    }

    /// Copies W_hh^T and W_ih^T and lays out the two biases side by side as one 6H row.
    public func prepareSteps() {
        let h3 = 3 * hiddenSize
        transpose(weightHH.value.data, rows: h3, columns: hiddenSize, into: recurrentTransposed)
        transpose(weightIH.value.data, rows: h3, columns: inputFeatures, into: inputTransposed)
        biasRow.update(from: biasIH.value.data, count: h3)
        (biasRow + h3).update(from: biasHH.value.data, count: h3)
    }

    /// x W_ih^T + b_ih into the first 3H of each row of z (steps, rows, 6H), b_hh into the rest.
    public func projectInput(_ x: StepRows, into z: UnsafeMutablePointer<Float>) {
        let h3 = 3 * hiddenSize
        fillRows(z, rows: x.steps &* x.rows, with: biasRow, width: 2 * h3)
        projectSteps(x, features: inputFeatures, transposedWeight: inputTransposed, width: h3, into: z, ldz: 2 * h3)
    }

    /// Adds h W_hh^T to the recurrent half (one GEMM), then computes r, z, n and
    /// h' = (1 - z) n + z h, leaving the gates in the projection for backward.
    public func forwardStep(projection z: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                            into state: UnsafeMutablePointer<Float>, batch n: Int) {
        let h = hiddenSize
        BLAS.gemm(m: n, n: 3 &* h, k: h, previous, recurrentTransposed, beta: 1, z + 3 &* h, ldc: 6 &* h)
        synapse_kernels().pointee.gru_forward(z, previous, state, n, h)
    }

    /// The gradient row [dr, dz, dn | dr, dz, r dn] of the pre-activations (input projection |
    /// recurrent projection); z dh into `previousGradient`.
    public func backwardStep(stateGradient gradient: UnsafePointer<Float>, state: UnsafePointer<Float>,
                             previous: UnsafePointer<Float>, projection z: UnsafePointer<Float>,
                             into d: UnsafeMutablePointer<Float>, previousGradient: UnsafeMutablePointer<Float>,
                             batch n: Int) {
        synapse_kernels().pointee.gru_backward(gradient, previous, z, d, previousGradient, n, hiddenSize)
    }

    /// dh_{t-1} += dz_h W_hh, the recurrent projection's gradient through the weights.
    public func previousStateGradient(projectionGradient d: UnsafePointer<Float>, previous: UnsafePointer<Float>,
                                      into previousGradient: UnsafeMutablePointer<Float>, batch n: Int) {
        let h = hiddenSize
        BLAS.gemm(m: n, n: h, k: 3 &* h, d + 3 &* h, lda: 6 &* h, weightHH.value.data, beta: 1, previousGradient)
    }

    /// dW_hh += dZ_h^T H_prev, dW_ih += dZ_x^T X, db_ih and db_hh the column sums of dZ_x and dZ_h.
    public func accumulateParameterGradients(projectionGradient dz: UnsafePointer<Float>, inputs x: StepRows,
                                             previousStates: UnsafePointer<Float>) {
        let (f, h, rows) = (inputFeatures, hiddenSize, x.steps &* x.rows)
        let (h3, h6) = (3 &* h, 6 &* h)
        let (dWhh, dWih) = (weightHH.gradient.data, weightIH.gradient.data)
        BLAS.concurrentPerform(min(BLAS.loopThreads, 2)) { w, workers in
            if w == 0 {
                BLAS.gemm(transposeA: true, m: h3, n: h, k: rows, dz + h3, lda: h6, previousStates, beta: 1, dWhh)
            }
            if w == workers - 1 { addInputWeightGradient(dz, ldz: h6, width: h3, inputs: x, features: f, into: dWih) }
        }
        addColumnSums(of: dz, rows: rows, width: h3, ldz: h6, into: biasIH.gradient.data)
        addColumnSums(of: dz + h3, rows: rows, width: h3, ldz: h6, into: biasHH.gradient.data)
    }

    /// dx = dz W_ih for every (step, row) of `dx`, adding `beta` times what it held.
    public func inputGradient(projectionGradient dz: UnsafePointer<Float>, beta: Float, into dx: StepRows) {
        inputGradientSteps(dz, ldz: 6 * hiddenSize, width: 3 * hiddenSize, weight: weightIH.value.data,
                           features: inputFeatures, beta: beta, into: dx)
    }
}
