import Foundation

/// The processes (ranks) of one training job and the few collectives data-parallel training
/// needs. Every rank calls the same collectives in the same order; each call returns once every
/// rank has made it. The core knows only this protocol: `SingleProcess` here, and MPI in the
/// `Distributed` product (`MPICommunicator`), so a program that does not link that product never
/// needs MPI.
///
/// A collective never fails in a way the caller could handle: an implementation that loses a
/// rank ends the whole job (MPI's default), and `abort` ends it on purpose. A rank that hits an
/// error must `abort` rather than return, or the other ranks would wait for it forever.
public protocol Communicator: AnyObject {
    /// This process's index, 0..<size. Rank 0 prints, writes files and broadcasts.
    var rank: Int { get }
    /// The number of ranks in the job.
    var size: Int { get }
    /// Replaces every element with its sum over the ranks (in place). All ranks end with the
    /// same bits; for two ranks the sum is a + b, exact in the sense of one rounded addition.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// Replaces every element with its sum over the ranks (in place), in Double: the loss and metric
    /// sums of an evaluation.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Replaces the buffer on every rank with rank 0's (in place).
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// Replaces the buffer on every rank with rank 0's (in place): generator states and seeds.
    func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt64>)
    /// Returns once every rank has called it.
    func barrier()
    /// Ends every rank of the job with `code` after printing `message` (with this rank) on
    /// standard error. Never returns.
    func abort(_ message: String, code: Int32) -> Never
}

extension Communicator {
    /// True on rank 0, the rank that prints and writes.
    public var isRoot: Bool { rank == 0 }

    /// All-reduces a tensor's elements in place.
    public func allReduceSum(_ tensor: Tensor) { allReduceSum(tensor.buffer) }

    /// Broadcasts a tensor's elements from rank 0 in place.
    public func broadcast(_ tensor: Tensor) { broadcast(tensor.buffer) }

    /// Rank 0's words, on every rank.
    public func broadcast(_ words: [UInt64]) -> [UInt64] {
        var copy = words
        copy.withUnsafeMutableBufferPointer { broadcast($0) }
        return copy
    }

    /// The elementwise sums over the ranks.
    public func allReduceSum(_ values: [Double]) -> [Double] {
        var copy = values
        copy.withUnsafeMutableBufferPointer { allReduceSum($0) }
        return copy
    }
}

/// The job of one process: rank 0 of 1. Every collective returns at once with the buffer as it
/// was (a sum over one rank, a broadcast from itself).
public final class SingleProcess: Communicator, @unchecked Sendable {
    /// The communicator of a program that runs as one process.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    /// Leaves the buffer as it is: the sum over one rank.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    /// Leaves the buffer as it is: rank 0 is this process.
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt64>) {}
    public func barrier() {}
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}
