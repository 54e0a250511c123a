import Foundation

/// Writes files so that a crash never leaves a half-written one: the bytes go to a temporary
/// file in the same folder, are flushed to disk, and the temporary file is renamed over the
/// target in one step (then the folder is flushed, so the rename survives a power cut).
///
/// Temporary files are named `.<name>.synapse-tmp-<pid>-<random>`; `removeStaleTemporaries(in:)`
/// deletes those a killed process left behind.
public enum AtomicFile {
    static let temporaryMarker = ".synapse-tmp-"

    /// Writes `data` to `url` atomically, creating the folder if needed: afterwards the file holds
    /// either its old contents or all of `data`, even after a crash or a power cut.
    /// - Throws: the file system's error when the folder cannot be created or the file not written.
    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        try createFolder(folder)
        let temporary = folder.appendingPathComponent(
            ".\(url.lastPathComponent)\(temporaryMarker)\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SynapseError.file(path: url.path, problem: "cannot create a temporary file in \(folder.path): \(errorText())")
        }
        var isOpen = true
        do {
            try data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw SynapseError.file(path: url.path, problem: "cannot write: \(errorText())") }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw SynapseError.file(path: url.path, problem: "cannot write: \(errorText())") }
            isOpen = false
            guard close(fd) == 0 else {
                throw SynapseError.file(path: url.path, problem: "cannot write: \(errorText())")
            }
            guard rename(temporary.path, url.path) == 0 else {
                throw SynapseError.file(path: url.path, problem: "cannot rename the temporary file: \(errorText())")
            }
        } catch {
            if isOpen { close(fd) }  // never twice: the number may belong to another file by now
            unlink(temporary.path)
            throw error
        }
        syncFolder(folder)
    }

    /// Creates a folder and its parents, reporting a failure as "path: problem".
    public static func createFolder(_ folder: URL) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw SynapseError.file(path: folder.path, problem: "exists and is not a folder") }
            return
        }
        let parent = folder.deletingLastPathComponent()
        if parent.path != folder.path { try createFolder(parent) }
        guard mkdir(folder.path, 0o755) == 0 || errno == EEXIST else {
            throw SynapseError.file(path: folder.path, problem: "cannot create the folder: \(errorText())")
        }
    }

    /// Deletes temporary files that processes no longer running left in `folder` (a killed
    /// writer's `.<name>.synapse-tmp-<pid>-<random>`). Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var removed: [String] = []
        for name in names {
            guard let pid = ownerPID(name, marker: temporaryMarker), !isRunning(pid) else { continue }
            if unlink(folder.appendingPathComponent(name).path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// The process id in a name of the form `...<marker><pid>-<random>`, if it has that form.
    /// Also reads the names earlier versions used, `.<name>.<pid>.<random>.tmp`.
    static func ownerPID(_ name: String, marker: String) -> pid_t? {
        guard name.hasPrefix(".") else { return nil }
        if let range = name.range(of: marker, options: .backwards) {
            return name[range.upperBound...].split(separator: "-").first.flatMap { pid_t($0) }
        }
        let parts = name.split(separator: ".")
        guard marker == temporaryMarker, name.hasSuffix(".tmp"), parts.count >= 4,
              UInt32(parts[parts.count - 2]) != nil else { return nil }
        return pid_t(parts[parts.count - 3])
    }

    /// True when `pid` is this process or another one still running.
    static func isRunning(_ pid: pid_t) -> Bool {
        pid == getpid() || (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
    }

    /// Flushes a folder's entries (renames, creations) to disk; best effort.
    static func syncFolder(_ folder: URL) {
        let fd = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
