import Foundation
import XCTest

/// Runs DistributedCheck (Tests/DistributedCheck, built beside the tests by
/// `swift build --build-tests`) under `mpirun -np 2` on this machine. Skipped with a message only
/// where mpirun is missing, never under CI=true.
final class MPITrainingTests: XCTestCase {
    struct Run {
        let status: Int32
        let output: String
        let errors: String
        let seconds: Double
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The folder holding the DistributedCheck executable of this build.
    var buildFolder: URL {
        get throws {
            let candidates = [
                URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent(),
                Bundle.main.bundleURL,
                Self.packageRoot.appendingPathComponent(".build/debug"),
            ]
            for folder in candidates where FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("DistributedCheck").path) {
                return folder
            }
            throw XCTSkip("DistributedCheck is not built: run swift build --build-tests")
        }
    }

    var mpirun: String {
        get throws {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            for folder in path.split(separator: ":") {
                let candidate = "\(folder)/mpirun"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                XCTFail("mpirun is missing under CI=true: run Scripts/setup (openmpi-bin)")
            }
            throw XCTSkip("mpirun is missing (Scripts/setup installs openmpi-bin): the MPI tests are skipped")
        }
    }

    /// Runs `arguments` (the executable first), killing it after `timeout` seconds.
    func run(_ executable: String, _ arguments: [String], timeout: Double = 120) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
        environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let start = Date()
        try process.run()
        // Read both pipes while the process runs, so that a full pipe never blocks it.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        group.wait()
        return Run(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
                   errors: String(decoding: errData, as: UTF8.self), seconds: Date().timeIntervalSince(start))
    }

    /// `mpirun -np 2 DistributedCheck arguments...`
    func mpi(_ arguments: [String], timeout: Double = 120) throws -> Run {
        let check = try buildFolder.appendingPathComponent("DistributedCheck").path
        var options = ["-np", "2", "--oversubscribe"]
        if getuid() == 0 { options.append("--allow-run-as-root") }
        return try run(try mpirun, options + [check] + arguments, timeout: timeout)
    }

    /// `DistributedCheck arguments...` as one process.
    func alone(_ arguments: [String]) throws -> Run {
        try run(try buildFolder.appendingPathComponent("DistributedCheck").path, arguments)
    }

    func temporaryPrefix(_ name: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-mpi-\(getpid())-\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder.appendingPathComponent("weights").path
    }

    func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testAllReduceAndBroadcastOnKnownBuffers() throws {
        let result = try mpi(["collectives"])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertTrue(result.output.contains("collectives ok: 2 ranks"), result.output + result.errors)
    }

    /// Two ranks of one worker each against one process of two workers, on the same global
    /// batches: the same slices, the same dropout draws, and a gradient that is the sum of two
    /// slice gradients, g0 + g1 on both sides. One float addition is exact up to its one
    /// rounding and commutative, so the all-reduce (whatever order MPI adds in) gives the bits
    /// that DataParallel's in-process sum gives; BatchNorm's running statistics likewise.
    func testTwoRanksEqualOneProcessWithTwoWorkersBitForBit() throws {
        let a = try temporaryPrefix("ranks"), b = try temporaryPrefix("workers")
        let ranks = try mpi(["train", "--distributed", "--workers", "1", "--seed", "1", "--output", a])
        XCTAssertEqual(ranks.status, 0, ranks.errors)
        let workers = try alone(["train", "--workers", "2", "--seed", "1", "--output", b])
        XCTAssertEqual(workers.status, 0, workers.errors)
        let (rank0, rank1, single) = (try contents(a + ".rank0"), try contents(a + ".rank1"), try contents(b + ".rank0"))
        XCTAssertEqual(rank0, rank1, "the ranks ended with different weights")
        XCTAssertEqual(rank0, single, "two ranks x one worker differ from one process x two workers")
        XCTAssertFalse(rank0.isEmpty)
        let accuracy = { (run: Run) in run.output.split(separator: "\n").first { $0.hasPrefix("val_accuracy:") } }
        XCTAssertNotNil(accuracy(ranks))
        XCTAssertEqual(accuracy(ranks), accuracy(workers))
        // And not trivially: one worker alone draws other dropout masks and ends elsewhere.
        let c = try temporaryPrefix("one")
        XCTAssertEqual(try alone(["train", "--workers", "1", "--seed", "1", "--output", c]).status, 0)
        XCTAssertNotEqual(try contents(c + ".rank0"), rank0)
    }

    /// A layer defined outside Synapse (DistributedCheck's `Shift`) trains on two ranks as on one
    /// process of two workers, bit for bit, and rank 0 saves and loads it through its registry.
    func testACustomLayerTrainsOnTwoRanksAsOnTwoWorkers() throws {
        let a = try temporaryPrefix("custom-ranks"), b = try temporaryPrefix("custom-workers")
        let ranks = try mpi(["train", "--distributed", "--custom-layer", "--output", a])
        XCTAssertEqual(ranks.status, 0, ranks.errors)
        let workers = try alone(["train", "--workers", "2", "--custom-layer", "--output", b])
        XCTAssertEqual(workers.status, 0, workers.errors)
        let (rank0, single) = (try contents(a + ".rank0"), try contents(b + ".rank0"))
        XCTAssertEqual(rank0, try contents(a + ".rank1"), "the ranks ended with different weights")
        XCTAssertEqual(rank0, single, "two ranks x one worker differ from one process x two workers")
        let architecture = try String(contentsOfFile: a + ".model.json", encoding: .utf8)
        XCTAssertTrue(architecture.contains("\"Shift\""), "the saved model holds the custom layer: \(architecture)")
    }

    /// A Graph (a shortcut merged by Add) trains on two ranks as on one process of two workers,
    /// bit for bit, through the same trainer path as a Sequential; rank 0 saves and loads it.
    func testAGraphTrainsOnTwoRanksAsOnTwoWorkers() throws {
        let a = try temporaryPrefix("graph-ranks"), b = try temporaryPrefix("graph-workers")
        let ranks = try mpi(["train", "--distributed", "--graph", "--output", a])
        XCTAssertEqual(ranks.status, 0, ranks.errors)
        let workers = try alone(["train", "--workers", "2", "--graph", "--output", b])
        XCTAssertEqual(workers.status, 0, workers.errors)
        let (rank0, single) = (try contents(a + ".rank0"), try contents(b + ".rank0"))
        XCTAssertEqual(rank0, try contents(a + ".rank1"), "the ranks ended with different weights")
        XCTAssertEqual(rank0, single, "two ranks x one worker differ from one process x two workers")
        let architecture = try String(contentsOfFile: a + ".model.json", encoding: .utf8)
        XCTAssertTrue(architecture.contains("synapse.graph"), architecture)
    }

    /// With batch augmentation (drawn for the whole batch from the trainer's generator), every
    /// rank reads and augments the whole batch alike and trains on its rows: still bit for bit.
    func testAugmentedTwoRanksEqualOneProcessWithTwoWorkers() throws {
        let a = try temporaryPrefix("augmented-ranks"), b = try temporaryPrefix("augmented-workers")
        let ranks = try mpi(["train", "--distributed", "--augment", "--output", a])
        XCTAssertEqual(ranks.status, 0, ranks.errors)
        XCTAssertEqual(try alone(["train", "--workers", "2", "--augment", "--output", b]).status, 0)
        XCTAssertEqual(try contents(a + ".rank0"), try contents(a + ".rank1"))
        XCTAssertEqual(try contents(a + ".rank0"), try contents(b + ".rank0"))
        let c = try temporaryPrefix("not-augmented")
        XCTAssertEqual(try alone(["train", "--workers", "2", "--output", c]).status, 0)
        XCTAssertNotEqual(try contents(c + ".rank0"), try contents(b + ".rank0"))
    }

    /// Rank 0 broadcasts its parameters, buffers and generator: rank 1 started with seed 2 trains
    /// exactly as rank 0 (and as one process with seed 1 and two workers).
    func testRankWithAnotherSeedEndsIdenticalToRankZero() throws {
        let a = try temporaryPrefix("seeds"), b = try temporaryPrefix("reference")
        let ranks = try mpi(["train", "--distributed", "--seed", "1", "--seed-by-rank", "--output", a])
        XCTAssertEqual(ranks.status, 0, ranks.errors)
        XCTAssertEqual(try alone(["train", "--workers", "2", "--seed", "1", "--output", b]).status, 0)
        XCTAssertEqual(try contents(a + ".rank0"), try contents(a + ".rank1"))
        XCTAssertEqual(try contents(a + ".rank0"), try contents(b + ".rank0"))
    }

    /// Runs a long two-rank job in which rank 1 meets `fault` (a kill, an exit or a throw after a
    /// few steps) and asserts that the job ends with a non-zero status within 30 seconds.
    func assertJobEnds(_ name: String, fault: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let a = try temporaryPrefix(name)
        let result = try mpi(["train", "--distributed", "--epochs", "100000"] + fault + ["--output", a], timeout: 60)
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        XCTAssertLessThan(result.seconds, 30, "the job took \(result.seconds) s to end", file: file, line: line)
        return result.errors
    }

    /// A rank killed (SIGKILL) in the middle of training: mpirun ends the job with a non-zero
    /// status; rank 0, waiting in the all-reduce, is not left hanging.
    func testKilledRankEndsJobWithinThirtySeconds() throws {
        _ = try assertJobEnds("killed", fault: ["--kill-rank", "1", "--kill-after", "3"])
    }

    /// A rank that exits (status 0) in the middle of training, without MPI_Finalize: mpirun
    /// ends the job with an error rather than leave rank 0 waiting in the all-reduce.
    func testRankThatExitsEarlyEndsJob() throws {
        _ = try assertJobEnds("exits", fault: ["--exit-rank", "1", "--exit-after", "3"])
    }

    /// A rank that throws aborts the job (MPI_Abort) with its message.
    func testThrowingRankEndsJobWithItsMessage() throws {
        let errors = try assertJobEnds("throws", fault: ["--throw-rank", "1", "--throw-after", "1"])
        XCTAssertTrue(errors.contains("rank 1 was told to fail"), errors)
    }

    /// Ranks that build different models stop at the start of fit, all of them, with a message.
    func testArchitectureMismatchEndsWithClearMessage() throws {
        let a = try temporaryPrefix("mismatch")
        let result = try mpi(["train", "--distributed", "--hidden-on-rank1", "17", "--output", a], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(result.seconds, 30)
        XCTAssertTrue(result.errors.contains("differs from rank 0"), result.errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: a + ".rank0"))
    }
}
