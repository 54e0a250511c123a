import Augment
import Dense
import Foundation
import TestSupport
import XCTest

/// JPEG files where images are read: image folders, the streamed source, folder augmentation.
final class JPEGFolderTests: FolderTestCase {
    /// a/photo.jpg (200 x 150), a/turned.JPEG (45 x 30, EXIF orientation 6), b/gray.png, b/notes.txt
    func makeFolder() throws -> URL {
        let root = folder.appendingPathComponent("photos", isDirectory: true)
        for sub in ["a", "b"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: JPEGCorpus.url("scaled_half.jpg"), to: root.appendingPathComponent("a/photo.jpg"))
        try FileManager.default.copyItem(at: JPEGCorpus.url("exif_6.jpg"), to: root.appendingPathComponent("a/turned.JPEG"))
        try FileManager.default.copyItem(at: JPEGCorpus.url("gray.expected.png"), to: root.appendingPathComponent("b/gray.png"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("b/notes.txt"))
        return root
    }

    func testFoldersListJPEGBesidePNG() throws {
        let images = try ImageFolder(root: try makeFolder())
        XCTAssertEqual(images.entries.map(\.path), ["a/photo.jpg", "a/turned.JPEG", "b/gray.png"])
        XCTAssertEqual(images.skipped, ["b/notes.txt"])
    }

    /// Without augmentation a large JPEG is decoded at a reduced scale, then resized exactly;
    /// with it, the pipeline sees the stored size (a 180 x 140 crop fits only there).
    func testTheSourceDecodesAtAReducedScaleOnlyWithoutAugmentation() throws {
        let images = try ImageFolder(root: try makeFolder())
        let format = try ImageFormat(width: 50, height: 37, channels: 3)
        let reports = Reports()
        let plain = try ImageFolderSource(folder: images, format: format, loaderThreads: 2, report: reports.add).loadAll()
        XCTAssertEqual(plain.inputs.shape, [3, 3, 37, 50])
        let expected = Tensor(shape: format.sampleShape)
        let reduced = try JPEG.decode(Data(contentsOf: images.url(of: images.entries[0])), path: "", fitting: (50, 37))
        XCTAssertEqual(reduced.scale, 4)
        format.write(try format.sized(reduced.image), to: expected.data)
        XCTAssertEqual(Array(plain.inputs.array[0..<expected.count]), expected.array)

        let pipeline = Pipeline(seed: 3, steps: [.init(.centerCrop(width: 180, height: 140))])
        let augmented = try ImageFolderSource(folder: images, format: format, pipeline: pipeline, loaderThreads: 2,
                                              cacheBytes: 1 << 20, report: reports.add)
        var batches = 0
        for epoch in 0..<2 {
            let stream = augmented.batches(order: [0], batchSize: 1, epoch: epoch, training: true)
            let (inputs, targets) = (Tensor(shape: [1] + format.sampleShape), Tensor(shape: [1]))
            while try stream.next(inputs: inputs, targets: targets) != nil { batches += 1 }
        }
        XCTAssertEqual(batches, 2)
        XCTAssertEqual(reports.lines, [], "the crop fits the stored size")
        // Validation from the same cache still gets the reduced decoding.
        let validation = try augmented.withoutAugmentation().loadAll()
        XCTAssertEqual(Array(validation.inputs.array[0..<expected.count]), expected.array)
    }

    func testFolderAugmentationReadsJPEGAndWritesEitherFormat() throws {
        let input = try makeFolder()
        let pipeline = Pipeline(seed: 9, steps: [.init(.flipHorizontal, probability: 0.5), .init(.resize(width: 20, height: 16))])
        var job = FolderAugmentation(input: input, output: folder.appendingPathComponent("png"), copies: 2, pipeline: pipeline)
        let png = try job.run()
        XCTAssertEqual([png.sources, png.written, png.notImage, png.failures.count], [3, 6, 1, 0])
        XCTAssertEqual(try ImageFile.read(job.output.appendingPathComponent("a/turned_aug1.png")).channels, 3)

        job.output = folder.appendingPathComponent("jpeg")
        (job.format, job.quality) = (.jpeg, 92)
        let jpeg = try job.run()
        XCTAssertEqual([jpeg.sources, jpeg.written, jpeg.notImage, jpeg.failures.count], [3, 6, 1, 0])
        for name in ["a/photo_aug0.jpg", "a/turned_aug1.jpg", "b/gray_aug0.jpg"] {
            let copy = try JPEG.read(job.output.appendingPathComponent(name))
            let twin = try PNG.read(folder.appendingPathComponent("png/" + name.replacingOccurrences(of: ".jpg", with: ".png")))
            XCTAssertEqual([copy.width, copy.height, copy.channels], [20, 16, twin.channels], name)
            let mean = Double(zip(copy.bytes, twin.bytes).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(copy.bytes.count)
            XCTAssertLessThan(mean, 6, "\(name): the same copy as the PNG run, up to JPEG's loss")
        }
        let manifest = try String(contentsOf: job.output.appendingPathComponent("manifest.csv"), encoding: .utf8)
        XCTAssertTrue(manifest.contains("a/photo.jpg,a/photo_aug0.jpg,"), manifest)
        job.quality = 0
        XCTAssertThrowsError(try job.run())
    }
}
