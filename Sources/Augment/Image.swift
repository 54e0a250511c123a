import Dense

/// An image as PNG stores it: width x height pixels of 1 to 4 channels (gray, gray + alpha, RGB,
/// RGBA), 8 or 16 bits per sample.
///
/// `bytes` holds the rows top to bottom, each pixel's samples interleaved; a 16-bit sample takes
/// two bytes in the host's byte order. Exact transforms (flips, quarter turns, crops) move whole
/// pixels and so work on the bytes for either depth.
public struct Image: Equatable, Sendable {
    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Samples per pixel: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    /// Bits per sample: 8 or 16.
    public let bitDepth: Int
    /// The pixels, rows top to bottom, samples interleaved (see the type's description).
    public var bytes: [UInt8]

    /// An image of these pixels; throws a `SynapseError` for a size below 1, channels outside
    /// 1-4, a depth other than 8 or 16, or a byte count that does not match.
    public init(width: Int, height: Int, channels: Int, bitDepth: Int, bytes: [UInt8]) throws {
        guard width > 0, height > 0, (1...4).contains(channels), bitDepth == 8 || bitDepth == 16 else {
            throw SynapseError.invalidArgument(
                "an image needs a positive size, 1-4 channels and 8 or 16 bits, got \(width)x\(height), \(channels) channels, \(bitDepth) bits")
        }
        let expected = width * height * channels * bitDepth / 8
        guard bytes.count == expected else {
            throw SynapseError.invalidArgument("a \(width)x\(height) image of \(channels) channels at \(bitDepth) bits needs \(expected) bytes, got \(bytes.count)")
        }
        (self.width, self.height, self.channels, self.bitDepth, self.bytes) = (width, height, channels, bitDepth, bytes)
    }

    /// Bytes per pixel: channels x bytes per sample.
    public var pixelSize: Int { channels * bitDepth / 8 }

    /// The sample of channel `c` at column `x`, row `y`, as a number (0-255 or 0-65535).
    public func sample(x: Int, y: Int, channel c: Int) -> Int {
        precondition(x >= 0 && x < width && y >= 0 && y < height && c >= 0 && c < channels, "sample outside the image")
        let offset = (y * width + x) * pixelSize + c * bitDepth / 8
        if bitDepth == 8 { return Int(bytes[offset]) }
        return bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    }

    /// A new image of the same kind, `width` x `height`, whose bytes `body` writes, every one of
    /// them: the storage is not zeroed first.
    func making(width newWidth: Int, height newHeight: Int,
                _ body: (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>) -> Void) -> Image {
        let count = newWidth * newHeight * pixelSize
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBufferPointer { body($0.baseAddress!, buffer.baseAddress!) }
            initialized = count
        }
        return try! Image(width: newWidth, height: newHeight, channels: channels, bitDepth: bitDepth, bytes: out)
    }
}
