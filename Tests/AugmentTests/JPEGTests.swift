import Augment
import Dense
import Foundation
import TestSupport
import XCTest

/// The JPEG corpus of Scripts/fixtures/make_jpeg_fixtures.py, read from its `cases.json`.
struct JPEGCorpus: Decodable {
    struct Case: Decodable {
        let file: String
        let expected: String?
        let error: String?
        let fitting: [Int]?
        let why: String
    }

    let pillow: String
    let libjpeg_turbo: String
    let cases: [Case]

    static func url(_ name: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/jpeg/\(name)")
    }

    static func load() throws -> JPEGCorpus {
        try JSONDecoder().decode(JPEGCorpus.self, from: Data(contentsOf: url("cases.json")))
    }
}

final class JPEGTests: FolderTestCase {
    /// The largest difference, in levels, between Synapse's decoding of a corpus file and Pillow's,
    /// by file; every file not named here must match exactly. None is needed with the library
    /// versions the corpus was checked against (Debian's libjpeg-turbo 2.1.5, Pillow 13.0's bundled
    /// 3.2.0): both use libjpeg's default accurate integer IDCT and fancy upsampling, whose
    /// results libjpeg-turbo keeps the same across versions.
    static let tolerance: [String: Int] = [:]

    /// Every file of the corpus decodes to Pillow's pixels (orientation applied, at the scale
    /// asked for) or is an error naming the file and saying what is wrong.
    func testDecodesThePillowCorpus() throws {
        let corpus = try JPEGCorpus.load()
        XCTAssertGreaterThanOrEqual(corpus.cases.count, 37)
        for item in corpus.cases {
            let url = JPEGCorpus.url(item.file)
            let fitting = item.fitting.map { (width: $0[0], height: $0[1]) }
            if let expected = item.expected {
                let want = try PNG.read(JPEGCorpus.url(expected))
                for image in [try JPEG.read(url, fitting: fitting), try ImageFile.read(url, fitting: fitting)] {
                    XCTAssertEqual([image.width, image.height, image.channels, image.bitDepth],
                                   [want.width, want.height, want.channels, 8], "\(item.file): \(item.why)")
                    guard image.bytes.count == want.bytes.count else { continue }
                    let difference = zip(image.bytes, want.bytes).map { abs(Int($0) - Int($1)) }.max() ?? 0
                    XCTAssertLessThanOrEqual(difference, Self.tolerance[item.file] ?? 0, "\(item.file): \(item.why)")
                }
            } else {
                XCTAssertThrowsError(try JPEG.read(url, fitting: fitting), item.file) { error in
                    guard case SynapseError.file(let path, let problem) = error else {
                        return XCTFail("\(item.file): \(error) is not a file error")
                    }
                    XCTAssertEqual(path, url.path, item.file)
                    XCTAssertTrue(problem.localizedCaseInsensitiveContains(item.error ?? ""), "\(item.file): \(problem)")
                }
                XCTAssertThrowsError(try ImageFile.read(url), item.file)
            }
        }
    }

    func testOrientationAndScaleAreReported() throws {
        for k in 1...8 {
            let decoded = try JPEG.decode(Data(contentsOf: JPEGCorpus.url("exif_\(k).jpg")), path: "exif_\(k).jpg")
            XCTAssertEqual(decoded.orientation, k)
            XCTAssertEqual([decoded.image.width, decoded.image.height], k >= 5 ? [30, 45] : [45, 30], "orientation \(k)")
            XCTAssertEqual(decoded.warningCount, 0)
        }
        let data = try Data(contentsOf: JPEGCorpus.url("scaled_half.jpg"))  // 200 x 150
        let scales = [(90, 70, 2), (100, 75, 2), (101, 75, 1), (40, 30, 4), (25, 19, 8), (26, 19, 4), (200, 150, 1)]
        for (w, h, scale) in scales {
            let decoded = try JPEG.decode(data, path: "scaled.jpg", fitting: (w, h))
            XCTAssertEqual(decoded.scale, scale, "\(w)x\(h)")
            XCTAssertEqual([decoded.image.width, decoded.image.height], [(200 + scale - 1) / scale, (150 + scale - 1) / scale])
            XCTAssertGreaterThanOrEqual(decoded.image.width, w)
            XCTAssertGreaterThanOrEqual(decoded.image.height, h)
        }
    }

    /// A truncated file is an error unless asked for; then the rest is filled and a warning
    /// counted.
    func testTruncatedFilesAreErrorsUnlessAllowed() throws {
        let data = try Data(contentsOf: JPEGCorpus.url("truncated.jpg"))
        XCTAssertThrowsError(try JPEG.decode(data, path: "t.jpg")) { XCTAssertTrue("\($0)".contains("t.jpg: not a readable JPEG: file is truncated"), "\($0)") }
        let decoded = try JPEG.decode(data, path: "t.jpg", allowTruncated: true)
        XCTAssertEqual([decoded.image.width, decoded.image.height], [45, 30])
        XCTAssertGreaterThan(decoded.warningCount, 0)
        XCTAssertTrue(decoded.warnings.contains { $0.contains("Premature end") }, "\(decoded.warnings)")
    }

    /// Every prefix of a small file, and every byte of it replaced, gives an image or an error
    /// naming the file: never a crash or a hang.
    func testDamagedFilesAreErrorsOrImagesNeverCrashes() throws {
        let original = [UInt8](try Data(contentsOf: JPEGCorpus.url("progressive_420.jpg")))
        var (images, errors) = (0, 0)
        func attempt(_ bytes: [UInt8]) {
            do {
                _ = try JPEG.decode(Data(bytes), path: "damaged.jpg", pixelLimit: 1 << 20)
                images += 1
            } catch SynapseError.file(let path, _) {
                XCTAssertEqual(path, "damaged.jpg")
                errors += 1
            } catch { XCTFail("\(error)") }
        }
        for length in stride(from: 0, to: original.count, by: 7) { attempt(Array(original[..<length])) }
        let random = RandomGenerator(seed: 21)
        for position in stride(from: 0, to: original.count, by: 3) {
            var bytes = original
            bytes[position] = UInt8(truncatingIfNeeded: random.next())
            attempt(bytes)
        }
        XCTAssertGreaterThan(images, 0)
        XCTAssertGreaterThan(errors, 0)
    }

    func testLimitsRefuseFromTheHeader() throws {
        let url = JPEGCorpus.url("baseline_420.jpg")  // 45 x 30
        XCTAssertThrowsError(try JPEG.read(url, pixelLimit: 45 * 30 - 1)) { XCTAssertTrue("\($0)".contains("exceeds the limit of 1349 pixels"), "\($0)") }
        XCTAssertEqual(try JPEG.read(url, pixelLimit: 45 * 30).width, 45)
        XCTAssertThrowsError(try JPEG.read(url, byteLimit: 45 * 30 * 3 - 1)) { XCTAssertTrue("\($0)".contains("needs more than the limit of 4049 bytes"), "\($0)") }
        XCTAssertEqual(try JPEG.read(url, byteLimit: 45 * 30 * 3).height, 30)
        // A progressive file keeps every coefficient until its last scan, at the stored size
        // whatever the scale: about 2 bytes a sample, held to the same limit.
        let progressive = JPEGCorpus.url("scaled_progressive.jpg")  // 200 x 150, 4:2:0
        XCTAssertThrowsError(try JPEG.read(progressive, fitting: (25, 19), byteLimit: 50_000)) {
            XCTAssertTrue("\($0)".contains(progressive.path + ": not a readable JPEG: the image's coefficient buffers"), "\($0)")
        }
        XCTAssertEqual(try JPEG.read(progressive, fitting: (25, 19), byteLimit: 200_000).width, 25)
        // A scaled decode needs fewer bytes.
        XCTAssertEqual(try JPEG.read(JPEGCorpus.url("scaled_half.jpg"), fitting: (100, 75), byteLimit: 100 * 75 * 3).width, 100)
    }

    func testWritesReadableFiles() throws {
        let photo = try PNG.read(JPEGCorpus.url("baseline_444.expected.png"))
        let gray = try PNG.read(JPEGCorpus.url("gray.expected.png"))
        for (image, channels) in [(photo, 3), (gray, 1)] {
            let url = folder.appendingPathComponent("out\(channels).jpg")
            try JPEG.write(image, to: url, quality: 95)
            let back = try ImageFile.read(url)
            XCTAssertEqual([back.width, back.height, back.channels], [image.width, image.height, channels])
            let mean = Double(zip(back.bytes, image.bytes).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(image.bytes.count)
            XCTAssertLessThan(mean, 3, "quality 95, \(channels) channels")
        }
        XCTAssertLessThan(try JPEG.encode(photo, quality: 20).count, try JPEG.encode(photo, quality: 95).count)
        // Alpha is dropped and 16-bit samples rounded to 8 bits.
        let rgba = try Image(width: 2, height: 1, channels: 4, bitDepth: 8, bytes: [200, 100, 50, 0, 200, 100, 50, 255])
        XCTAssertEqual(try JPEG.decode(JPEG.encode(rgba, quality: 100), path: "a.jpg").image.channels, 3)
        let deep = try Image(width: 1, height: 1, channels: 1, bitDepth: 16, bytes: [0xff, 0xff])
        XCTAssertEqual(try JPEG.decode(JPEG.encode(deep, quality: 100), path: "d.jpg").image.bytes, [255])
        XCTAssertThrowsError(try JPEG.encode(photo, quality: 0))
        XCTAssertThrowsError(try JPEG.encode(photo, quality: 101))
    }

    /// A file is read by its content, not its name.
    func testImageFileReadsByContent() throws {
        let image = try PNG.read(JPEGCorpus.url("gray.expected.png"))
        let png = folder.appendingPathComponent("really-a-png.jpg"), jpeg = folder.appendingPathComponent("really-a-jpeg.PNG")
        try PNG.write(image, to: png)
        try JPEG.write(image, to: jpeg)
        XCTAssertEqual(try ImageFile.read(png), image)
        XCTAssertEqual(try ImageFile.read(jpeg).width, image.width)
        XCTAssertTrue(ImageFile.isImage("a/b.JPG") && ImageFile.isImage("c.jpeg") && ImageFile.isImage("d.Png"))
        XCTAssertFalse(ImageFile.isImage("e.gif") || ImageFile.isImage("jpg"))
    }
}
