import Foundation

/// A folder that holds one saved model set (weights, architecture, vocabulary or class names,
/// log, curves) and the training checkpoint, replaced as a whole: a kill at any moment leaves
/// the old complete set or the new complete set, never new weights beside an old architecture.
///
/// How: `replace` writes the new set into a fresh sibling folder `.<name>.synapse-new-<tag>`
/// and flushes it; then renames the current folder aside to `.<name>.synapse-old-<tag>`,
/// renames the new one into place, and removes the old one. The old folder is renamed aside only
/// once the new one is complete, so after a crash between the two renames (the folder itself
/// missing, an `old` beside a `new` with the same tag) the `new` folder is the complete new set:
/// `prepare` (the next run) renames it into place, and `readableWeights` (a loader that must not
/// write) reads from it. Any other leftover is an unfinished set and is removed by `prepare`.
///
///     let folder = try ModelFolder(URL(fileURLWithPath: "runs/lenet"))
///     try folder.prepare()                          // before training: problems show up now
///     ...
///     try folder.replace { staging in
///         try model.save(to: staging.appendingPathComponent("model.safetensors"))
///     }
public struct ModelFolder {
    /// The folder, as an absolute path.
    public let url: URL
    /// Names `prepare` accepts in an existing folder. Anything else (a folder, a user's file)
    /// makes it refuse: replacing the folder as a whole would delete them.
    public var expectedNames: Set<String> = ModelFolder.standardNames
    /// Files `replace` carries from the current folder into the new one unless the new set
    /// writes them itself: the training checkpoint.
    public var carriedNames: [String] = [ModelFolder.checkpointName, "checkpoint.json"]
    /// Called after each step of `replace` (a test injects crashes here).
    var afterStep: ((ReplaceStep) throws -> Void)?

    /// The training checkpoint's file name in a model folder.
    public static let checkpointName = "checkpoint.safetensors"
    /// The file names a model folder may hold that Synapse writes (weights, architecture, log, curves,
    /// vocabulary, alphabet, classes, checkpoint): `expectedNames` by default.
    public static let standardNames: Set<String> = [
        "model.safetensors", "model.json", "log.csv", "curves.svg", "vocabulary.json", "alphabet.json",
        "classes.json", checkpointName, "checkpoint.json",
    ]
    static let newMarker = ".synapse-new-", oldMarker = ".synapse-old-"

    /// The steps of `replace`, in order.
    enum ReplaceStep: Int, CaseIterable { case written, flushed, oldMovedAside, newMovedIn, oldRemoved }

    /// The model folder at `url` (it need not exist yet).
    /// - Throws: `SynapseError.file` for `/`, `..` or a URL without a last component: a folder that
    ///   `replace` would swap must be a folder of its own.
    public init(_ url: URL) throws {
        let absolute = url.standardizedFileURL
        guard absolute.path != "/", !absolute.lastPathComponent.isEmpty, absolute.lastPathComponent != ".." else {
            throw SynapseError.file(path: url.path, problem: "cannot hold a saved model: give a folder of its own")
        }
        self.url = absolute
    }

    /// The training checkpoint's file in the folder (`checkpoint.safetensors`).
    public var checkpointURL: URL { url.appendingPathComponent(ModelFolder.checkpointName) }
    var parent: URL { url.deletingLastPathComponent() }
    var name: String { url.lastPathComponent }

    // MARK: - One writer at a time

    /// An advisory lock (flock) on `.<folder>.lock` beside the folder, held until it is released
    /// or the process ends (a crash releases it too): two runs given the same output folder
    /// would otherwise replace each other's sets and checkpoints.
    public final class Lock {
        private var fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { release() }
        /// Gives the folder up to other runs.
        public func release() {
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    /// The lock file's path: hidden, beside the folder (not in it, since the folder is replaced
    /// as a whole).
    public var lockURL: URL { parent.appendingPathComponent(".\(name).lock") }

    /// Takes the folder for this run, or throws an error naming it when another run holds it.
    public func lock() throws -> Lock {
        try AtomicFile.createFolder(parent)
        let fd = open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SynapseError.file(path: url.path, problem: "cannot create the lock file \(lockURL.lastPathComponent) beside it: \(AtomicFile.errorText())")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let text = AtomicFile.errorText()
            close(fd)
            throw SynapseError.file(path: url.path, problem: busy
                ? "another run is writing this folder (it holds \(lockURL.path)); give this run another --output or wait for it to end"
                : "cannot lock \(lockURL.lastPathComponent): \(text)")
        }
        return Lock(fd: fd)
    }

    // MARK: - Before training

    /// Finishes a replace a crash interrupted, removes what killed runs left behind, creates the
    /// folder and checks that it and its parent can be written and that it holds nothing but a
    /// saved model. Call it before training, so that a folder that will not do is reported at
    /// once, in the form "path: problem".
    public func prepare() throws {
        try AtomicFile.createFolder(parent)
        try recover()
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw SynapseError.file(path: url.path, problem: "exists and is not a folder") }
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: url.path) } catch {
                throw SynapseError.file(path: url.path, problem: "cannot list the folder: \(AtomicFile.errorText(EACCES))")
            }
            AtomicFile.removeStaleTemporaries(in: url)
            let foreign = names.filter { !expectedNames.contains($0) && AtomicFile.ownerPID($0, marker: AtomicFile.temporaryMarker) == nil }.sorted()
            guard foreign.isEmpty else {
                throw SynapseError.file(path: url.path, problem: "holds \(foreign.prefix(5).joined(separator: ", "))\(foreign.count > 5 ? ", ..." : ""), "
                                        + "which is not part of a saved model; the folder is replaced as a whole when the model is saved, so give a new or empty folder")
            }
        } else {
            try AtomicFile.createFolder(url)
        }
        try probeWritable(url)
        try probeWritable(parent)
    }

    /// Creates and removes a file in `folder`: the only reliable test that it can be written.
    func probeWritable(_ folder: URL) throws {
        let probe = folder.appendingPathComponent(".\(name)\(AtomicFile.temporaryMarker)\(getpid())-probe")
        let fd = open(probe.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SynapseError.file(path: folder.path, problem: "cannot write in this folder: \(AtomicFile.errorText())") }
        close(fd)
        unlink(probe.path)
    }

    /// Leftover sibling folders of this one: (tag, is new, url).
    func leftovers() -> [(tag: String, isNew: Bool, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        return names.sorted().compactMap { entry in
            for (marker, isNew) in [(ModelFolder.newMarker, true), (ModelFolder.oldMarker, false)] {
                let prefix = ".\(name)\(marker)"
                if entry.hasPrefix(prefix) { return (String(entry.dropFirst(prefix.count)), isNew, parent.appendingPathComponent(entry)) }
            }
            return nil
        }
    }

    static func pid(ofTag tag: String) -> pid_t? { tag.split(separator: "-").first.flatMap { pid_t($0) } }

    /// Completes or rolls back a replace that a crash cut short; removes unfinished sets.
    func recover() throws {
        let found = leftovers().filter { entry in
            // A replace still running in another process is left alone.
            guard let pid = ModelFolder.pid(ofTag: entry.tag) else { return true }
            return pid == getpid() || !AtomicFile.isRunning(pid)
        }
        if !FileManager.default.fileExists(atPath: url.path), let old = found.first(where: { !$0.isNew }) {
            // Killed between "old aside" and "new in": the new set with the same tag is complete.
            let source = found.first { $0.isNew && $0.tag == old.tag }?.url ?? old.url
            guard rename(source.path, url.path) == 0 else {
                throw SynapseError.file(path: url.path, problem: "cannot finish the interrupted save from \(source.lastPathComponent): \(AtomicFile.errorText())")
            }
            AtomicFile.syncFolder(parent)
        }
        for entry in found where FileManager.default.fileExists(atPath: entry.url.path) {
            do { try FileManager.default.removeItem(at: entry.url) } catch {
                throw SynapseError.file(path: entry.url.path, problem: "cannot remove what an interrupted save left behind: \(error.localizedDescription)")
            }
        }
    }

    // MARK: - Replacing the set

    /// Replaces the folder's contents as a whole with the files `write` puts into the folder it
    /// is given, plus `carriedNames` from the current folder when `write` does not make them.
    public func replace(_ write: (URL) throws -> Void) throws {
        try AtomicFile.createFolder(parent)
        try recover()
        let tag = "\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let staging = parent.appendingPathComponent(".\(name)\(ModelFolder.newMarker)\(tag)")
        let aside = parent.appendingPathComponent(".\(name)\(ModelFolder.oldMarker)\(tag)")
        func fail(_ problem: String) -> SynapseError { .file(path: url.path, problem: problem) }
        guard mkdir(staging.path, 0o755) == 0 else { throw fail("cannot create \(staging.lastPathComponent): \(AtomicFile.errorText())") }
        var movedAside = false
        do {
            try write(staging)
            for carried in carriedNames {
                let (from, to) = (url.appendingPathComponent(carried), staging.appendingPathComponent(carried))
                guard FileManager.default.fileExists(atPath: from.path), !FileManager.default.fileExists(atPath: to.path) else { continue }
                // A hard link costs nothing; a copy where links are not possible.
                if link(from.path, to.path) != 0 {
                    do { try FileManager.default.copyItem(at: from, to: to) } catch {
                        throw fail("cannot carry \(carried) into the new set: \(error.localizedDescription)")
                    }
                }
            }
            try afterStep?(.written)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? [] {
                let fd = open(staging.appendingPathComponent(entry).path, O_RDONLY | O_CLOEXEC)
                if fd >= 0 { _ = fsync(fd); close(fd) }
            }
            AtomicFile.syncFolder(staging)
            try afterStep?(.flushed)
            if FileManager.default.fileExists(atPath: url.path) {
                guard rename(url.path, aside.path) == 0 else { throw fail("cannot move the old set aside: \(AtomicFile.errorText())") }
                movedAside = true
                try afterStep?(.oldMovedAside)
            }
            guard rename(staging.path, url.path) == 0 else { throw fail("cannot move the new set into place: \(AtomicFile.errorText())") }
            AtomicFile.syncFolder(parent)
            try afterStep?(.newMovedIn)
        } catch let crash as SimulatedCrash {
            throw crash  // a test's stand-in for a kill: nothing is cleaned up
        } catch {
            if movedAside { _ = rename(aside.path, url.path) }
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
        if movedAside { try? FileManager.default.removeItem(at: aside) }
        try afterStep?(.oldRemoved)
    }

    // MARK: - Reading

    /// The file `weights` names, or, if a crash interrupted a replace of its folder (the folder
    /// is missing and the complete new set waits beside it), the same file in the new set.
    /// Never writes, so a read-only loader can use it.
    public static func readableWeights(_ weights: URL) -> URL {
        if FileManager.default.fileExists(atPath: weights.path) { return weights }
        guard let folder = try? ModelFolder(weights.deletingLastPathComponent()),
              !FileManager.default.fileExists(atPath: folder.url.path) else { return weights }
        let found = folder.leftovers()
        guard let old = found.first(where: { !$0.isNew }) else { return weights }
        let source = found.first { $0.isNew && $0.tag == old.tag }?.url ?? old.url
        return source.appendingPathComponent(weights.lastPathComponent)
    }
}

/// Thrown by a test's step hook to stand for a kill: `replace` cleans nothing up.
struct SimulatedCrash: Error {}
