import COpenBLAS

/// The only door to BLAS. Every matrix product in Synapse goes through `gemm`.
///
/// All matrices are row-major and contiguous; leading dimensions are worked out here from the
/// transposition flags, as Caffe's `caffe_cpu_gemm` does.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, where op(A) is M x K, op(B) is K x N and C is M x N.
    ///
    /// - Parameters:
    ///   - transposeA: A is stored K x M and used transposed.
    ///   - transposeB: B is stored N x K and used transposed.
    @inline(__always)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        beta: Float = 0,
        _ c: UnsafeMutablePointer<Float>
    ) {
        let lda = transposeA ? m : k
        let ldb = transposeB ? k : n
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(n))
    }

    /// The number of threads OpenBLAS uses for one product.
    ///
    /// Measured on two cores: small training batches run faster on one thread (the per-call work
    /// is too small for thread hand-offs); large products scale with both.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
