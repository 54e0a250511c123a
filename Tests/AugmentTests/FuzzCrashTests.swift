import Augment
import Dense
import Foundation
import TestSupport
import XCTest

/// The inputs with which the fuzzers broke the PNG and pipeline readers (Fuzz/Crashes): each is
/// now an error naming the file, never a trap, an out-of-memory or a hang.
final class FuzzCrashTests: XCTestCase {
    func testPNGCrashesAreErrors() throws {
        let inputs = try fuzzCrashes("png")
        XCTAssertFalse(inputs.isEmpty)
        for url in inputs { assertRefuses(url) { _ = try PNG.read(url) } }
    }

    func testPipelineCrashesAreErrors() throws {
        let inputs = try fuzzCrashes("pipeline")
        XCTAssertEqual(inputs.count, 3)
        for url in inputs { assertRefuses(url) { _ = try Pipeline.load(from: url) } }
    }
}
