import Dense

/// What the gated cells (`LSTMCell`, `GRUCell`) share: G gates' weights stacked in PyTorch's
/// layout, both biases, and the products over all the steps of a pass.
///
/// Shapes: x (N, F); `weight_ih` (G H, F) and `weight_hh` (G H, H), the gates stacked in the
/// cell's order; `bias_ih` and `bias_hh` (G H), both kept (PyTorch's names and layout, so its
/// cells load them as they are). A projection row (P floats) starts with the input projection
/// x W_ih^T (G H) and ends with the recurrent one h W_hh^T (G H), which is the same columns for
/// the LSTM (P = 4H: each step adds its recurrent product into the input projection) and the
/// next ones for the GRU (P = 6H: b_hn sits inside r (...), so the two stay apart). A cell fills
/// `biasRow` (P: what every projection row starts from) in its `prepareSteps`, after
/// `transposeWeights`.
public class GatedCell {
    /// F, the width of an input row.
    public let inputFeatures: Int
    /// H, the width of h.
    public let hiddenSize: Int
    /// S, the width of a state row: H, or 2H for the LSTM's [h | c].
    public let stateWidth: Int
    /// P, the width of a projection row: 4H for the LSTM, 6H for the GRU.
    public let projectionWidth: Int
    /// `weight_ih` (G H, F), the gates stacked in the cell's order.
    public let weightIH: Parameter
    /// `weight_hh` (G H, H), likewise.
    public let weightHH: Parameter
    /// `bias_ih` (G H).
    public let biasIH: Parameter
    /// `bias_hh` (G H).
    public let biasHH: Parameter

    /// G H, the rows of the weights.
    let gateRows: Int
    /// W_hh^T (H, G H) and W_ih^T (F, G H), copied by `transposeWeights` so the products are
    /// untransposed GEMMs; the bias row (P) every projection row starts from.
    let recurrentTransposed: UnsafeMutablePointer<Float>
    let inputTransposed: UnsafeMutablePointer<Float>
    let biasRow: UnsafeMutablePointer<Float>

    /// False: backward needs the gates the step leaves in the projection.
    public var projectsIntoState: Bool { false }
    /// `weight_ih`, `weight_hh`, `bias_ih` and `bias_hh`, PyTorch's order.
    public var parameters: [Parameter] { [weightIH, weightHH, biasIH, biasHH] }

    /// `weight_ih` Glorot uniform over the whole matrix (fan-in F, fan-out G H, as Keras's kernel),
    /// then each gate's (H, H) block of `weight_hh` from `recurrentInitializer`, in that order from
    /// `random`; the biases zero. Every parameter zero without a generator.
    init(_ inputFeatures: Int, _ hiddenSize: Int, gates: Int, stateWidth: Int, projectionWidth: Int,
         recurrentInitializer: Initializer, random: RandomGenerator?, storage: ParameterStorage) {
        let (f, h, rows) = (inputFeatures, hiddenSize, gates * hiddenSize)
        (self.inputFeatures, self.hiddenSize, self.stateWidth, self.projectionWidth) = (f, h, stateWidth, projectionWidth)
        gateRows = rows
        weightIH = storage.parameter("weight_ih", [rows, f])
        weightHH = storage.parameter("weight_hh", [rows, h])
        biasIH = storage.parameter("bias_ih", [rows])
        biasHH = storage.parameter("bias_hh", [rows])
        if let random {
            Initializer.glorotUniform.fill(weightIH.value, fanIn: f, fanOut: rows, random: random)
            for g in 0..<gates {
                recurrentInitializer.fill(weightHH.value.rows(g * h..<(g + 1) * h), fanIn: h, fanOut: h, random: random)
            }
        }
        recurrentTransposed = .allocate(capacity: rows * h)
        recurrentTransposed.initialize(repeating: 0, count: rows * h)
        inputTransposed = .allocate(capacity: rows * f)
        inputTransposed.initialize(repeating: 0, count: rows * f)
        biasRow = .allocate(capacity: projectionWidth)
        biasRow.initialize(repeating: 0, count: projectionWidth)
    }

    deinit {
        recurrentTransposed.deallocate()
        inputTransposed.deallocate()
        biasRow.deallocate()
    }

    /// The columns of a projection row where the recurrent projection starts: 0 (LSTM) or G H (GRU).
    private var recurrentOffset: Int { projectionWidth - gateRows }

    /// Copies W_hh^T and W_ih^T: the first part of a cell's `prepareSteps`.
    func transposeWeights() {
        transpose(weightHH.value.data, rows: gateRows, columns: hiddenSize, into: recurrentTransposed)
        transpose(weightIH.value.data, rows: gateRows, columns: inputFeatures, into: inputTransposed)
    }

    /// The bias row, then x W_ih^T added into the first G H columns, for every (step, row) of x,
    /// into z (steps, rows, P).
    public func projectInput(_ x: StepRows, into z: UnsafeMutablePointer<Float>) {
        let p = projectionWidth
        fillRows(z, rows: x.steps &* x.rows, with: biasRow, width: p)
        projectSteps(x, features: inputFeatures, transposedWeight: inputTransposed, width: gateRows, into: z, ldz: p)
    }

    /// Adds h W_hh^T into the recurrent projection of `batch` rows of z (one GEMM), from the h
    /// part of the previous states: the first part of a cell's `forwardStep`.
    func addRecurrentProduct(into z: UnsafeMutablePointer<Float>, previous: UnsafePointer<Float>, batch n: Int) {
        BLAS.gemm(m: n, n: gateRows, k: hiddenSize, previous, lda: stateWidth, recurrentTransposed, beta: 1,
                  z + recurrentOffset, ldc: projectionWidth)
    }

    /// dW_hh += dZ_h^T H_prev, dW_ih += dZ_x^T X, and the column sums of dZ_x and dZ_h into
    /// `bias_ih` and `bias_hh` (dZ_x and dZ_h: the gradients of the input and the recurrent
    /// projections, the same columns for the LSTM).
    public func accumulateParameterGradients(projectionGradient dz: UnsafePointer<Float>, inputs x: StepRows,
                                             previousStates: UnsafePointer<Float>) {
        let (f, h, rows, gh) = (inputFeatures, hiddenSize, x.steps &* x.rows, gateRows)
        let (p, s, r) = (projectionWidth, stateWidth, recurrentOffset)
        let (dWhh, dWih) = (weightHH.gradient.data, weightIH.gradient.data)
        // Two independent products: one per thread when there are two.
        BLAS.concurrentPerform(min(BLAS.loopThreads, 2)) { w, workers in
            if w == 0 {
                BLAS.gemm(transposeA: true, m: gh, n: h, k: rows, dz + r, lda: p, previousStates, ldb: s, beta: 1, dWhh)
            }
            if w == workers - 1 { addInputWeightGradient(dz, ldz: p, width: gh, inputs: x, features: f, into: dWih) }
        }
        addColumnSums(of: dz, rows: rows, width: gh, ldz: p, into: biasIH.gradient.data)
        addColumnSums(of: dz + r, rows: rows, width: gh, ldz: p, into: biasHH.gradient.data)
    }

    /// dx = dz_x W_ih for every (step, row) of `dx`, adding `beta` times what it held.
    public func inputGradient(projectionGradient dz: UnsafePointer<Float>, beta: Float, into dx: StepRows) {
        inputGradientSteps(dz, ldz: projectionWidth, width: gateRows, weight: weightIH.value.data,
                           features: inputFeatures, beta: beta, into: dx)
    }
}

extension RecurrentLayer where Cell: GatedCell {
    /// `weight_ih` (G H, F), the gates stacked in the cell's order.
    public var weightIH: Parameter { core.cell.weightIH }
    /// `weight_hh` (G H, H), likewise.
    public var weightHH: Parameter { core.cell.weightHH }
    /// `bias_ih` (G H).
    public var biasIH: Parameter { core.cell.biasIH }
    /// `bias_hh` (G H).
    public var biasHH: Parameter { core.cell.biasHH }
}
