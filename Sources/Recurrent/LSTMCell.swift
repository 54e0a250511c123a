import CKernels
import Dense

/// The long short-term memory cell, PyTorch's `nn.LSTM` step:
///
///     i = sigmoid(x W_ii^T + b_ii + h W_hi^T + b_hi)
///     f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)
///     g = tanh(x W_ig^T + b_ig + h W_hg^T + b_hg)
///     o = sigmoid(x W_io^T + b_io + h W_ho^T + b_ho)
///     c' = f c + i g,   h' = o tanh(c')
///
/// Shapes: x (N, F); the state row is [h | c] (S = 2H); `weight_ih` (4H, F) and `weight_hh`
/// (4H, H) with the gates stacked in PyTorch's order i, f, g, o; `bias_ih` and `bias_hh` (4H),
/// both kept (PyTorch's names and layout, so its `nn.LSTMCell` loads them as they are) and added
/// once per pass into one bias.
///
/// The input projection (P = 4H) is the gates' pre-activation without the recurrent term; each
/// step adds h W_hh^T (one GEMM) and leaves the activated gates i, f, g, o in it for backward,
/// which recomputes tanh(c') from the state. Products go through `BLAS`; the gate math is the
/// CKernels `lstm_forward` and `lstm_backward` (tanh as `rationalTanh`, the sigmoid as
/// 0.5 tanh(x / 2) + 0.5), vectorised for the CPU.
public final class LSTMCell: RecurrentCell {
    /// F, the width of an input row.
    public let inputFeatures: Int
    /// H, the width of h.
    public let hiddenSize: Int
    /// `weight_ih` (4H, F), `weight_hh` (4H, H), `bias_ih` and `bias_hh` (4H).
    public let weightIH: Parameter
    /// `weight_hh` (4H, H), gates i, f, g, o.
    public let weightHH: Parameter
    /// `bias_ih` (4H).
    public let biasIH: Parameter
    /// `bias_hh` (4H).
    public let biasHH: Parameter

    /// W_hh^T (H, 4H) and W_ih^T (F, 4H), copied by `prepareSteps` so the products are
    /// untransposed GEMMs; the summed bias (4H).
    private let recurrentTransposed: UnsafeMutablePointer<Float>
    private let inputTransposed: UnsafeMutablePointer<Float>
    private let biasSum: UnsafeMutablePointer<Float>

    /// 2H: the state row is [h | c].
    public var stateWidth: Int { 2 * hiddenSize }
    /// 4H: the four gates' pre-activations.
    public var projectionWidth: Int { 4 * hiddenSize }
    /// False: backward needs the gates the step leaves in the projection.
    public var projectsIntoState: Bool { false }
    /// `weight_ih`, `weight_hh`, `bias_ih` and `bias_hh`, PyTorch's order.
    public var parameters: [Parameter] { [weightIH, weightHH, biasIH, biasHH] }

    /// `weight_ih` Glorot uniform, then each gate's block of `weight_hh` from
    /// `recurrentInitializer` (in that order from `random`); the biases zero except `bias_ih`'s
    /// forget-gate part, `forgetBias` (Jozefowicz et al. 2015; Keras's `unit_forget_bias`).
    /// Every parameter zero without a generator.
    public init(_ inputFeatures: Int, _ hiddenSize: Int, recurrentInitializer: Initializer = .orthogonal,
                forgetBias: Float = 1, random: RandomGenerator?, storage: ParameterStorage = .standalone) {
        self.inputFeatures = inputFeatures
        self.hiddenSize = hiddenSize
        let (f, h) = (inputFeatures, hiddenSize)
        weightIH = storage.parameter("weight_ih", [4 * h, f])
        weightHH = storage.parameter("weight_hh", [4 * h, h])
        biasIH = storage.parameter("bias_ih", [4 * h])
        biasHH = storage.parameter("bias_hh", [4 * h])
        if let random {
            fillGatedWeights(weightIH: weightIH.value, weightHH: weightHH.value, gates: 4, inputFeatures: f,
                             hiddenSize: h, recurrent: recurrentInitializer, random: random)
            (biasIH.value.data + h).update(repeating: forgetBias, count: h)
        }
        recurrentTransposed = .allocate(capacity: 4 * h * h)
        recurrentTransposed.initialize(repeating: 0, count: 4 * h * h)
        inputTransposed = .allocate(capacity: 4 * h * f)
        inputTransposed.initialize(repeating: 0, count: 4 * h * f)
        biasSum = .allocate(capacity: 4 * h)
        biasSum.initialize(repeating: 0, count: 4 * h)
    }

    deinit {
        recurrentTransposed.deallocate()
        inputTransposed.deallocate()
        biasSum.deallocate()
    }

    /// Copies W_hh^T and W_ih^T and sums the two biases once for the pass.
    public func prepareSteps() {
        let (f, h4) = (inputFeatures, 4 * hiddenSize)
        transpose(weightHH.value.data, rows: h4, columns: hiddenSize, into: recurrentTransposed)
        transpose(weightIH.value.data, rows: h4, columns: f, into: inputTransposed)
        let (bi, bh) = (biasIH.value.data, biasHH.value.data)
        for j in 0..<h4 { biasSum[j] = bi[j] + bh[j] }
    }

    /// z = x W_ih^T + b_ih + b_hh for every (step, row), into z (steps, rows, 4H).
    public func projectInput(_ x: StepRows, into z: UnsafeMutablePointer<Float>) {
        let h4 = 4 * hiddenSize
        fillRows(z, rows: x.steps &* x.rows, with: biasSum, width: h4)
        projectSteps(x, features: inputFeatures, transposedWeight: inputTransposed, width: h4, into: z, ldz: h4)
    }

    /// Adds h W_hh^T to the gates' pre-activations (one GEMM), activates i, f, g, o in place, and
    /// writes [h' | c'] with c' = f c + i g and h' = o tanh(c').
    public func forwardStep(projection z: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                            into state: UnsafeMutablePointer<Float>, batch n: Int) {
        let h = hiddenSize
        BLAS.gemm(m: n, n: 4 &* h, k: h, previous, lda: 2 &* h, recurrentTransposed, beta: 1, z)
        synapse_kernels().pointee.lstm_forward(z, previous, state, n, h)
    }

    /// dc = dc' + dh' o (1 - tanh(c')^2); d(pre-activations) of i, f, g, o; dc_{t-1} = dc f into
    /// the memory half of `previousGradient`.
    public func backwardStep(stateGradient gradient: UnsafePointer<Float>, state: UnsafePointer<Float>,
                             previous: UnsafePointer<Float>, projection z: UnsafePointer<Float>,
                             into d: UnsafeMutablePointer<Float>, previousGradient: UnsafeMutablePointer<Float>,
                             batch n: Int) {
        synapse_kernels().pointee.lstm_backward(gradient, state, previous, z, d, previousGradient, n, hiddenSize)
    }

    /// dh_{t-1} = dz W_hh into the h half of `previousGradient`.
    public func previousStateGradient(projectionGradient d: UnsafePointer<Float>, previous: UnsafePointer<Float>,
                                      into previousGradient: UnsafeMutablePointer<Float>, batch n: Int) {
        let h = hiddenSize
        BLAS.gemm(m: n, n: h, k: 4 &* h, d, weightHH.value.data, previousGradient, ldc: 2 &* h)
    }

    /// dW_hh += dZ^T H_prev, dW_ih += dZ^T X, and the column sums of dZ into both biases.
    public func accumulateParameterGradients(projectionGradient dz: UnsafePointer<Float>, inputs x: StepRows,
                                             previousStates: UnsafePointer<Float>) {
        let (f, h, rows) = (inputFeatures, hiddenSize, x.steps &* x.rows)
        let h4 = 4 &* h
        let (dWhh, dWih) = (weightHH.gradient.data, weightIH.gradient.data)
        BLAS.concurrentPerform(min(BLAS.loopThreads, 2)) { w, workers in
            if w == 0 {
                BLAS.gemm(transposeA: true, m: h4, n: h, k: rows, dz, previousStates, ldb: 2 &* h, beta: 1, dWhh)
            }
            if w == workers - 1 { addInputWeightGradient(dz, ldz: h4, width: h4, inputs: x, features: f, into: dWih) }
        }
        addColumnSums(of: dz, rows: rows, width: h4, ldz: h4, into: biasIH.gradient.data)
        addColumnSums(of: dz, rows: rows, width: h4, ldz: h4, into: biasHH.gradient.data)
    }

    /// dx = dz W_ih for every (step, row) of `dx`, adding `beta` times what it held.
    public func inputGradient(projectionGradient dz: UnsafePointer<Float>, beta: Float, into dx: StepRows) {
        inputGradientSteps(dz, ldz: 4 * hiddenSize, width: 4 * hiddenSize, weight: weightIH.value.data,
                           features: inputFeatures, beta: beta, into: dx)
    }
}
