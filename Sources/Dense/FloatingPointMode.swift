import CFloatEnvironment

/// Denormal floats (below 1.2e-38) take a slow path on x86: a tanh RNN whose gradients decay
/// through many steps can spend most of its time there. Flushing them to zero changes results
/// only below that magnitude.
public enum FloatingPointMode {
    /// Runs `body` with flush-to-zero and denormals-are-zero on for this thread (when `flush`),
    /// then puts the previous mode back.
    public static func withDenormalsFlushed<T>(_ flush: Bool = true, _ body: () throws -> T) rethrows -> T {
        guard flush else { return try body() }
        let was = synapse_flush_denormals(1)
        defer { _ = synapse_flush_denormals(was) }
        return try body()
    }

    /// Whether denormals are flushed on this thread: what a parallel loop hands on to the
    /// threads it runs on (`BLAS.concurrentPerform`, `DataParallel`'s workers), so that the mode
    /// `Trainer.flushDenormals` chose holds on every thread that runs model work. (OpenBLAS's own
    /// threads keep theirs.)
    public static var isFlushing: Bool { synapse_denormals_flushed() != 0 }
}
