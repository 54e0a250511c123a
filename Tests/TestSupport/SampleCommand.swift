import Foundation
import XCTest

/// A sample's executable, built beside the test bundles (`swift build --build-tests` builds it),
/// run as a user runs it.
public struct SampleCommand {
    /// The executable's path.
    public let url: URL

    /// The executable called `name` (`classify`, `textclass`, ...). Without it the test is skipped
    /// on a developer's machine but fails under `CI=true`.
    public init(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for folder in [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let url = folder.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { self.url = url; return }
        }
        let missing = "the \(name) executable is not built beside the tests (swift build --build-tests builds it)"
        if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail(missing, file: file, line: line) }
        throw XCTSkip(missing)
    }

    /// Runs it with `arguments` to the end: its exit status, standard output and standard error.
    public func run(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let (out, err) = (Pipe(), Pipe())
        (process.standardOutput, process.standardError) = (out, err)
        try process.run()
        // Standard error is read on another thread, so that neither pipe fills while the other is read.
        final class Box: @unchecked Sendable { var data = Data() }
        let errors = Box(), group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors.data, as: UTF8.self))
    }
}
