@testable import Conv
import Dense
import Foundation
import XCTest

final class IDXTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// An unsigned-byte IDX file with the given dimensions and elements 0, 1, 2, ...
    func idx(_ dimensions: [Int], elements: Int? = nil) -> Data {
        var data = Data([0, 0, 0x08, UInt8(dimensions.count)])
        for d in dimensions { data.append(contentsOf: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: d >> $0) }) }
        data.append(contentsOf: (0..<(elements ?? dimensions.reduce(1, *))).map { UInt8($0 % 10) })
        return data
    }

    func write(_ data: Data, _ name: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    func testReadsRawAndGzipFiles() throws {
        let raw = try write(idx([2, 3, 2]), "a-idx3-ubyte")
        let file = try IDX.read(raw)
        XCTAssertEqual(file.dimensions, [2, 3, 2])
        XCTAssertEqual(file.bytes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        // gzip -n of the same bytes, made by the system's gzip.
        let gz = folder.appendingPathComponent("a-idx3-ubyte.gz")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-k", "-n", raw.path]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(try IDX.read(gz).bytes, file.bytes)
    }

    func testBadFilesGiveErrorsNamingFileAndProblem() throws {
        var wrongMagic = idx([4])
        wrongMagic[0] = 8
        var wrongType = idx([4])
        wrongType[2] = 0x0D
        let cases: [(String, Data, String)] = [
            ("empty", Data(), "too short"),
            ("magic", wrongMagic, "wrong magic number"),
            ("type", wrongType, "element type 0x0d"),
            ("truncated", idx([10, 28, 28], elements: 5000), "truncated"),
            ("header", Data([0, 0, 8, 3, 0, 0]), "truncated header"),
            ("gzip", Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]), "gzip"),
        ]
        for (name, bytes, expected) in cases {
            let url = try write(bytes, "\(name).idx")
            XCTAssertThrowsError(try IDX.read(url), name) { error in
                XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains(expected), "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try IDX.read(folder.appendingPathComponent("missing"))) { error in
            XCTAssertTrue("\(error)".contains("missing") && "\(error)".contains("cannot read"), "\(error)")
        }
    }

    func gzip(_ url: URL) throws -> URL {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-k", "-n", "-f", url.path]
        try process.run()
        process.waitUntilExit()
        return URL(fileURLWithPath: url.path + ".gz")
    }

    /// Dimensions whose product overflows Int used to wrap around (2^16 four times is 2^64,
    /// which wrapped to 0 and matched an empty data section); now they are an error.
    func testDimensionsWhoseProductOverflowsAreAnError() throws {
        let cases: [(String, Data, String)] = [
            ("wraps-to-zero", idx([65536, 65536, 65536, 65536], elements: 0), "declare more than"),
            ("overflows", idx([16_777_215, 16_777_215, 16_777_215, 16_777_215], elements: 16), "declare more than"),
            ("too-large", idx([60_000, 60_000], elements: 16), "declare more than"),
            ("zero", idx([3, 0, 2], elements: 0), "a dimension of 0"),
            ("longer", idx([2, 2], elements: 5), "the file has more"),
        ]
        for (name, bytes, expected) in cases {
            for url in [try write(bytes, "\(name)-idx"), try gzip(write(bytes, "\(name)-z-idx"))] {
                XCTAssertThrowsError(try IDX.read(url), name) { error in
                    XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains(expected), "\(name): \(error)")
                }
            }
        }
    }

    /// A gzip IDX file is inflated only as far as its header promises: 2 GB of zeros behind a
    /// header that declares 4 bytes is found out after 5, not after inflating it all.
    func testGzipIsInflatedOnlyAsFarAsTheHeaderPromises() throws {
        var bytes = idx([2, 2])
        bytes.append(Data(count: 1 << 20))  // 1 MiB more than declared
        let url = try gzip(write(bytes, "bomb-idx"))
        XCTAssertThrowsError(try IDX.read(url)) { error in
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("the file has more"), "\(error)")
        }
        let compressed = try Data(contentsOf: url)
        XCTAssertEqual(try Gzip.decompressPrefix(compressed, path: "p", count: 6).count, 6)
        XCTAssertThrowsError(try Gzip.decompress(compressed, path: url.path, limit: 1000)) { error in
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("more than the limit of 1000 bytes"), "\(error)")
        }
        XCTAssertEqual(try Gzip.decompress(compressed, path: url.path, limit: bytes.count).count, bytes.count)
    }

    func testMNISTDecodingChecksCountsAndLabels() throws {
        let images = try IDX.decode(idx([3, 2, 2]), path: "images")
        XCTAssertThrowsError(try IDXImageDataset.decode(images: images, imagesPath: "images",
                                              labels: IDX.decode(idx([2]), path: "labels"), labelsPath: "labels")) { error in
            XCTAssertTrue("\(error)".contains("labels: 2 labels for 3 images"), "\(error)")
        }
        var badLabels = idx([3])
        badLabels[badLabels.count - 1] = 12
        XCTAssertThrowsError(try IDXImageDataset.decode(images: images, imagesPath: "images",
                                              labels: IDX.decode(badLabels, path: "labels"), labelsPath: "labels")) { error in
            XCTAssertTrue("\(error)".contains("label 12 at index 2"), "\(error)")
        }
        let data = try IDXImageDataset.decode(images: images, imagesPath: "images", labels: IDX.decode(idx([3]), path: "labels"), labelsPath: "labels")
        XCTAssertEqual(data.inputs.shape, [3, 1, 2, 2])
        XCTAssertEqual(data.inputs[1], 1 / 255, accuracy: 1e-7)
        XCTAssertEqual(data.targets.array, [0, 1, 2])
    }

    func testDamagedLocalCopyIsReportedAndKept() throws {
        let mnist = folder.appendingPathComponent("mnist")
        try FileManager.default.createDirectory(at: mnist, withIntermediateDirectories: true)
        let damaged = mnist.appendingPathComponent("t10k-images-idx3-ubyte")
        try idx([10, 28, 28]).write(to: damaged)
        XCTAssertThrowsError(try MNIST.load(.test, from: DataDirectory(root: folder))) { error in
            XCTAssertTrue("\(error)".contains("damaged") && "\(error)".contains(damaged.path), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: damaged.path), "the user's file is not deleted")
    }
}
