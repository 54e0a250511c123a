@testable import Dense
import Foundation
import XCTest

/// `fit` says what it does without being asked: one line an epoch when standard error is not a
/// terminal (as under the test runner), nothing with `verbose = false`.
final class ProgressDefaultTests: FolderTestCase {
    /// Runs `body` with standard error sent to a file; returns what it wrote there.
    func capturingStandardError(_ body: () throws -> Void) throws -> String {
        let url = folder.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let file = try FileHandle(forWritingTo: url)
        let saved = dup(STDERR_FILENO)
        dup2(file.fileDescriptor, STDERR_FILENO)
        defer { dup2(saved, STDERR_FILENO); close(saved); try? file.close() }
        try body()
        return try String(contentsOf: url, encoding: .utf8)
    }

    func trainer() throws -> (Trainer, Dataset) {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [2], [Linear(2, 2, random: random)])
        let data = try Dataset(inputs: Tensor(shape: [8, 2], values: (0..<16).map { Float($0 % 5) / 5 }),
                               targets: Tensor(shape: [8], values: (0..<8).map { Float($0 % 2) }))
        return (Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1), random: random), data)
    }

    func testFitShowsOneLineAnEpochByDefault() throws {
        let (trainer, data) = try trainer()
        let output = try capturingStandardError { try trainer.fit(data, epochs: 2, batchSize: 4) }
        let lines = output.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, output)
        XCTAssertTrue(lines[0].hasPrefix("Epoch 1/2: 2/2") && lines[1].hasPrefix("Epoch 2/2: 2/2"), output)
        XCTAssertTrue(lines[0].contains("loss: "), output)
    }

    func testVerboseFalseIsSilentAndAGivenBarIsNotDoubled() throws {
        let (trainer, data) = try trainer()
        trainer.verbose = false
        XCTAssertEqual(try capturingStandardError { try trainer.fit(data, epochs: 1, batchSize: 4) }, "")
        let (other, _) = try self.trainer()
        let output = try capturingStandardError { try other.fit(data, epochs: 1, batchSize: 4, callbacks: [ProgressBar()]) }
        XCTAssertEqual(output.split(separator: "\n").count, 1, output)
    }
}
