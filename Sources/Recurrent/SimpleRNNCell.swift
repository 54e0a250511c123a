/// The Elman cell: h_t = act(x_t W_ih^T + h_{t-1} W_hh^T + b), act tanh or ReLU.
///
/// Shapes: x_t (N, F), h_t (N, H); `weight_ih` (H, F), `weight_hh` (H, H), one `bias` (H), which
/// is PyTorch's `bias_ih + bias_hh`. The input projection is the pre-activation without the
/// recurrent term, so P = H, and the new state overwrites it (`projectsIntoState`): backward
/// needs only h_t (tanh' = 1 - h_t^2; ReLU' = [h_t > 0]).
///
/// Every product goes through `BLAS` (the tall ones over all steps in blocks of rows that run on
/// OpenBLAS's small-matrix kernels where it has them); the elementwise loops are CKernels.
public final class SimpleRNNCell: RecurrentCell {
    /// The activation of an Elman cell's state; saved as `"tanh"` or `"relu"`.
    public enum Nonlinearity: String, Codable, Sendable {
        /// tanh (outputs in (-1, 1), PyTorch's default) or ReLU (unbounded; start `weight_hh` as
        /// `.identity` for Le et al.'s IRNN).
        case tanh, relu
    }

    /// F, the width of an input row.
    public let inputFeatures: Int
    /// H, the width of the state.
    public let hiddenSize: Int
    /// The activation applied to the new state.
    public let nonlinearity: Nonlinearity
    /// `weight_ih` (H, F).
    public let weightIH: Parameter
    /// `weight_hh` (H, H).
    public let weightHH: Parameter
    /// `bias` (H): PyTorch's `bias_ih + bias_hh` in one.
    public let bias: Parameter

    /// W_hh^T (H, H), copied from `weight_hh` by `prepareSteps`: the per-step product h W_hh^T is
    /// then a plain (untransposed) GEMM, which OpenBLAS 0.3.21 runs through its small-matrix
    /// kernel without packing (faster than the transposed call: README, "Measurements behind
    /// the design").
    private let recurrentTransposed: UnsafeMutablePointer<Float>
    /// W_ih^T (F, H), likewise: the input projection is NN too, in blocks on the small-matrix
    /// kernels.
    private let inputTransposed: UnsafeMutablePointer<Float>

    /// H: the projection is the pre-activation.
    public var projectionWidth: Int { hiddenSize }
    /// H: the state is the output.
    public var stateWidth: Int { hiddenSize }
    /// True: the new state overwrites its own pre-activation.
    public var projectsIntoState: Bool { true }
    /// `weight_ih`, `weight_hh` and `bias`.
    public var parameters: [Parameter] { [weightIH, weightHH, bias] }

    /// `weight_ih` Glorot uniform, then `weight_hh` from `recurrentInitializer` (in that order
    /// from `random`), bias zero; every parameter zero without a generator.
    public init(_ inputFeatures: Int, _ hiddenSize: Int, nonlinearity: Nonlinearity = .tanh,
                recurrentInitializer: Initializer = .orthogonal, random: RandomGenerator?,
                storage: ParameterStorage = .standalone) {
        self.inputFeatures = inputFeatures
        self.hiddenSize = hiddenSize
        self.nonlinearity = nonlinearity
        weightIH = storage.parameter("weight_ih", [hiddenSize, inputFeatures])
        weightHH = storage.parameter("weight_hh", [hiddenSize, hiddenSize])
        bias = storage.parameter("bias", [hiddenSize])
        if let random {
            Initializer.glorotUniform.fill(weightIH.value, fanIn: inputFeatures, fanOut: hiddenSize, random: random)
            recurrentInitializer.fill(weightHH.value, fanIn: hiddenSize, fanOut: hiddenSize, random: random)
        }
        recurrentTransposed = .allocate(capacity: hiddenSize * hiddenSize)
        recurrentTransposed.initialize(repeating: 0, count: hiddenSize * hiddenSize)
        inputTransposed = .allocate(capacity: inputFeatures * hiddenSize)
        inputTransposed.initialize(repeating: 0, count: inputFeatures * hiddenSize)
    }

    deinit {
        recurrentTransposed.deallocate()
        inputTransposed.deallocate()
    }

    /// Copies W_hh^T and W_ih^T, so the products are untransposed GEMMs.
    public func prepareSteps() {
        let (f, h) = (inputFeatures, hiddenSize)
        transpose(weightHH.value.data, rows: h, columns: h, into: recurrentTransposed)
        transpose(weightIH.value.data, rows: h, columns: f, into: inputTransposed)
    }

    /// Contiguous rows: one tall product (`BLAS.gemmTall`); else one product per step, a share
    /// of the steps per thread.
    public func projectInput(_ x: StepRows, into z: UnsafeMutablePointer<Float>) {
        let (f, h, wt) = (inputFeatures, hiddenSize, UnsafePointer(inputTransposed))
        fillRows(z, rows: x.steps &* x.rows, with: bias.value.data, width: h)
        projectSteps(x, features: f, transposedWeight: wt, width: h, into: z, ldz: h)
    }

    /// h_t = act(z + h_{t-1} W_hh^T): one GEMM into the projection, then the activation.
    public func forwardStep(projection z: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>,
                            into state: UnsafeMutablePointer<Float>, batch n: Int) {
        let h = hiddenSize
        BLAS.gemm(m: n, n: h, k: h, previous, recurrentTransposed, beta: 1, z)
        let count = n &* h
        switch nonlinearity {
        case .tanh: tanhForward(z, z, count)
        case .relu: for i in 0..<count { z[i] = max(z[i], 0) }
        }
        if state != z { state.update(from: z, count: count) }
    }

    /// dz_t = dh_t act'(z), from the new state (tanh' = 1 - h^2, ReLU' = [h > 0]).
    public func backwardStep(stateGradient g: UnsafePointer<Float>, state: UnsafePointer<Float>,
                             previous: UnsafePointer<Float>, projection: UnsafePointer<Float>,
                             into d: UnsafeMutablePointer<Float>, previousGradient: UnsafeMutablePointer<Float>,
                             batch n: Int) {
        let count = n &* hiddenSize
        switch nonlinearity {
        case .tanh: tanhBackward(state, g, d, count)
        case .relu: for i in 0..<count { d[i] = state[i] > 0 ? g[i] : 0 }
        }
    }

    /// dh_{t-1} = dz_t W_hh: one GEMM.
    public func previousStateGradient(projectionGradient d: UnsafePointer<Float>, previous: UnsafePointer<Float>,
                                      into previousGradient: UnsafeMutablePointer<Float>, batch n: Int) {
        let h = hiddenSize
        BLAS.gemm(m: n, n: h, k: h, d, weightHH.value.data, previousGradient)
    }

    /// dW_hh += dZ^T H_prev, dW_ih += dZ^T X, db += the column sums of dZ; dW_ih one product per
    /// step when the inputs are not contiguous.
    public func accumulateParameterGradients(projectionGradient dz: UnsafePointer<Float>, inputs x: StepRows,
                                             previousStates: UnsafePointer<Float>) {
        let (f, h, rows) = (inputFeatures, hiddenSize, x.steps &* x.rows)
        let (dWhh, dWih) = (weightHH.gradient.data, weightIH.gradient.data)
        // Two independent products: one per thread when there are two.
        BLAS.concurrentPerform(min(BLAS.loopThreads, 2)) { w, workers in
            if w == 0 { BLAS.gemmSumOverRows(m: h, n: h, k: rows, dz, previousStates, beta: 1, dWhh) }
            if w == workers - 1 { addInputWeightGradient(dz, ldz: h, width: h, inputs: x, features: f, into: dWih) }
        }
        addColumnSums(of: dz, rows: rows, columns: h, into: bias.gradient.data)
    }

    /// Contiguous rows: one tall product; else one product per step, a share of the steps per
    /// thread.
    public func inputGradient(projectionGradient dz: UnsafePointer<Float>, beta: Float, into dx: StepRows) {
        inputGradientSteps(dz, ldz: hiddenSize, width: hiddenSize, weight: weightIH.value.data, features: inputFeatures,
                           beta: beta, into: dx)
    }
}
