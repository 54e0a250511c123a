@testable import Dense
import Foundation
import XCTest

final class ModelFolderTests: FolderTestCase {
    func makeModel(seed: UInt64) throws -> Sequential {
        let random = RandomGenerator(seed: seed)
        return try Sequential(inputShape: [3], [Linear(3, 4, random: random, name: "fc1"), Activation(.relu),
                                                Linear(4, 2, random: random, name: "fc2")])
    }

    /// The set a sample writes: weights, architecture (whose training settings name the set),
    /// a log and a vocabulary, written one after the other; `crashAfter` files stops it there.
    func writeSet(_ model: Sequential, label: String, into staging: URL, crashAfter: Int? = nil) throws {
        let steps: [() throws -> Void] = [
            { try model.save(to: staging.appendingPathComponent("model.safetensors"), training: ["set": .string(label)]) },
            { try AtomicFile.write(Data("epoch,loss\n1,\(label)\n".utf8), to: staging.appendingPathComponent("log.csv")) },
            { try AtomicFile.write(Data("[\"\(label)\"]".utf8), to: staging.appendingPathComponent("vocabulary.json")) },
        ]
        for (k, step) in steps.enumerated() {
            if crashAfter == k { throw SimulatedCrash() }
            try step()
        }
    }

    /// Which set the files at `weights` form, after checking that they all belong to it: the
    /// weights equal that model's bit for bit, and the architecture, log and vocabulary name it.
    func setOnDisk(_ weights: URL, old: Sequential, new: Sequential) throws -> String {
        let loaded = try Sequential.load(from: weights, registry: .dense)
        let folder = weights.deletingLastPathComponent()
        let config = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: folder.appendingPathComponent("model.json")))
        guard case .string(let label)? = config.training["set"] else { XCTFail("model.json names no set"); return "" }
        let expected = label == "old" ? old : new
        for (a, b) in zip(loaded.stateTensors, expected.stateTensors) { XCTAssertEqual(a.value.array, b.value.array, "\(label): \(a.name)") }
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("log.csv"), encoding: .utf8), "epoch,loss\n1,\(label)\n")
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("vocabulary.json"), encoding: .utf8), "[\"\(label)\"]")
        return label
    }

    /// A kill between any two writes or renames of a save leaves the old complete set or the new
    /// complete set: readable at once (by a loader that does not write) and, after the next run's
    /// `prepare`, in place with nothing left over.
    /// Two runs on one folder: the second is refused with an error naming the folder, until the
    /// first lets go (or its process ends).
    func testASecondWriterIsRefusedWhileTheFirstHoldsTheFolder() throws {
        let target = try ModelFolder(folder.appendingPathComponent("run"))
        let first = try target.lock()
        XCTAssertThrowsError(try target.lock()) { error in
            XCTAssertTrue("\(error)".contains(target.url.path) && "\(error)".contains("another run"), "\(error)")
        }
        first.release()
        let second = try target.lock()
        second.release()
        try target.prepare()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.url.path), [], "the lock file stays outside the folder")
    }

    func testAKillAtAnyStepLeavesTheOldOrTheNewSet() throws {
        let old = try makeModel(seed: 1), new = try makeModel(seed: 2)
        XCTAssertNotEqual(old.stateTensors[0].value.array, new.stateTensors[0].value.array)
        // Crash points: after 0, 1 or 2 of the three files, then after each step of the replace.
        let points: [(file: Int?, step: ModelFolder.ReplaceStep?)] =
            [(0, nil), (1, nil), (2, nil)] + ModelFolder.ReplaceStep.allCases.map { (nil, $0) }
        for (index, point) in points.enumerated() {
            let parent = folder.appendingPathComponent("case\(index)")
            var target = try ModelFolder(parent.appendingPathComponent("run"))
            try target.prepare()
            try AtomicFile.write(Data("checkpoint".utf8), to: target.checkpointURL)
            try target.replace { try writeSet(old, label: "old", into: $0) }
            target.afterStep = { step in if step == point.step { throw SimulatedCrash() } }
            XCTAssertThrowsError(try target.replace { try writeSet(new, label: "new", into: $0, crashAfter: point.file) }) { error in
                XCTAssertTrue(error is SimulatedCrash, "\(error)")
            }
            let weights = target.url.appendingPathComponent("model.safetensors")
            let expected = point.step.map { $0.rawValue >= ModelFolder.ReplaceStep.oldMovedAside.rawValue } == true ? "new" : "old"
            let readable = ModelFolder.readableWeights(weights)
            XCTAssertEqual(try setOnDisk(readable, old: old, new: new), expected, "crash at \(point), read in place")
            // The next run puts the complete set in place and leaves nothing else behind.
            target.afterStep = nil
            try target.prepare()
            XCTAssertEqual(try setOnDisk(weights, old: old, new: new), expected, "crash at \(point), after prepare")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), ["run"], "crash at \(point)")
            XCTAssertEqual(try String(contentsOf: target.checkpointURL, encoding: .utf8), "checkpoint", "the checkpoint is carried over")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.url.path).sorted(),
                           ["checkpoint.safetensors", "log.csv", "model.json", "model.safetensors", "vocabulary.json"])
        }
    }

    func testReplaceWithoutCrashSwapsTheSetAndCarriesTheCheckpoint() throws {
        let old = try makeModel(seed: 1), new = try makeModel(seed: 2)
        let target = try ModelFolder(folder.appendingPathComponent("run"))
        try target.prepare()
        try target.replace { try writeSet(old, label: "old", into: $0) }
        try AtomicFile.write(Data("checkpoint".utf8), to: target.checkpointURL)
        try target.replace { try writeSet(new, label: "new", into: $0) }
        XCTAssertEqual(try setOnDisk(target.url.appendingPathComponent("model.safetensors"), old: old, new: new), "new")
        XCTAssertEqual(try String(contentsOf: target.checkpointURL, encoding: .utf8), "checkpoint")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["run"])
    }

    /// A failing write (not a kill) leaves the old set and no staging folder.
    func testAFailedWriteKeepsTheOldSetAndCleansUp() throws {
        let old = try makeModel(seed: 1), new = try makeModel(seed: 2)
        let target = try ModelFolder(folder.appendingPathComponent("run"))
        try target.replace { try writeSet(old, label: "old", into: $0) }
        XCTAssertThrowsError(try target.replace { staging in
            try writeSet(new, label: "new", into: staging)
            throw SynapseError.file(path: staging.path, problem: "No space left on device")
        })
        XCTAssertEqual(try setOnDisk(target.url.appendingPathComponent("model.safetensors"), old: old, new: new), "old")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["run"])
    }

    func testPrepareRemovesWhatKilledRunsLeft() throws {
        let target = try ModelFolder(folder.appendingPathComponent("run"))
        try target.prepare()
        // A process id that runs nothing here.
        var dead: pid_t = 4_000_000
        while kill(dead, 0) == 0 || errno == EPERM { dead -= 1 }
        let temporary = target.url.appendingPathComponent(".model.safetensors.synapse-tmp-\(dead)-1f")
        try Data("half".utf8).write(to: temporary)
        let staging = folder.appendingPathComponent(".run.synapse-new-\(dead)-2e")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        try Data("half".utf8).write(to: staging.appendingPathComponent("model.safetensors"))
        let legacy = target.url.appendingPathComponent(".model.json.\(dead).12345.tmp")  // the previous AtomicFile's name
        try Data("half".utf8).write(to: legacy)
        let mine = target.url.appendingPathComponent(".log.csv.synapse-tmp-\(getpid())-3d")
        try Data("being written".utf8).write(to: mine)
        try target.prepare()
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: legacy.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: mine.path), "a running process's temporary file is kept")
    }

    /// Problems with the output folder are reported before training, as "path: problem".
    func testPrepareReportsFoldersThatWillNotDo() throws {
        let file = folder.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try ModelFolder(file).prepare()) { error in
            XCTAssertEqual("\(error)", "\(file.path): exists and is not a folder")
        }
        let under = file.appendingPathComponent("run")
        XCTAssertThrowsError(try ModelFolder(under).prepare()) { error in
            XCTAssertEqual("\(error)", "\(file.path): exists and is not a folder", "the folder cannot be created under a file")
        }
        let foreign = folder.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: foreign.appendingPathComponent("photos"), withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try ModelFolder(foreign).prepare()) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(foreign.path): holds notes.txt, photos, which is not part of a saved model"), "\(error)")
        }
        XCTAssertThrowsError(try ModelFolder(URL(fileURLWithPath: "/")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: foreign.appendingPathComponent("notes.txt").path), "nothing was touched")
    }
}
