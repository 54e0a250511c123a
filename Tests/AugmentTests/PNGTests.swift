import Augment
import Dense
import Foundation
import TestSupport
import XCTest

func fixtureURL(_ name: String) -> URL {
    Bundle.module.url(forResource: name, withExtension: "png", subdirectory: "Fixtures")!
}

/// CRC-32 as PNG chunks use it, for building damaged files.
func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? 0xedb8_8320 ^ (crc >> 1) : crc >> 1 }
    }
    return ~crc
}

final class PNGTests: FolderTestCase {
    func testRoundTripIsLosslessForEveryColourTypeAndDepth() throws {
        let random = RandomGenerator(seed: 1)
        for channels in 1...4 {
            for depth in [8, 16] {
                let (w, h) = (13, 7)
                let bytes = (0..<(w * h * channels * depth / 8)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let image = try Image(width: w, height: h, channels: channels, bitDepth: depth, bytes: bytes)
                for compression in PNG.Compression.allCases {
                    let url = folder.appendingPathComponent("c\(channels)-\(depth)-\(compression).png")
                    try PNG.write(image, to: url, compression: compression)
                    XCTAssertEqual(try PNG.read(url), image, "\(channels) channels, \(depth) bits, \(compression)")
                }
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }, [],
                       "no temporary files left behind")
    }

    func testReadsFilesWrittenByPillow() throws {
        let gray = try PNG.read(fixtureURL("gray")), rgb = try PNG.read(fixtureURL("rgb")), rgba = try PNG.read(fixtureURL("rgba"))
        XCTAssertEqual([gray.width, gray.height, gray.channels, gray.bitDepth], [21, 17, 1, 8])
        XCTAssertEqual([rgb.width, rgb.height, rgb.channels, rgb.bitDepth], [37, 23, 3, 8])
        XCTAssertEqual([rgba.width, rgba.height, rgba.channels, rgba.bitDepth], [19, 31, 4, 8])
    }

    func testReadsTheSharedImages() throws {
        let images = try dataRoot(holding: "images").appendingPathComponent("images")
        let names = try FileManager.default.contentsOfDirectory(atPath: images.path)
        var sixteen = 0
        for name in names where name.hasSuffix(".png") {
            let image = try PNG.read(images.appendingPathComponent(name))
            XCTAssertGreaterThan(image.width, 0, name)
            if image.bitDepth == 16 { sixteen += 1 }
        }
        XCTAssertGreaterThan(names.count, 10)
        XCTAssertEqual(sixteen, 1, "chessboard_RGB.png is 16-bit RGB")
    }

    func damaged(_ transform: (inout [UInt8]) -> Void) throws -> Data {
        var bytes = [UInt8](try PNG.encode(try Image(width: 8, height: 8, channels: 3, bitDepth: 8,
                                                     bytes: (0..<192).map { UInt8($0) })))
        transform(&bytes)
        return Data(bytes)
    }

    func testBadFilesAreErrorsNamingTheFileNeverCrashes() throws {
        let cases: [(String, Data, String)] = [
            ("signature", try damaged { $0[1] = UInt8(ascii: "Q") }, "wrong signature"),
            ("truncated", try damaged { $0.removeLast(30) }, "truncated"),
            ("crc", try damaged { $0[29] ^= 0xff }, "CRC"),
            ("empty", Data(), "wrong signature"),
            ("huge", try damaged { bytes in
                // IHDR width and height: 60000 x 60000 (3.6 gigapixels), with a valid CRC.
                for (offset, value) in [(16, 60000), (20, 60000)] {
                    for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (24 - 8 * k)) }
                }
                let crc = crc32(bytes[12..<29])
                for k in 0..<4 { bytes[29 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(k))) }
            }, "exceeds the limit"),
        ]
        for (name, data, expected) in cases {
            let url = folder.appendingPathComponent("\(name).png")
            try data.write(to: url)
            XCTAssertThrowsError(try PNG.read(url), name) { error in
                XCTAssertTrue("\(error)".contains(url.path), "\(name): \(error)")
                XCTAssertTrue("\(error)".localizedCaseInsensitiveContains(expected), "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try PNG.read(folder.appendingPathComponent("missing.png")))
    }

    /// A header of 10000 x 10000 pixels of 16-bit RGBA is within the pixel limit but asks for
    /// 800 MB: refused from the header by the byte limit, before any pixel memory is allocated.
    func testByteLimitRefusesHugeImagesFromTheirHeader() throws {
        let data = try damaged { bytes in
            for (offset, value) in [(16, 10000), (20, 10000)] {
                for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (24 - 8 * k)) }
            }
            bytes[24] = 16  // bit depth
            bytes[25] = 6   // colour type RGBA
            let crc = crc32(bytes[12..<29])
            for k in 0..<4 { bytes[29 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(k))) }
        }
        let url = folder.appendingPathComponent("bomb.png")
        try data.write(to: url)
        XCTAssertLessThan(data.count, 300)
        XCTAssertThrowsError(try PNG.read(url)) { error in
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
            XCTAssertTrue("\(error)".contains("10000x10000 pixels, 4 channels of 16 bits, needs more than the limit of 268435456 bytes"), "\(error)")
        }
        // The same limit applies to small files when asked for.
        let small = folder.appendingPathComponent("small.png")
        try PNG.write(try Image(width: 10, height: 10, channels: 3, bitDepth: 8, bytes: [UInt8](repeating: 7, count: 300)), to: small)
        XCTAssertThrowsError(try PNG.read(small, byteLimit: 299)) { XCTAssertTrue("\($0)".contains("limit of 299 bytes"), "\($0)") }
        XCTAssertEqual(try PNG.read(small, byteLimit: 300).width, 10)
    }

    func testPixelLimitIsConfigurable() throws {
        let url = folder.appendingPathComponent("small.png")
        try PNG.write(try Image(width: 10, height: 10, channels: 1, bitDepth: 8, bytes: [UInt8](repeating: 7, count: 100)), to: url)
        XCTAssertThrowsError(try PNG.read(url, pixelLimit: 99))
        XCTAssertEqual(try PNG.read(url, pixelLimit: 100).width, 10)
    }
}

final class PNGVariantTests: XCTestCase {
    /// Palette (with and without tRNS), 1/2/4-bit gray, tRNS on gray and RGB, and Adam7-interlaced
    /// files of every plain kind at 8 and 16 bits, written by pypng; each must decode to the pixels
    /// of its `.expected.png` (Scripts/fixtures/make_png_variants.py).
    func testEveryColourTypeAndLayoutDecodes() throws {
        let names = ["gray1", "gray2", "gray4", "palette8", "palette4_trns", "gray8_trns", "rgb8_trns"]
            + ["l", "la", "rgb", "rgba"].flatMap { ["\($0)8_interlaced", "\($0)16_interlaced"] }
        for name in names {
            let url = Bundle.module.url(forResource: name, withExtension: "png", subdirectory: "Fixtures/variants")!
            let expected = url.deletingPathExtension().appendingPathExtension("expected.png")
            XCTAssertEqual(try PNG.read(url), try PNG.read(expected), name)
        }
        let palette = try PNG.read(Bundle.module.url(forResource: "palette4_trns", withExtension: "png", subdirectory: "Fixtures/variants")!)
        XCTAssertEqual(palette.channels, 4, "tRNS on a palette becomes an alpha channel")
    }
}
