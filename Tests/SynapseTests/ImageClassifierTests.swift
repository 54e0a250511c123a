import Foundation
import Synapse
import TestSupport
import XCTest

/// The inference path: image files to class names through a saved model set.
final class ImageClassifierTests: FolderTestCase {
    /// Three classes of 12x12 RGB PNGs told apart by their dominant colour, with noise:
    /// `root/{blue,green,red}/k.png`, `perClass` each.
    func makeFolder(_ name: String, perClass: Int, seed: UInt64, classes: [String] = ["blue", "green", "red"]) throws -> URL {
        let root = folder.appendingPathComponent(name, isDirectory: true)
        let random = RandomGenerator(seed: seed)
        let channelOf = ["red": 0, "green": 1, "blue": 2]
        for name in classes {
            let classFolder = root.appendingPathComponent(name, isDirectory: true)
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            for k in 0..<perClass {
                var bytes = [UInt8](repeating: 0, count: 12 * 12 * 3)
                for p in 0..<(12 * 12) {
                    for c in 0..<3 {
                        let base = c == channelOf[name]! ? 150 : 40
                        bytes[p * 3 + c] = UInt8(base + random.below(90))
                    }
                }
                try PNG.write(try Image(width: 12, height: 12, channels: 3, bitDepth: 8, bytes: bytes),
                              to: classFolder.appendingPathComponent("\(k).png"))
            }
        }
        return root
    }

    func trainedClassifier() throws -> ImageClassifier {
        let train = try ImageFolder(root: makeFolder("train", perClass: 20, seed: 1))
        let format = try ImageFormat(width: 8, height: 8, channels: 3)
        let random = RandomGenerator(seed: 2)
        let model = try Sequential(inputShape: format.sampleShape, [
            try Conv2D(3, 4, kernelSize: 3, padding: .same, random: random), Activation(.relu),
            try MaxPool2D(2), Flatten(), Linear(4 * 4 * 4, train.classes.count, random: random),
        ])
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), random: random)
        trainer.verbose = false
        try trainer.fit(ImageFolderSource(folder: train, format: format, loaderThreads: 0).loadAll(), epochs: 15, batchSize: 10)
        return try ImageClassifier(model: model, classes: train.classes, format: format)
    }

    func testFilesBecomeClassNamesAndTheSavedSetPredictsTheSame() throws {
        let classifier = try trainedClassifier()
        let test = try makeFolder("test", perClass: 5, seed: 9)
        let files = ["blue", "green", "red"].flatMap { name in (0..<5).map { test.appendingPathComponent("\(name)/\($0).png") } }
        let predicted = try classifier.classify(files, top: 2)
        XCTAssertEqual(predicted.count, 15)
        XCTAssertTrue(predicted.allSatisfy { $0.count == 2 && $0[0].probability >= $0[1].probability })
        let correct = zip(files, predicted).filter { $0.0.deletingLastPathComponent().lastPathComponent == $0.1[0].className }.count
        XCTAssertGreaterThanOrEqual(correct, 14, "\(predicted.map { $0[0].className })")

        // Saved as a folder, the set loads from the folder, its .safetensors or its .json.
        let saved = folder.appendingPathComponent("model", isDirectory: true)
        try classifier.save(to: saved)
        for path in [saved, saved.appendingPathComponent("model.safetensors"), saved.appendingPathComponent("model.json")] {
            let again = try ImageClassifier.load(from: path)
            XCTAssertEqual(again.classes, classifier.classes)
            XCTAssertEqual(again.format, classifier.format)
            XCTAssertEqual(try again.classify(files, top: 2), predicted, "loaded from \(path.lastPathComponent)")
        }
        // One file at a time gives the batch's answer: the same classes; the probabilities to
        // float32 rounding, since OpenBLAS may order a product's sums by its row count (one row
        // or fifteen; it does on its Prescott kernels): 64 + 36 terms of order one, 1e-5 bounds it.
        let alone = try classifier.classify(files[4], top: 2)
        XCTAssertEqual(alone.map(\.className), predicted[4].map(\.className))
        XCTAssertEqual(alone.map(\.index), predicted[4].map(\.index))
        for (a, b) in zip(alone, predicted[4]) { XCTAssertEqual(a.probability, b.probability, accuracy: 1e-5) }
    }

    func testATestFolderLackingAClassIsNumberedByTheModelsClasses() throws {
        let classifier = try trainedClassifier()
        let partial = try makeFolder("partial", perClass: 5, seed: 11, classes: ["green", "red"])
        let matrix = try classifier.confusionMatrix(onFolder: partial, loaderThreads: 0)
        XCTAssertGreaterThanOrEqual(matrix.accuracy, 0.9, "numbered as the training folder: green is class 1, red class 2")
        // Listed by itself, the folder would number green 0 and red 1: the classifier refuses it.
        let own = try ImageFolderSource(folder: ImageFolder(root: partial), format: classifier.format, loaderThreads: 0)
        XCTAssertThrowsError(try classifier.confusionMatrix(on: own)) { error in
            XCTAssertTrue("\(error)".contains("the model's are blue, green, red"), "\(error)")
        }
    }

    func testMistakesAreNamed() throws {
        let classifier = try trainedClassifier()
        let test = try makeFolder("test", perClass: 1, seed: 9)
        XCTAssertThrowsError(try classifier.classify(test.appendingPathComponent("red"))) { error in
            XCTAssertTrue("\(error)".contains("a folder, not an image file"), "\(error)")
        }
        XCTAssertThrowsError(try classifier.classify(test.appendingPathComponent("red/missing.png"))) { error in
            XCTAssertTrue("\(error)".contains("missing.png: no such file"), "\(error)")
        }
        XCTAssertThrowsError(try ImageClassifier(model: classifier.model, classes: ["a", "b"], format: classifier.format)) { error in
            XCTAssertTrue("\(error)".contains("2 class names"), "\(error)")
        }
        XCTAssertThrowsError(try ImageClassifier(model: classifier.model, classes: classifier.classes,
                                                 format: try ImageFormat(width: 8, height: 8, channels: 1)))
        XCTAssertThrowsError(try ImageClassifier.load(from: folder.appendingPathComponent("nothing-here")))
    }

    func testAFormatGivesExactlyTheModelsInput() throws {
        // An RGB photo read for a gray model becomes one luminance channel at the model's size.
        let test = try makeFolder("test", perClass: 1, seed: 5)
        let gray = try ImageFormat(width: 6, height: 4, channels: 1)
        let file = test.appendingPathComponent("red/0.png")
        let input = try gray.tensor(from: file)
        XCTAssertEqual(input.shape, [1, 1, 4, 6])
        let image = try gray.sized(ImageFile.read(file))
        let expected = Tensor(shape: [1, 1, 4, 6])
        gray.write(image, to: expected.data)
        XCTAssertEqual(input.array, expected.array)
        XCTAssertEqual(try gray.tensor(from: [file, file]).shape, [2, 1, 4, 6])
    }
}
