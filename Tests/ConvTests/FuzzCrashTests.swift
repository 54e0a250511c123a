import Conv
import Dense
import Foundation
import TestSupport
import XCTest

/// The inputs with which the fuzzers broke the IDX reader and the model loader (Fuzz/Crashes):
/// each is now an error naming the file.
final class FuzzCrashTests: XCTestCase {
    func testIDXCrashesAreErrors() throws {
        let inputs = try fuzzCrashes("idx")
        XCTAssertFalse(inputs.isEmpty)
        for url in inputs { assertRefuses(url) { _ = try IDX.read(url) } }
    }

    /// Each architecture file, saved as m.json beside the weights of a small valid model, is
    /// refused by `Sequential.load` before a layer allocates.
    func testModelCrashesAreErrors() throws {
        let inputs = try fuzzCrashes("model")
        XCTAssertEqual(inputs.count, 4)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights = folder.appendingPathComponent("m.safetensors")
        try Sequential(inputShape: [6], [try Linear(6, 3, random: RandomGenerator(seed: 1))]).save(to: weights)
        for url in inputs {
            try FileManager.default.removeItem(at: folder.appendingPathComponent("m.json"))
            try FileManager.default.copyItem(at: url, to: folder.appendingPathComponent("m.json"))
            XCTAssertThrowsError(try Sequential.load(from: weights, registry: LayerRegistry.dense.merging(.conv)), url.lastPathComponent) { error in
                XCTAssertTrue("\(error)".contains("m.json"), "\(url.lastPathComponent): \(error)")
            }
        }
    }
}
