import Foundation

/// Writes files so that a crash never leaves a half-written one: the bytes go to a temporary
/// file in the same folder, are flushed to disk, and the temporary file is renamed over the
/// target in one step.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw SynapseError.file(path: url.path, problem: "cannot create a temporary file in \(folder.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw SynapseError.file(path: url.path, problem: "cannot rename the temporary file: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if error is SynapseError { throw error }
            throw SynapseError.file(path: url.path, problem: "cannot write: \(error.localizedDescription)")
        }
    }
}
