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
public final class GRUCell: GatedCell, RecurrentCell {
    /// `weight_ih` Glorot uniform, then each gate's block of `weight_hh` from
    /// `recurrentInitializer` (in that order from `random`), the biases zero; every parameter
    /// zero without a generator.
    public init(_ inputFeatures: Int, _ hiddenSize: Int, recurrentInitializer: Initializer = .orthogonal,
                random: RandomGenerator?, storage: ParameterStorage = .standalone) {
        super.init(inputFeatures, hiddenSize, gates: 3, stateWidth: hiddenSize, projectionWidth: 6 * hiddenSize,
                   recurrentInitializer: recurrentInitializer, random: random, storage: storage)
    }

    /// Copies W_hh^T and W_ih^T and lays out the two biases side by side as one 6H row.
    public func prepareSteps() {
        transposeWeights()
        let h3 = 3 * hiddenSize
        biasRow.update(from: biasIH.value.data, count: h3)
        (biasRow + h3).update(from: biasHH.value.data, count: h3)
    }

    /// Adds h W_hh^T to the recurrent half (one GEMM), then computes r, z, n and
    /// h' = (1 - z) n + z h, leaving the gates in the projection for backward.
    public func forwardStep(projection z: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                            into state: UnsafeMutablePointer<Float>, batch n: Int) {
        addRecurrentProduct(into: z, previous: previous, batch: n)
        synapse_kernels().pointee.gru_forward(z, previous, state, n, hiddenSize)
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
}
