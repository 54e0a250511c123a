import Augment
import Conv
import Dense
import Foundation
import TestSupport
import XCTest

final class ImageFolderTests: FolderTestCase {
    /// A class folder per kind of PNG, a nested file, a broken PNG, a text file, an empty class
    /// and a stray file at the root:
    ///
    ///     gray/      a.png (8-bit gray), deep/b.png (16-bit gray), c.png (gray + alpha)
    ///     rgb/       a.png (8-bit RGB), b.png (RGBA), c.png (16-bit RGB), broken.png, notes.txt
    ///     zempty/    (nothing)
    ///     stray.png
    func makeFolder() throws -> URL {
        let root = folder.appendingPathComponent("images", isDirectory: true)
        for sub in ["gray/deep", "rgb", "zempty"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        func image(_ width: Int, _ height: Int, channels: Int, depth: Int, seed: UInt64) throws -> Image {
            let random = RandomGenerator(seed: seed)
            let count = width * height * channels * depth / 8
            return try Image(width: width, height: height, channels: channels, bitDepth: depth,
                             bytes: (0..<count).map { _ in UInt8(random.below(256)) })
        }
        try PNG.write(try image(6, 4, channels: 1, depth: 8, seed: 1), to: root.appendingPathComponent("gray/a.png"))
        try PNG.write(try image(5, 5, channels: 1, depth: 16, seed: 2), to: root.appendingPathComponent("gray/deep/b.png"))
        try PNG.write(try image(4, 4, channels: 2, depth: 8, seed: 3), to: root.appendingPathComponent("gray/c.png"))
        try PNG.write(try image(4, 4, channels: 3, depth: 8, seed: 4), to: root.appendingPathComponent("rgb/a.png"))
        try PNG.write(try image(8, 6, channels: 4, depth: 8, seed: 5), to: root.appendingPathComponent("rgb/b.png"))
        try PNG.write(try image(4, 4, channels: 3, depth: 16, seed: 6), to: root.appendingPathComponent("rgb/c.png"))
        try Data("not a png at all".utf8).write(to: root.appendingPathComponent("rgb/broken.png"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("rgb/notes.txt"))
        try PNG.write(try image(4, 4, channels: 1, depth: 8, seed: 7), to: root.appendingPathComponent("stray.png"))
        return root
    }

    func testListsClassesFilesAndWhatItSkipped() throws {
        let images = try ImageFolder(root: try makeFolder(), allowEmptyClasses: true)
        XCTAssertEqual(images.classes, ["gray", "rgb", "zempty"])
        XCTAssertEqual(images.entries.map(\.path), ["gray/a.png", "gray/c.png", "gray/deep/b.png",
                                                    "rgb/a.png", "rgb/b.png", "rgb/broken.png", "rgb/c.png"])
        XCTAssertEqual(images.entries.map(\.label), [0, 0, 0, 1, 1, 1, 1])
        XCTAssertEqual(images.emptyClasses, ["zempty"])
        XCTAssertEqual(images.skipped, ["rgb/notes.txt", "stray.png"])
        XCTAssertTrue(images.summary.contains("zempty: 0 (empty class folder)"), images.summary)
    }

    func testAnEmptyClassFolderIsAnErrorUnlessAllowed() throws {
        let root = try makeFolder()
        XCTAssertThrowsError(try ImageFolder(root: root)) { error in
            XCTAssertTrue("\(error)".contains("zempty") && "\(error)".contains("allow empty classes"), "\(error)")
        }
        // A test folder listed with a model's classes may lack one.
        XCTAssertEqual(try ImageFolder(root: root, classes: ["gray", "rgb", "zempty"]).emptyClasses, ["zempty"])
    }

    func testSymbolicLinksAreFollowedAndALoopEnds() throws {
        let root = try makeFolder()
        let manager = FileManager.default
        let elsewhere = folder.appendingPathComponent("elsewhere", isDirectory: true)
        try manager.createDirectory(at: elsewhere.appendingPathComponent("more"), withIntermediateDirectories: true)
        try manager.copyItem(at: root.appendingPathComponent("rgb/a.png"), to: elsewhere.appendingPathComponent("x.png"))
        try manager.copyItem(at: root.appendingPathComponent("rgb/a.png"), to: elsewhere.appendingPathComponent("more/y.png"))
        try manager.createSymbolicLink(at: root.appendingPathComponent("zempty/linked.png"),
                                       withDestinationURL: elsewhere.appendingPathComponent("x.png"))
        try manager.createSymbolicLink(at: root.appendingPathComponent("zempty/more"),
                                       withDestinationURL: elsewhere.appendingPathComponent("more"))
        // A link from inside a class folder back to that folder: listed once, not forever.
        try manager.createSymbolicLink(at: root.appendingPathComponent("gray/deep/loop"),
                                       withDestinationURL: root.appendingPathComponent("gray"))
        try manager.createSymbolicLink(at: root.appendingPathComponent("rgb/dangling.png"),
                                       withDestinationURL: folder.appendingPathComponent("nowhere.png"))
        let images = try ImageFolder(root: root)
        XCTAssertEqual(images.entries.filter { $0.label == 2 }.map(\.path), ["zempty/linked.png", "zempty/more/y.png"])
        XCTAssertEqual(images.entries.filter { $0.label == 0 }.count, 3, "the loop adds nothing: \(images.entries)")
        XCTAssertTrue(images.skipped.contains("rgb/dangling.png"), "\(images.skipped)")
    }

    func testAClassFolderGivenAsTheRootSaysSo() throws {
        let root = try makeFolder()
        XCTAssertThrowsError(try ImageFolder(root: root.appendingPathComponent("rgb"), classes: ["gray", "rgb"])) { error in
            XCTAssertTrue("\(error)".contains("lie directly in this folder"), "\(error)")
        }
    }

    func testAFolderWithAnUnknownClassIsRefusedWhenClassesAreGiven() throws {
        let root = try makeFolder()
        XCTAssertThrowsError(try ImageFolder(root: root, classes: ["gray", "zempty"])) { error in
            XCTAssertTrue("\(error)".contains("rgb") && "\(error)".contains(root.path), "\(error)")
        }
        let numbered = try ImageFolder(root: root, classes: ["other", "gray", "rgb", "zempty"])
        XCTAssertEqual(Set(numbered.entries.map(\.label)), [1, 2], "classes keep the given numbering")
        XCTAssertThrowsError(try ImageFolder(root: folder.appendingPathComponent("missing"))) { error in
            XCTAssertTrue("\(error)".contains("missing"), "\(error)")
        }
    }

    /// Every kind of PNG becomes the format's channels and size; the broken file is reported
    /// once, by name, and left out.
    func testEveryKindOfPNGBecomesASampleAndABrokenOneIsSkipped() throws {
        let images = try ImageFolder(root: try makeFolder(), allowEmptyClasses: true)
        for channels in [1, 3] {
            let reports = Reports()
            let format = try ImageFormat(width: 4, height: 4, channels: channels)
            let source = try ImageFolderSource(folder: images, format: format, loaderThreads: 2, report: reports.add)
            let data = try source.loadAll()
            XCTAssertEqual(data.inputs.shape, [6, channels, 4, 4])
            XCTAssertEqual(data.targets.array, [0, 0, 0, 1, 1, 1])
            XCTAssertTrue(data.inputs.array.allSatisfy { $0 >= 0 && $0 <= 1 })
            _ = try source.loadAll()
            XCTAssertEqual(reports.lines.count, 1, "reported once, however often it is met: \(reports.lines)")
            XCTAssertTrue(reports.lines.first?.contains("rgb/broken.png: not a readable PNG") == true, "\(reports.lines)")
        }
    }

    func testChannelConversionsAndScaling() throws {
        let format1 = try ImageFormat(width: 1, height: 1, channels: 1)
        let format3 = try ImageFormat(width: 1, height: 1, channels: 3)
        var out = [Float](repeating: -1, count: 3)
        let rgb = try Image(width: 1, height: 1, channels: 3, bitDepth: 8, bytes: [255, 0, 51])
        format1.write(rgb, to: &out)
        XCTAssertEqual(out[0], 0.299 + 0.114 * 0.2, accuracy: 1e-6, "luminance of ITU-R 601-2")
        let gray16 = try Image(width: 1, height: 1, channels: 1, bitDepth: 16, bytes: withUnsafeBytes(of: UInt16(32768)) { Array($0) })
        format3.write(gray16, to: &out)
        XCTAssertEqual(out, Array(repeating: Float(32768) / 65535, count: 3), "gray repeated, 16 bits scaled")
        let halfRed = try Image(width: 1, height: 1, channels: 4, bitDepth: 8, bytes: [255, 0, 0, 51])
        format3.write(halfRed, to: &out)
        XCTAssertEqual(out, [1, 0, 0], "alpha dropped by default")
        try ImageFormat(width: 1, height: 1, channels: 3, alpha: .white).write(halfRed, to: &out)
        XCTAssertEqual(out[0], 1, accuracy: 1e-6)
        XCTAssertEqual(out[1], 0.8, accuracy: 1e-6, "over white: 0 x 0.2 + 1 x 0.8")
        try ImageFormat(width: 1, height: 1, channels: 3, alpha: .black).write(halfRed, to: &out)
        XCTAssertEqual(out[0], 0.2, accuracy: 1e-6)
        XCTAssertEqual(out[1], 0, accuracy: 1e-6)
    }

    func testCenterCropKeepsTheMiddleAtTheTargetRatio() throws {
        // A 6 x 2 image whose middle two columns are white: a centre crop to 1 x 1 keeps them.
        let wide = try Image(width: 6, height: 2, channels: 1, bitDepth: 8, bytes: [0, 0, 255, 255, 0, 0, 0, 0, 255, 255, 0, 0])
        let cropped = try ImageFormat(width: 2, height: 2, channels: 1, fit: .centerCrop).sized(wide)
        XCTAssertEqual(cropped.bytes, [255, 255, 255, 255])
        let stretched = try ImageFormat(width: 2, height: 2, channels: 1, fit: .resize).sized(wide)
        XCTAssertNotEqual(stretched.bytes, [255, 255, 255, 255])
    }

    /// Loader threads change when a batch is decoded, never what it holds.
    func testTheSameBatchesForAnyNumberOfLoaderThreads() throws {
        let images = try ImageFolder(root: try makeFolder(), allowEmptyClasses: true)
        let pipeline = Pipeline(seed: 3, steps: [
            .init(.flipHorizontal, probability: 0.5),
            .init(.rotate(degrees: -20...20, interpolation: .bilinear, fill: .black, expand: false)),
            .init(.randomCrop(width: 4, height: 4, padding: 1)),
        ])
        let format = try ImageFormat(width: 4, height: 4, channels: 3)
        func batches(threads: Int, epoch: Int) throws -> [[Float]] {
            let source = try ImageFolderSource(folder: images, format: format, pipeline: pipeline, loaderThreads: threads, prefetch: 2)
            let stream = source.batches(order: [5, 0, 3, 6, 1, 2, 4], batchSize: 2, epoch: epoch, training: true)
            let x = Tensor(shape: [2, 3, 4, 4]), y = Tensor(shape: [2])
            var all: [[Float]] = []
            while let rows = try stream.next(inputs: x, targets: y) {
                all.append(Array(x.buffer.prefix(rows * 48)) + Array(y.buffer.prefix(rows)))
            }
            return all
        }
        let reference = try batches(threads: 0, epoch: 1)
        XCTAssertEqual(reference.count, 4)
        XCTAssertEqual(reference.map(\.count), [49, 2 * 49, 2 * 49, 49], "the broken file (5) leaves its batch one short")
        XCTAssertEqual(try batches(threads: 1, epoch: 1), reference)
        XCTAssertEqual(try batches(threads: 4, epoch: 1), reference)
        XCTAssertNotEqual(try batches(threads: 4, epoch: 2), reference, "another epoch, other draws")
    }

    /// Without augmentation, streamed batches are those of the same images held in memory.
    func testStreamingEqualsInMemoryWithoutAugmentation() throws {
        let images = try ImageFolder(root: try makeFolder(), allowEmptyClasses: true)
        let format = try ImageFormat(width: 4, height: 4, channels: 1)
        let source = try ImageFolderSource(folder: images, format: format, loaderThreads: 3, report: { _ in })
        let memory = try source.loadAll()
        // Sample 5 of the folder is the broken file: take the readable ones, as loadAll did.
        let readable = try source.selecting([0, 1, 2, 3, 4, 6]) as! ImageFolderSource
        let order = RandomGenerator(seed: 11).permutation(6)
        let streamed = readable.batches(order: order, batchSize: 4, epoch: 0, training: true)
        let inMemory = memory.batches(order: order, batchSize: 4, epoch: 0, training: true)
        let (x1, y1, x2, y2) = (Tensor(shape: [4, 1, 4, 4]), Tensor(shape: [4]), Tensor(shape: [4, 1, 4, 4]), Tensor(shape: [4]))
        while let rows = try streamed.next(inputs: x1, targets: y1) {
            XCTAssertEqual(try inMemory.next(inputs: x2, targets: y2), rows)
            XCTAssertEqual(Array(x1.buffer.prefix(rows * 16)), Array(x2.buffer.prefix(rows * 16)))
            XCTAssertEqual(Array(y1.buffer.prefix(rows)), Array(y2.buffer.prefix(rows)))
        }
        XCTAssertNil(try inMemory.next(inputs: x2, targets: y2))
    }

    /// The trainer takes a streamed source; with augmentation off it trains exactly as on the
    /// same images in memory (same seed, same products in one process).
    func testTrainerOnAStreamedSourceEqualsInMemoryTraining() throws {
        let images = try ImageFolder(root: try makeFolder(), allowEmptyClasses: true)
        let format = try ImageFormat(width: 4, height: 4, channels: 1)
        let source = try ImageFolderSource(folder: images, format: format, loaderThreads: 2, cacheBytes: 1 << 20)
        let readable = source.selecting([0, 1, 2, 3, 4, 6])
        let memory = try source.loadAll()
        func train(_ data: any DataSource) throws -> [Float] {
            let random = RandomGenerator(seed: 5)
            let model = try Sequential(inputShape: [1, 4, 4], [
                try Conv2D(1, 2, kernelSize: 3, padding: .same, random: random), Activation(.relu),
                Flatten(), Linear(2 * 16, 3, random: random),
            ])
            let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), random: random)
            try trainer.fit(data, epochs: 3, batchSize: 4, validation: .split(0.34, seed: 2))
            return model.parameters.flatMap(\.value.array)
        }
        XCTAssertEqual(try withBLASThreads(1) { try train(readable) }, try withBLASThreads(1) { try train(memory) })
    }
}

extension ImageFolderTests {
    /// The README's "Your own images" example, on the test folder.
    func testTheReadmeExampleRuns() throws {
        let random = RandomGenerator(seed: 1)
        let pipeline = Pipeline(seed: 1, steps: [.init(.flipHorizontal, probability: 0.5)])
        let trainer = { (model: Sequential) in
            Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(), random: random)
        }
        let folder = try ImageFolder(root: try makeFolder(), allowEmptyClasses: true)
        let format = try ImageFormat(width: 32, height: 32, channels: 3, fit: .centerCrop)
        let source = try ImageFolderSource(folder: folder, format: format, pipeline: pipeline, loaderThreads: 2)
        let model = try VGGSmall.make(channels: 3, height: 32, width: 32, classes: folder.classes.count, random: random)
        let history = try trainer(model).fit(source, epochs: 2, batchSize: 4, validation: .split(0.3, seed: 1))
        XCTAssertEqual(history.epochs.count, 2)
        XCTAssertEqual(history.epochs[0]["samples"], 5, "7 files, 2 held out (the broken one among them for this seed)")
        XCTAssertNotNil(history.epochs[1]["val_accuracy"])
    }
}

/// Collects report lines from loader threads.
final class Reports: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
    var add: @Sendable (String) -> Void { { [self] line in lock.lock(); stored.append(line); lock.unlock() } }
}
