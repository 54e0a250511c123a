import CMPI
import Dense
import Foundation

/// The ranks of an MPI job (`MPI_COMM_WORLD`), as a `Communicator` for `Trainer`.
///
///     let world = MPICommunicator.world          // MPI_Init on first use
///     try trainer.use(workers: 1, communicator: world)
///     // mpirun -np 2 ./lenet --distributed ...
///
/// - Collectives are MPI_Allreduce (in place, MPI_SUM), MPI_Bcast from rank 0 and MPI_Barrier,
///   called from one thread (MPI_THREAD_FUNNELED: the trainer's workers never call MPI).
/// - Faults end the job: MPI's errors are fatal on `MPI_COMM_WORLD` (its default), `abort`
///   calls MPI_Abort, and mpirun ends every rank when one exits with an error or is killed. A
///   rank that throws must `abort` (the samples do), or the others would wait in their next
///   collective.
/// - Call `finalize()` when the work is done, on every rank. Not at exit: a rank that exits in
///   the middle (exit(0) from anywhere) must not wait in MPI_Finalize for ranks that wait for it
///   in a collective; without MPI_Finalize, mpirun sees it leave early and ends the job with an
///   error.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    /// The job's communicator; the first use initialises MPI (once per process). Started without
    /// mpirun, the process is a job of one rank.
    public static let world = MPICommunicator()

    public let rank: Int
    public let size: Int
    private let comm: MPI_Comm

    private init() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            MPI_Init_thread(nil, nil, synapse_mpi_thread_funneled(), &provided)
        }
        comm = synapse_mpi_comm_world()
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(comm, &rank)
        MPI_Comm_size(comm, &size)
        (self.rank, self.size) = (Int(rank), Int(size))
    }

    /// True when this process was started by Open MPI's mpirun (or another launcher that sets
    /// its variables), without initialising MPI.
    public static var isLaunchedByMPIRun: Bool {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
            || ProcessInfo.processInfo.environment["PMI_SIZE"] != nil
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        forEachChunk(buffer) { start, count in
            _ = MPI_Allreduce(synapse_mpi_in_place(), start, count, synapse_mpi_float(), synapse_mpi_sum(), comm)
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        forEachChunk(buffer) { start, count in
            _ = MPI_Allreduce(synapse_mpi_in_place(), start, count, synapse_mpi_double(), synapse_mpi_sum(), comm)
        }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>) {
        forEachChunk(buffer) { start, count in _ = MPI_Bcast(start, count, synapse_mpi_float(), 0, comm) }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt64>) {
        forEachChunk(buffer) { start, count in _ = MPI_Bcast(start, count, synapse_mpi_uint64(), 0, comm) }
    }

    public func barrier() { _ = MPI_Barrier(comm) }

    /// Ends MPI for this process (MPI_Finalize), once every rank is done; later calls do nothing.
    /// No collective may follow.
    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("rank \(rank) of \(size): \(message)\n".utf8))
        MPI_Abort(comm, code == 0 ? 1 : code)
        exit(code == 0 ? 1 : code)   // MPI_Abort does not return; this is for the compiler
    }

    /// MPI counts are Int32: a buffer longer than that goes in pieces (in the same order on
    /// every rank).
    private func forEachChunk<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ body: (UnsafeMutableRawPointer, Int32) -> Void) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var start = 0
        while start < buffer.count {
            let count = min(buffer.count - start, Int(Int32.max))
            body(UnsafeMutableRawPointer(base + start), Int32(count))
            start += count
        }
    }
}
