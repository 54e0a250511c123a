import ArgumentParser
import Distributed
import Foundation
import SampleOptions
import Synapse

/// `--distributed`: train across the ranks of an MPI job (started by mpirun), each with its
/// share of every batch. Rank 0 prints, writes the output folder and the checkpoints; the other
/// ranks print nothing but errors.
public struct DistributedOptions: ParsableArguments {
    @Flag(help: "Train across the processes of an MPI job (start with mpirun -np N; every rank needs the same binary, options and data). Each rank takes its share of every batch with --workers cores (default 1); the run equals one process with N x workers workers. Rank 0 prints and writes the output.")
    public var distributed = false

    public init() {}

    /// The job: MPI's world with `--distributed` (MPI is initialised here), else one process.
    /// On a rank other than 0, standard output, the notes and the progress bar are silenced.
    public func communicator() -> any Communicator {
        guard distributed else { return SingleProcess() }
        let world = MPICommunicator.world
        if !world.isRoot {
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
            SampleOutput.silenced = true
        }
        return world
    }

    /// Runs a sample's body, then ends MPI. Across ranks, an error on any rank ends the whole
    /// job (MPI_Abort) with the rank and the message, so no rank is left waiting in a collective;
    /// an `ExitCode` (a stop request, an unmet --require-accuracy) is reached by every rank alike
    /// and passes.
    public func run(_ communicator: any Communicator, _ body: () throws -> Void) throws {
        let mpi = communicator as? MPICommunicator
        do {
            try body()
            mpi?.finalize()
        } catch let code as ExitCode {
            mpi?.finalize()
            throw code
        } catch where communicator.size > 1 {
            communicator.abort("error: \(error)", code: 1)
        }
    }
}
