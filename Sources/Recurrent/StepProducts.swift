import CKernels
import Dense

// The products a cell (Elman, LSTM, GRU) runs over all the steps of a pass at once, on rows that
// may be part of wider rows: a GRU keeps its input projection in the first 3H columns of rows of
// 6H. Each is one GEMM over every (step, row) pair when the inputs lie contiguously, else one per
// step (the rows of a batch-major input, read where they are), a share of the steps per thread.

/// z[:, 0..<width] += x W^T for every row of `x`, with `wt` = W^T (F, width) and the rows of z
/// (steps x rows of them, time-major) `ldz` floats apart.
func projectSteps(_ x: StepRows, features f: Int, transposedWeight wt: UnsafePointer<Float>, width: Int,
                  into z: UnsafeMutablePointer<Float>, ldz: Int) {
    if x.isContiguous(width: f) {
        if ldz == width {
            BLAS.gemmTall(m: x.steps &* x.rows, n: width, k: f, x.base, wt, beta: 1, z)
        } else {
            BLAS.gemm(m: x.steps &* x.rows, n: width, k: f, x.base, wt, beta: 1, z, ldc: ldz)
        }
        return
    }
    BLAS.concurrentPerform(min(BLAS.loopThreads, x.steps)) { w, workers in
        for s in (x.steps &* w / workers)..<(x.steps &* (w &+ 1) / workers) {
            BLAS.gemm(m: x.rows, n: width, k: f, x.step(s), lda: x.rowStride, wt, beta: 1,
                      z + s &* x.rows &* ldz, ldc: ldz)
        }
    }
}

/// dx = dz[:, 0..<width] W + beta dx for every row of `dx`, with W (width, F) and the rows of dz
/// `ldz` floats apart.
func inputGradientSteps(_ dz: UnsafePointer<Float>, ldz: Int, width: Int, weight w: UnsafePointer<Float>,
                        features f: Int, beta: Float, into dx: StepRows) {
    if dx.isContiguous(width: f) {
        if ldz == width {
            BLAS.gemmTall(m: dx.steps &* dx.rows, n: f, k: width, dz, w, beta: beta, dx.base)
        } else {
            BLAS.gemm(m: dx.steps &* dx.rows, n: f, k: width, dz, lda: ldz, w, beta: beta, dx.base)
        }
        return
    }
    BLAS.concurrentPerform(min(BLAS.loopThreads, dx.steps)) { k, workers in
        for s in (dx.steps &* k / workers)..<(dx.steps &* (k &+ 1) / workers) {
            BLAS.gemm(m: dx.rows, n: f, k: width, dz + s &* dx.rows &* ldz, lda: ldz, w, beta: beta, dx.step(s),
                      ldc: dx.rowStride)
        }
    }
}

/// dW (width, F) += dz[:, 0..<width]^T x over every row of `x`, the rows of dz `ldz` floats apart.
func addInputWeightGradient(_ dz: UnsafePointer<Float>, ldz: Int, width: Int, inputs x: StepRows, features f: Int,
                            into dw: UnsafeMutablePointer<Float>) {
    if x.isContiguous(width: f) {
        if ldz == width {
            BLAS.gemmSumOverRows(m: width, n: f, k: x.steps &* x.rows, dz, x.base, beta: 1, dw)
        } else {
            BLAS.gemm(transposeA: true, m: width, n: f, k: x.steps &* x.rows, dz, lda: ldz, x.base, beta: 1, dw)
        }
        return
    }
    for s in 0..<x.steps {
        BLAS.gemm(transposeA: true, m: width, n: f, k: x.rows, dz + s &* x.rows &* ldz, lda: ldz, x.step(s),
                  ldb: x.rowStride, beta: 1, dw)
    }
}

/// db[j] += sum over `rows` rows of dz[r, j], j < width, the rows `ldz` floats apart, in row order
/// (the CKernels `column_sums`).
func addColumnSums(of dz: UnsafePointer<Float>, rows: Int, width: Int, ldz: Int, into db: UnsafeMutablePointer<Float>) {
    synapse_kernels().pointee.column_sums(dz, rows, width, ldz, db)
}

/// wt (columns, rows) = w^T for w (rows, columns).
func transpose(_ w: UnsafePointer<Float>, rows: Int, columns: Int, into wt: UnsafeMutablePointer<Float>) {
    for i in 0..<rows {
        for j in 0..<columns { wt[j &* rows &+ i] = w[i &* columns &+ j] }
    }
}
