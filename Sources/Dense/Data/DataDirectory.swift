import Foundation

/// Where data sets live on disk: one folder per data set (`mnist/`, `imdb/`, `fashion-mnist/`)
/// under a root chosen, in order, by an explicit path (the samples' `--data DIR`), the
/// environment variable `SYNAPSE_DATA`, or `~/.cache/synapse`.
public struct DataDirectory: Sendable {
    /// The folder holding one subfolder per data set.
    public let root: URL

    /// Data sets under `root` (no environment variable consulted).
    public init(root: URL) { self.root = root }

    /// The root from `explicit`, else `SYNAPSE_DATA`, else `~/.cache/synapse` (under
    /// `XDG_CACHE_HOME` when set).
    public static func resolve(_ explicit: String? = nil) -> DataDirectory {
        let environment = ProcessInfo.processInfo.environment
        if let path = explicit ?? environment["SYNAPSE_DATA"], !path.isEmpty {
            return DataDirectory(root: URL(fileURLWithPath: path, isDirectory: true))
        }
        let cache = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache", isDirectory: true)
        return DataDirectory(root: cache.appendingPathComponent("synapse", isDirectory: true))
    }

    /// The folder of the data set named `dataset` (`mnist`, `imdb`, ...) under the root; it may not
    /// exist yet.
    public func folder(_ dataset: String) -> URL { root.appendingPathComponent(dataset, isDirectory: true) }
}
