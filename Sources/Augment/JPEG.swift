import CJPEG
import Dense
import Foundation

/// JPEG files through libjpeg-turbo.
///
/// Reads baseline, progressive and arithmetic-coded files: gray as gray, YCbCr (every chroma
/// subsampling) and RGB as RGB, CMYK and YCCK as RGB (inverted when the file carries Adobe's
/// marker, as Adobe's applications write them; the conversion is Pillow's). The EXIF orientation
/// (tags 1-8) is applied, so an image comes out the way up its camera meant; files without EXIF
/// are unchanged. 12-bit files are an error (Debian's libjpeg-turbo decodes 8 bits).
///
/// The same guards as `PNG`: every libjpeg error becomes a `SynapseError.file` with the file's
/// path and libjpeg's message (libjpeg never exits the process); images larger than a pixel or
/// byte limit are refused from their header, before any pixel memory is allocated; a file that
/// ends inside its image data is an error unless `allowTruncated` is set; libjpeg's warnings
/// about corrupt data are counted and kept with the image.
///
/// `fitting` asks for an image that only needs to cover a smaller size: when the target is at
/// most half the stored size on both sides, libjpeg-turbo decodes at 1/2, 1/4 or 1/8 of the size
/// in the DCT domain (the smallest scale that still covers the target), much faster than a full
/// decode, and the caller's exact resize does the rest.
public enum JPEG {
    /// The default largest image read, in pixels (100 megapixels, as PNG's).
    public static let defaultPixelLimit = PNG.defaultPixelLimit
    /// The default largest decoded image, in bytes (256 MiB, as PNG's); libjpeg's coefficient
    /// buffers for progressive files are held to it too.
    public static let defaultByteLimit = PNG.defaultByteLimit
    /// The default quality of written files.
    public static let defaultQuality = 90

    /// A decoded JPEG file with what libjpeg said about it.
    public struct Decoded {
        /// The image, scaled and turned upright (EXIF orientation applied).
        public var image: Image
        /// libjpeg's warnings (corrupt data it decoded around), the first ones, in order.
        public var warnings: [String]
        /// How many warnings libjpeg gave in all.
        public var warningCount: Int
        /// The EXIF orientation that was applied (1: none).
        public var orientation: Int
        /// The stored size, before scaling and orientation.
        public var storedWidth: Int
        /// The stored height (see `storedWidth`).
        public var storedHeight: Int
        /// The DCT scaling used: the image is 1/`scale` of the stored size (1, 2, 4 or 8).
        public var scale: Int
    }

    /// Reads and decodes a JPEG file (see `decode`); errors name the file.
    public static func read(_ url: URL, fitting target: (width: Int, height: Int)? = nil,
                            pixelLimit: Int = defaultPixelLimit, byteLimit: Int = defaultByteLimit) throws -> Image {
        try decode(PNG.readBytes(url), path: url.path, fitting: target, pixelLimit: pixelLimit, byteLimit: byteLimit).image
    }

    /// Decodes the bytes of a JPEG file; `path` names it in errors.
    ///
    /// - Parameters:
    ///   - data: The file's bytes.
    ///   - path: Names the file in errors.
    ///   - target: a size (after orientation) the image must still cover; nil for the stored size.
    ///   - pixelLimit: the most pixels a file may store; larger ones are refused from their header.
    ///   - byteLimit: the most bytes of decoded pixels, and of libjpeg's coefficient buffers.
    ///   - allowTruncated: decode a file that ends inside its image data (the rest comes out
    ///     gray, with a warning) instead of refusing it.
    public static func decode(_ data: Data, path: String, fitting target: (width: Int, height: Int)? = nil,
                              pixelLimit: Int = defaultPixelLimit, byteLimit: Int = defaultByteLimit,
                              allowTruncated: Bool = false) throws -> Decoded {
        var info = cjpeg_info()
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_SIZE))
        var warnings = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_SIZE))
        func fail(_ text: String) -> SynapseError { .file(path: path, problem: "not a readable JPEG: \(text)") }
        func header(scale: Int) -> Int32 {
            data.withUnsafeBytes { raw in
                cjpeg_read_header(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, Int32(scale), &info, &message)
            }
        }
        guard header(scale: 1) == 0 else { throw fail(PNG.text(message)) }
        let (pixels, pixelOverflow) = Int(info.width).multipliedReportingOverflow(by: Int(info.height))
        guard !pixelOverflow, pixels <= pixelLimit else {
            throw SynapseError.file(path: path, problem:
                "image of \(info.width)x\(info.height) pixels exceeds the limit of \(pixelLimit) pixels")
        }
        // Sides after orientation, and the smallest scale whose image still covers the target.
        let (width, height) = (Int(info.output_width), Int(info.output_height))
        var scale = 1
        if let target {
            for s in [8, 4, 2] where (width + s - 1) / s >= target.width && (height + s - 1) / s >= target.height {
                scale = s
                break
            }
            if scale > 1 { guard header(scale: scale) == 0 else { throw fail(PNG.text(message)) } }
        }
        guard info.channels == 1 || info.channels == 3 else { throw fail("\(info.channels) channels after decoding") }
        let byteCount = try ImageFile.decodedByteCount(width: Int(info.output_width), height: Int(info.output_height),
                                                       channels: Int(info.channels), bitDepth: 8, limit: byteLimit, path: path)
        var bytes = [UInt8](repeating: 0, count: byteCount)
        let status = data.withUnsafeBytes { raw in
            bytes.withUnsafeMutableBytes { out in
                cjpeg_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, Int32(scale), UInt64(pixelLimit),
                             UInt64(byteLimit), allowTruncated ? 1 : 0, &info,
                             out.bindMemory(to: UInt8.self).baseAddress, out.count, &message, &warnings)
            }
        }
        guard status == 0 else { throw fail(PNG.text(message)) }
        let image = try Image(width: Int(info.output_width), height: Int(info.output_height), channels: Int(info.channels),
                              bitDepth: 8, bytes: bytes)
        let warningText = PNG.text(warnings)
        return Decoded(image: image, warnings: warningText.isEmpty ? [] : warningText.components(separatedBy: "\n"),
                       warningCount: Int(info.warnings), orientation: Int(info.orientation),
                       storedWidth: Int(info.width), storedHeight: Int(info.height), scale: scale)
    }

    /// The JPEG file of `image` at `quality` (1-100): baseline, optimised Huffman tables, colour as
    /// YCbCr 4:2:0. JPEG holds neither alpha nor 16-bit samples: alpha is dropped (the colour as
    /// stored, as `ImageFormat.Alpha.drop`), 16-bit samples are rounded to 8 bits.
    public static func encode(_ image: Image, quality: Int = defaultQuality) throws -> Data {
        guard (1...100).contains(quality) else {
            throw SynapseError.invalidArgument("JPEG quality must be 1...100, got \(quality)")
        }
        let colour = image.channels >= 3
        let channels = colour ? 3 : 1
        var samples: [UInt8]
        if image.channels == channels && image.bitDepth == 8 {
            samples = image.bytes
        } else {
            let count = image.width * image.height
            samples = [UInt8](repeating: 0, count: count * channels)
            for p in 0..<count {
                for c in 0..<channels {
                    let index = p * image.channels + c
                    samples[p * channels + c] = image.bitDepth == 8 ? image.bytes[index]
                        : image.bytes.withUnsafeBytes {
                            UInt8((Int($0.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)) * 255 + 32767) / 65535)
                        }
                }
            }
        }
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_SIZE))
        let status = samples.withUnsafeBufferPointer { raw in
            cjpeg_encode(raw.baseAddress, UInt32(image.width), UInt32(image.height), Int32(channels), Int32(quality),
                         &output, &size, &message)
        }
        guard status == 0, let output else {
            throw SynapseError.invalidArgument("cannot encode JPEG: \(PNG.text(message))")
        }
        defer { cjpeg_free(output) }
        return Data(bytes: output, count: size)
    }

    /// Writes `image` atomically (temporary file, then rename).
    public static func write(_ image: Image, to url: URL, quality: Int = defaultQuality) throws {
        try AtomicFile.write(encode(image, quality: quality), to: url)
    }
}
