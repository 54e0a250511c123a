import CPNG
import Dense
import Foundation

/// PNG files through libpng.
///
/// Reads every PNG: gray at 1, 2, 4, 8 or 16 bits, gray + alpha, RGB and RGBA at 8 or 16 bits,
/// palette images (as RGB, or RGBA with tRNS transparency), interlaced (Adam7) files. Low-depth
/// gray becomes 8-bit; tRNS on gray or RGB becomes an alpha channel. Writes gray, gray + alpha, RGB
/// and RGBA at 8 or 16 bits. Every libpng error becomes a `SynapseError.file` with the file's path
/// and libpng's message; images larger than a pixel limit are refused from their header, before
/// any pixel memory is allocated.
public enum PNG {
    /// The default largest image read, in pixels (100 megapixels).
    public static let defaultPixelLimit = 100_000_000
    /// The default largest decoded image, in bytes (256 MiB): width x height x channels x bytes
    /// per sample, so that a few bytes of header cannot ask for gigabytes (100 megapixels of
    /// 16-bit RGBA would be 800 MB).
    public static let defaultByteLimit = 256 << 20

    /// zlib level and filter choice for writing.
    public enum Compression: String, Sendable, CaseIterable {
        /// The Sub filter on every row and zlib's run-length strategy: the fastest; files about
        /// 10 % larger than `default`'s on photographs.
        case fast
        /// Adaptive filtering (libpng picks a filter per row) and zlib's run-length strategy
        /// (Z_RLE): after filtering, photographs are mostly short runs of small differences,
        /// which Z_RLE codes almost as tightly as a full match search, several times faster.
        /// On the shared test images: a fifth of libpng's default encoding time (zlib level 6,
        /// Z_FILTERED) for files 2 % larger.
        case `default`
        /// Adaptive filtering and zlib level 9 with its full match search: the smallest files,
        /// the slowest.
        case best

        /// The encoder's settings: zlib level, PNG filter mask and zlib strategy (-1: libpng's).
        var settings: (level: Int32, filters: Int32, strategy: Int32) {
            let (sub, all, runLength): (Int32, Int32, Int32) = (0x10, 0xF8, 3)  // PNG_FILTER_SUB, PNG_ALL_FILTERS, Z_RLE
            switch self {
            case .fast: return (-1, sub, runLength)
            case .default: return (-1, all, runLength)
            case .best: return (9, all, -1)
            }
        }
    }

    /// A decoded file: the image, and what libpng warned about.
    public struct Decoded {
        /// The pixels as stored (palette expanded, every bit depth below 8 brought to 8).
        public var image: Image
        /// libpng's warnings (a damaged ancillary chunk, say): the image decoded nonetheless.
        public var warnings: [String]
    }

    /// Reads and decodes a PNG file (see `decode`); errors name the file.
    public static func read(_ url: URL, pixelLimit: Int = defaultPixelLimit, byteLimit: Int = defaultByteLimit) throws -> Image {
        try decode(readBytes(url), path: url.path, pixelLimit: pixelLimit, byteLimit: byteLimit).image
    }

    /// Decodes the bytes of a PNG file; `path` names it in errors. Images of more than
    /// `pixelLimit` pixels or `byteLimit` decoded bytes are refused from their header.
    public static func decode(_ data: Data, path: String, pixelLimit: Int = defaultPixelLimit,
                              byteLimit: Int = defaultByteLimit) throws -> Decoded {
        var info = cpng_info()
        var message = [CChar](repeating: 0, count: Int(CPNG_MESSAGE_SIZE))
        var warnings = [CChar](repeating: 0, count: Int(CPNG_MESSAGE_SIZE))
        func fail(_ text: String) -> SynapseError { .file(path: path, problem: "not a readable PNG: \(text)") }
        let header = data.withUnsafeBytes { raw in
            cpng_read_header(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &info, &message)
        }
        guard header == 0 else { throw fail(text(message)) }
        let (pixels, pixelOverflow) = Int(info.width).multipliedReportingOverflow(by: Int(info.height))
        guard !pixelOverflow, pixels <= pixelLimit else {
            throw SynapseError.file(path: path, problem:
                "image of \(info.width)x\(info.height) pixels exceeds the limit of \(pixelLimit) pixels")
        }
        guard (1...4).contains(info.channels), info.bit_depth == 8 || info.bit_depth == 16 else {
            throw fail("\(info.channels) channels of \(info.bit_depth) bits after decoding")
        }
        let byteCount = try ImageFile.decodedByteCount(width: Int(info.width), height: Int(info.height), channels: Int(info.channels),
                                                       bitDepth: Int(info.bit_depth), limit: byteLimit, path: path)
        var bytes = [UInt8](repeating: 0, count: byteCount)
        let status = data.withUnsafeBytes { raw in
            bytes.withUnsafeMutableBytes { out in
                cpng_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, UInt64(pixelLimit), &info,
                            out.baseAddress, out.count, &message, &warnings)
            }
        }
        guard status == 0 else { throw fail(text(message)) }
        let image = try Image(width: Int(info.width), height: Int(info.height), channels: Int(info.channels),
                              bitDepth: Int(info.bit_depth), bytes: bytes)
        let warningText = text(warnings)
        return Decoded(image: image, warnings: warningText.isEmpty ? [] : warningText.components(separatedBy: "\n"))
    }

    /// The PNG file of `image`, keeping its channels and bit depth.
    public static func encode(_ image: Image, compression: Compression = .default) throws -> Data {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(CPNG_MESSAGE_SIZE))
        let (level, filters, strategy) = compression.settings
        let status = image.bytes.withUnsafeBytes { raw in
            cpng_encode(raw.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                        Int32(image.bitDepth), level, filters, strategy, &output, &size, &message)
        }
        guard status == 0, let output else {
            throw SynapseError.invalidArgument("cannot encode PNG: \(text(message))")
        }
        defer { cpng_free(output) }
        return Data(bytes: output, count: size)
    }

    /// Writes `image` atomically (temporary file, then rename).
    public static func write(_ image: Image, to url: URL, compression: Compression = .default) throws {
        try AtomicFile.write(encode(image, compression: compression), to: url)
    }

    /// The text of a NUL-terminated C message buffer.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func readBytes(_ url: URL) throws -> Data {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw SynapseError.file(path: url.path, problem: "no such file")
        }
        guard !isFolder.boolValue else {
            throw SynapseError.file(path: url.path, problem: "a folder, not an image file: pass the PNG or JPEG files in it")
        }
        do { return try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
    }
}
