import CKernels
import COpenBLAS
import Dispatch
import Foundation

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
    ///   - m: The rows of op(A) and of C.
    ///   - n: The columns of op(B) and of C.
    ///   - k: The columns of op(A), the rows of op(B).
    ///   - alpha: The product's scale.
    ///   - a: A's first value.
    ///   - lda: The distance between rows of A as stored, when they are rows of a wider buffer
    ///     (one step's rows of a batch-major sequence); nil: contiguous.
    ///   - b: B's first value.
    ///   - ldb: The same for B.
    ///   - beta: C's scale before the product is added (0: C is overwritten, its values unread).
    ///   - c: C's first value.
    ///   - ldc: The same for C.
    @inline(__always)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int? = nil, _ b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0,
        _ c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda ?? (transposeA ? m : k)), b, blasint(ldb ?? (transposeB ? k : n)),
            beta, c, blasint(ldc ?? n))
    }

    /// The number of threads OpenBLAS uses for one product.
    ///
    /// Measured on two cores: small training batches run faster on one thread (the per-call work
    /// is too small for thread hand-offs); large products scale with both.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    // MARK: The thread plan

    /// Threads a parallel loop may use (the RNN's row shares, Adam, embeddings, the blocks of a
    /// tall product): the plan's (`withThreadPlan`), else `threads`.
    public static var loopThreads: Int { plannedLoopThreads ?? threads }
    nonisolated(unsafe) private static var plannedLoopThreads: Int?
    nonisolated(unsafe) private static var planDepth = 0, threadsBeforePlan = 1
    private static let planLock = NSLock()

    /// Runs `body` with OpenBLAS's threads and the parallel loops' budget decided once, from the
    /// cores the caller gave OpenBLAS (`threads`):
    /// - several `workers` (or ranks): each worker runs on one core, OpenBLAS and its loops on
    ///   one thread;
    /// - one worker and a model with layers that share rows out to threads which call OpenBLAS
    ///   themselves (`Layer.splitsRowsAcrossThreads`: the recurrent layers' steps): those loops
    ///   get the cores and OpenBLAS one thread, so its thread count never changes in a step;
    /// - otherwise OpenBLAS gets the cores for its products, and loops that call it run their
    ///   parts one after the other on them.
    ///
    /// OpenBLAS's thread count is one setting for the whole process, so there is one plan at a
    /// time: a plan asked for while one holds (evaluation inside `fit`, or fits on several
    /// threads at once) runs under it, and the setting comes back when the last one ends.
    public static func withThreadPlan<Result>(workers: Int, splitsRows: Bool, _ body: () throws -> Result) rethrows -> Result {
        planLock.lock()
        if planDepth == 0 {
            let cores = threads
            let (blas, loops) = workers > 1 ? (1, 1) : (splitsRows ? 1 : cores, cores)
            threadsBeforePlan = cores
            if blas != cores { threads = blas }
            plannedLoopThreads = loops
        }
        planDepth += 1
        planLock.unlock()
        defer {
            planLock.lock()
            planDepth -= 1
            if planDepth == 0 {
                if threads != threadsBeforePlan { threads = threadsBeforePlan }
                plannedLoopThreads = nil
            }
            planLock.unlock()
        }
        return try body()
    }

    // MARK: Tall products

    /// True when OpenBLAS has small-matrix kernels for this CPU (0.3.21: its SkylakeX,
    /// Cooperlake and SapphireRapids cores): products up to about 100^3 multiply-adds then run
    /// in the calling thread without packing either matrix.
    public static let hasSmallMatrixKernels = ["skylakex", "cooperlake", "sapphirerapids"].contains(coreName)

    /// The kernel set OpenBLAS chose for this CPU (or `OPENBLAS_CORETYPE` named), lowercased:
    /// "haswell", "cooperlake", ...; products round alike only on the same kernels.
    public static let coreName: String = openblas_get_corename().map { String(cString: $0).lowercased() } ?? ""

    /// The `OPENBLAS_CORETYPE` that would give this CPU OpenBLAS's vector kernels, when OpenBLAS
    /// fell back to kernels without AVX2 (its `Prescott` core: what 0.3.21 picks for an x86 CPU
    /// model it does not know, such as Intel's Emerald Rapids) on a CPU that has AVX-512
    /// (`SkylakeX`) or AVX2 and FMA (`Haswell`); nil when OpenBLAS chose AVX2 or AVX-512 kernels
    /// itself, or when `OPENBLAS_CORETYPE` is set. OpenBLAS reads the variable once, as it
    /// loads: a program sets it in its environment before it starts (the samples start again
    /// with it, `SampleOptions.useOpenBLASVectorKernels`).
    public static var suggestedCoreType: String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, !vectorCores.contains(coreName) else { return nil }
        if synapse_kernels_variant(2) != nil { return "SkylakeX" }
        if synapse_kernels_variant(1) != nil { return "Haswell" }
        return nil
    }

    /// OpenBLAS 0.3.21's kernel sets that use AVX2 or AVX-512, lowercased as `coreName` gives them.
    static let vectorCores: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]

    /// Rows per block when a tall product is cut into calls on the small-matrix kernels:
    /// `width` x `depth` x rows stays at 2^19 multiply-adds (128 rows at 64 x 64), or nil (one
    /// call) when there are no such kernels or a block would be under 32 rows.
    /// Blocks beat one call on those kernels (README, "Measurements behind the design").
    static func rowBlock(_ width: Int, _ depth: Int) -> Int? {
        guard hasSmallMatrixKernels, width > 0, depth > 0 else { return nil }
        let rows = (1 << 19) / (width * depth) / 16 * 16
        return rows >= 32 ? rows : nil
    }

    /// C = op(A) B... for a tall A: C (m, n) = A (m, k) op(B) + beta C with m large, as calls
    /// over blocks of rows of A and C (`rowBlock`). Each row of C is one block's product, so the
    /// result does not depend on how blocks are shared among `threads` threads.
    public static func gemmTall(transposeB: Bool = false, m: Int, n: Int, k: Int,
                                _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
        guard let block = rowBlock(n, k), m > block else {
            gemm(transposeB: transposeB, m: m, n: n, k: k, a, b, beta: beta, c)
            return
        }
        let blocks = (m + block - 1) / block
        concurrentPerform(min(loopThreads, blocks)) { w, workers in
            for i in stride(from: blocks * w / workers, to: blocks * (w + 1) / workers, by: 1) {
                let r0 = i * block, rows = min(block, m - r0)
                gemm(transposeB: transposeB, m: rows, n: n, k: k, a + r0 * k, b, beta: beta, c + r0 * n)
            }
        }
    }

    /// C (m, n) = A^T B + beta C summed over many rows: A (k, m) and B (k, n) with k large, as
    /// calls over blocks of k rows (`rowBlock`), in order, each adding into C (a weight
    /// gradient over every step and sample).
    public static func gemmSumOverRows(m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                       beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
        guard let block = rowBlock(m, n), k > block else {
            gemm(transposeA: true, m: m, n: n, k: k, a, b, beta: beta, c)
            return
        }
        for r0 in stride(from: 0, to: k, by: block) {
            gemm(transposeA: true, m: m, n: n, k: min(block, k - r0), a + r0 * m, b + r0 * n,
                 beta: r0 == 0 ? beta : 1, c)
        }
    }

    /// Runs `body(w, workers)` for w in 0..<workers at once, one thread each, in this thread's
    /// denormal mode; on this thread when `workers` is 1. The parts must write disjoint memory.
    ///
    /// - Parameters:
    ///   - workers: How many parts, one thread each.
    ///   - callsBLAS: whether the parts call OpenBLAS (the RNN's row shares, blocks of a
    ///     tall product). They then run at once only while OpenBLAS runs one thread (as the thread
    ///     plan sets it for models whose layers split rows, and for several workers); with more,
    ///     OpenBLAS already fills the cores and the parts run one after the other, as one share
    ///     (`body(0, 1)`). OpenBLAS's setting is never changed here. Loops that never call it
    ///     (Adam, embeddings, transposes) run at once whatever it is.
    ///   - body: One part: called with its index and the number of parts.
    public static func concurrentPerform(_ workers: Int, callsBLAS: Bool = true, _ body: (Int, Int) -> Void) {
        guard workers > 1, !(callsBLAS && threads > 1) else { body(0, 1); return }
        let flush = FloatingPointMode.isFlushing
        withoutActuallyEscaping(body) { body in
            let job = Job(body: body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                FloatingPointMode.withDenormalsFlushed(flush) { job.body(w, workers) }
            }
        }
    }

    private struct Job: @unchecked Sendable {
        let body: (Int, Int) -> Void
    }
}
