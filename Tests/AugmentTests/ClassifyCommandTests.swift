import Augment
import Dense
import Foundation
import TestSupport
import XCTest

/// The `classify` command end to end on a tiny two-class folder: train, evaluate, predict with a
/// broken file among good ones.
final class ClassifyCommandTests: FolderTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        try SampleCommand("classify").run(arguments)
    }

    /// Dark images with a bright top half are "top", with a bright bottom half "bottom".
    func makeFolder() throws -> URL {
        let root = folder.appendingPathComponent("shapes", isDirectory: true)
        let random = RandomGenerator(seed: 4)
        for (label, name) in ["bottom", "top"].enumerated() {
            let classFolder = root.appendingPathComponent(name, isDirectory: true)
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            for k in 0..<24 {
                let bytes = (0..<(12 * 12)).map { i -> UInt8 in
                    let bright = (i / 12 < 6) == (label == 1)
                    return UInt8(bright ? 160 + random.below(90) : random.below(60))
                }
                try PNG.write(try Image(width: 12, height: 12, channels: 1, bitDepth: 8, bytes: bytes),
                              to: classFolder.appendingPathComponent("\(k).png"))
            }
        }
        return root
    }

    func testTrainEvaluateAndPredictOnAFolder() throws {
        let images = try makeFolder()
        let output = folder.appendingPathComponent("model").path
        let trained = try run(["train", images.path, "--image-size", "12x12", "--epochs", "4", "--validation-split", "0.25",
                               "--workers", "1", "--batch-size", "8", "--lr", "0.01", "--output", output, "--quiet"])
        XCTAssertEqual(trained.status, 0, trained.errors)
        XCTAssertTrue(trained.output.contains("test accuracy: 100.00%"), trained.output)
        for file in ["model.safetensors", "model.json", "classes.json", "log.csv", "curves.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: output + "/" + file), file)
        }
        XCTAssertEqual(try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: output + "/classes.json"))),
                       ["bottom", "top"])

        let evaluated = try run(["evaluate", output + "/model.safetensors", images.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.errors)
        XCTAssertTrue(evaluated.output.contains("test accuracy: 100.00%"), evaluated.output)
        XCTAssertTrue(evaluated.output.contains("bottom") && evaluated.output.contains("top"), "classes named in the matrix")

        let broken = folder.appendingPathComponent("broken.png")
        try Data("no png here".utf8).write(to: broken)
        let files = [images.path + "/top/3.png", broken.path, images.path + "/bottom/5.png"]
        let predicted = try run(["predict", output + "/model.safetensors"] + files + ["--top", "2"])
        XCTAssertEqual(predicted.status, 1, "a file failed, so the exit status says so")
        let lines = predicted.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.map { $0.first }, [files[0], files[2]], "the good files still get their lines")
        XCTAssertEqual(lines.map { $0.count }, [5, 5], "path, then class and probability twice")
        XCTAssertEqual(lines.map { $0[1] }, ["top", "bottom"])
        for line in lines {
            let (first, second) = (Double(line[2])!, Double(line[4])!)
            XCTAssertGreaterThan(first, 0.5)
            XCTAssertEqual(first + second, 1, accuracy: 2e-4, "two classes: the probabilities add up to one")
        }
        XCTAssertTrue(predicted.errors.contains(broken.path) && predicted.errors.contains("not a readable PNG"), predicted.errors)
    }

    /// The same folder as JPEG files (quality 95, extensions in either case), and a broken JPEG
    /// named among the predictions.
    func testTrainEvaluateAndPredictOnJPEGFiles() throws {
        let images = try makeFolder()
        for name in ["bottom", "top"] {
            let classFolder = images.appendingPathComponent(name)
            for (k, file) in try FileManager.default.contentsOfDirectory(atPath: classFolder.path).sorted().enumerated() {
                let png = classFolder.appendingPathComponent(file)
                let jpeg = png.deletingPathExtension().appendingPathExtension(k % 2 == 0 ? "jpg" : "JPEG")
                try JPEG.write(try PNG.read(png), to: jpeg, quality: 95)
                try FileManager.default.removeItem(at: png)
            }
        }
        let output = folder.appendingPathComponent("model").path
        let trained = try run(["train", images.path, "--image-size", "12x12", "--epochs", "4", "--validation-split", "0.25",
                               "--workers", "1", "--batch-size", "8", "--lr", "0.01", "--output", output, "--quiet"])
        XCTAssertEqual(trained.status, 0, trained.errors)
        XCTAssertTrue(trained.output.contains("test accuracy: 100.00%"), trained.output)
        let evaluated = try run(["evaluate", output + "/model.safetensors", images.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.errors)
        XCTAssertTrue(evaluated.output.contains("test accuracy: 100.00%"), evaluated.output)
        let broken = folder.appendingPathComponent("broken.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).write(to: broken)
        let files = [images.path + "/top/0.jpg", broken.path]
        let predicted = try run(["predict", output + "/model.safetensors"] + files)
        XCTAssertEqual(predicted.status, 1)
        XCTAssertEqual(predicted.output.split(separator: "\n").map { $0.split(separator: "\t")[1] }, ["top"])
        XCTAssertTrue(predicted.errors.contains(broken.path + ": not a readable JPEG"), predicted.errors)
    }

    func testEvaluateRefusesAFolderWithAnotherClass() throws {
        let images = try makeFolder()
        let output = folder.appendingPathComponent("model").path
        XCTAssertEqual(try run(["train", images.path, "--image-size", "12x12", "--epochs", "1", "--workers", "1",
                                "--output", output, "--quiet"]).status, 0)
        try FileManager.default.createDirectory(at: images.appendingPathComponent("left"), withIntermediateDirectories: true)
        let evaluated = try run(["evaluate", output + "/model.safetensors", images.path])
        XCTAssertNotEqual(evaluated.status, 0)
        XCTAssertTrue(evaluated.errors.contains("left") && evaluated.errors.contains(images.path), evaluated.errors)
    }

    /// The usual mistakes, each a message saying what was given and what to pass; no-op settings
    /// refused before anything is scanned or written.
    func testMistakesAreNamedBeforeAnythingRuns() throws {
        let images = try makeFolder()
        let output = folder.appendingPathComponent("model")
        let noEpochs = try run(["train", images.path, "--epochs", "0", "--output", output.path])
        XCTAssertNotEqual(noEpochs.status, 0)
        XCTAssertTrue(noEpochs.errors.contains("--epochs must be at least 1"), noEpochs.errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "nothing written")
        let noBatch = try run(["train", images.path, "--batch-size", "0", "--output", output.path])
        XCTAssertTrue(noBatch.errors.contains("--batch-size"), noBatch.errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))

        XCTAssertEqual(try run(["train", images.path, "--image-size", "12x12", "--epochs", "1", "--workers", "1",
                                "--output", output.path, "--quiet"]).status, 0)
        // The output folder and the .json name the model set as well as the .safetensors does.
        for model in [output.path, output.path + "/model.json"] {
            let predicted = try run(["predict", model, images.path + "/top/0.png"])
            XCTAssertEqual(predicted.status, 0, predicted.errors)
            XCTAssertTrue(predicted.output.hasPrefix(images.path + "/top/0.png\t"), predicted.output)
        }
        let onFolder = try run(["predict", output.path, images.path + "/top"])
        XCTAssertTrue(onFolder.errors.contains("a folder, not an image file"), onFolder.errors)
        let onClass = try run(["evaluate", output.path, images.path + "/top"])
        XCTAssertNotEqual(onClass.status, 0)
        XCTAssertTrue(onClass.errors.contains("lie directly in this folder"), onClass.errors)

        try FileManager.default.createDirectory(at: images.appendingPathComponent("zempty"), withIntermediateDirectories: true)
        let empty = try run(["train", images.path, "--epochs", "1", "--output", folder.appendingPathComponent("other").path])
        XCTAssertTrue(empty.errors.contains("zempty") && empty.errors.contains("--allow-empty-classes"), empty.errors)
    }
}
