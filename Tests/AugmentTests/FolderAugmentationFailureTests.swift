import Augment
import Dense
import Foundation
import TestSupport
import XCTest

/// Outputs that cannot be written (a full disk, a file where a folder should be) are each
/// reported, and the rest of the run goes on.
final class FolderAugmentationFailureTests: FolderTestCase {
    func testEveryOutputThatCannotBeWrittenIsReported() throws {
        let input = folder.appendingPathComponent("input"), output = folder.appendingPathComponent("output")
        for (name, sub) in [("gray", "a"), ("rgb", "a"), ("rgba", "b")] {
            try FileManager.default.createDirectory(at: input.appendingPathComponent(sub), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: fixtureURL(name), to: input.appendingPathComponent("\(sub)/\(name).png"))
        }
        // A file where the output subfolder a/ belongs, and a folder where the manifest belongs:
        // those writes fail whatever the permissions (these tests may run as root).
        try FileManager.default.createDirectory(at: output.appendingPathComponent("manifest.csv"), withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: output.appendingPathComponent("a"))
        let pipeline = Pipeline(seed: 1, steps: [.init(.flipHorizontal, probability: 0.5)])
        let report = try FolderAugmentation(input: input, output: output, copies: 2, pipeline: pipeline).run()
        XCTAssertEqual(report.written, 2, "b/rgba's two copies")
        XCTAssertEqual(report.failures.map { $0.path.replacingOccurrences(of: output.path + "/", with: "") },
                       ["a/gray_aug0.png", "a/gray_aug1.png", "a/rgb_aug0.png", "a/rgb_aug1.png", "manifest.csv"])
        for failure in report.failures {
            XCTAssertTrue(failure.reason.hasPrefix(failure.path + ": "), "the reason names the file: \(failure.reason)")
        }
        XCTAssertTrue(report.summary.contains("5 failed"), report.summary)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent("b/rgba_aug1.png").path))
    }

    func testAnOutputFolderThatCannotBeCreatedIsReportedFirst() throws {
        let file = folder.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        let blocked = FolderAugmentation(input: folder.appendingPathComponent("in"), output: file.appendingPathComponent("out"),
                                         copies: 1, pipeline: Pipeline(seed: 1, steps: []))
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("in"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try blocked.run()) { error in
            XCTAssertEqual("\(error)", "\(file.path): exists and is not a folder")
        }
    }
}
