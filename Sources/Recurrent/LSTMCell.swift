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
public final class LSTMCell: GatedCell, RecurrentCell {
    /// `weight_ih` Glorot uniform, then each gate's block of `weight_hh` from
    /// `recurrentInitializer` (in that order from `random`); the biases zero except `bias_ih`'s
    /// forget-gate part, `forgetBias` (Jozefowicz et al. 2015; Keras's `unit_forget_bias`).
    /// Every parameter zero without a generator.
    public init(_ inputFeatures: Int, _ hiddenSize: Int, recurrentInitializer: Initializer = .orthogonal,
                forgetBias: Float = 1, random: RandomGenerator?, storage: ParameterStorage = .standalone) {
        let h = hiddenSize
        super.init(inputFeatures, h, gates: 4, stateWidth: 2 * h, projectionWidth: 4 * h,
                   recurrentInitializer: recurrentInitializer, random: random, storage: storage)
        if random != nil { (biasIH.value.data + h).update(repeating: forgetBias, count: h) }
    }

    /// Copies W_hh^T and W_ih^T and sums the two biases once for the pass.
    public func prepareSteps() {
        transposeWeights()
        let (bi, bh, row) = (biasIH.value.data, biasHH.value.data, biasRow)
        for j in 0..<projectionWidth { row[j] = bi[j] + bh[j] }
    }

    /// Adds h W_hh^T to the gates' pre-activations (one GEMM), activates i, f, g, o in place, and
    /// writes [h' | c'] with c' = f c + i g and h' = o tanh(c').
    public func forwardStep(projection z: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                            into state: UnsafeMutablePointer<Float>, batch n: Int) {
        addRecurrentProduct(into: z, previous: previous, batch: n)
        synapse_kernels().pointee.lstm_forward(z, previous, state, n, hiddenSize)
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
}
