import Dense
import Foundation

/// The image files Synapse reads and writes: PNG and JPEG.
///
/// A file is read by what its first bytes say it is (a `.jpg` that is really a PNG reads as a
/// PNG); a file that is neither gets the error of the reader its extension names.
public enum ImageFile {
    /// A format for writing.
    public enum Format: String, Sendable, CaseIterable {
        /// PNG: lossless, every channel and bit depth kept.
        case png
        /// JPEG: 8-bit gray or RGB, lossy (alpha dropped, 16-bit samples rounded).
        case jpeg

        /// The file extension written.
        public var fileExtension: String { self == .png ? "png" : "jpg" }
    }

    /// The extensions read, lower case (any case matches).
    public static let extensions = ["png", "jpg", "jpeg"]

    /// Whether `path` names a file to read, by its extension: `.png`, `.jpg`, `.jpeg`, any case.
    public static func isImage(_ path: String) -> Bool {
        extensions.contains((path as NSString).pathExtension.lowercased())
    }

    /// Reads a PNG or JPEG file.
    ///
    /// - Parameters:
    ///   - url: The file; errors name it.
    ///   - target: a size the image must still cover; a JPEG at least twice as large on both
    ///     sides is decoded at a reduced scale (see `JPEG`). PNG files are read whole.
    ///   - pixelLimit: The most pixels a file may store (see `PNG.decode` and `JPEG.decode`).
    ///   - byteLimit: The most bytes of decoded pixels (see `PNG.decode` and `JPEG.decode`).
    public static func read(_ url: URL, fitting target: (width: Int, height: Int)? = nil,
                            pixelLimit: Int = PNG.defaultPixelLimit, byteLimit: Int = PNG.defaultByteLimit) throws -> Image {
        let data = try PNG.readBytes(url)
        if isJPEG(data) || (!isPNG(data) && ["jpg", "jpeg"].contains(url.pathExtension.lowercased())) {
            return try JPEG.decode(data, path: url.path, fitting: target, pixelLimit: pixelLimit, byteLimit: byteLimit).image
        }
        return try PNG.decode(data, path: url.path, pixelLimit: pixelLimit, byteLimit: byteLimit).image
    }

    /// Writes `image` atomically as `format` (`quality` for JPEG, `compression` for PNG).
    public static func write(_ image: Image, to url: URL, format: Format, quality: Int = JPEG.defaultQuality,
                             compression: PNG.Compression = .default) throws {
        switch format {
        case .png: try PNG.write(image, to: url, compression: compression)
        case .jpeg: try JPEG.write(image, to: url, quality: quality)
        }
    }

    /// The bytes a decoded image of `width` x `height` pixels with `channels` samples of
    /// `bitDepth` bits takes, or an error naming `path` when the count overflows or exceeds
    /// `limit`: checked before the pixels are allocated.
    static func decodedByteCount(width: Int, height: Int, channels: Int, bitDepth: Int, limit: Int, path: String) throws -> Int {
        let (pixels, o1) = width.multipliedReportingOverflow(by: height)
        let (samples, o2) = pixels.multipliedReportingOverflow(by: channels)
        let (bytes, o3) = samples.multipliedReportingOverflow(by: bitDepth / 8)
        guard !o1, !o2, !o3, bytes <= limit else {
            throw SynapseError.file(path: path, problem:
                "image of \(width)x\(height) pixels, \(channels) channels of \(bitDepth) bits, "
                + "needs more than the limit of \(limit) bytes")
        }
        return bytes
    }

    static func isJPEG(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0xFF && data[data.startIndex + 1] == 0xD8
    }

    static func isPNG(_ data: Data) -> Bool {
        data.count >= 8 && data.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }
}
