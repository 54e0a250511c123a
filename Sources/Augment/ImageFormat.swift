import Dense
import Foundation

/// How an image file becomes one input sample: its size, channels and what to do with alpha.
public struct ImageFormat: Codable, Equatable, Sendable {
    /// How an image of another size is brought to `width` x `height`.
    public enum Fit: String, Codable, Sendable, CaseIterable {
        /// Bilinear resize to the size, whatever the aspect ratio.
        case resize
        /// The largest centred box of the target's aspect ratio, then resized.
        case centerCrop = "center-crop"
    }

    /// What becomes of an alpha channel.
    public enum Alpha: String, Codable, Sendable, CaseIterable {
        /// Dropped: the colour as stored.
        case drop
        /// Composited over black (colour x alpha).
        case black
        /// Composited over white.
        case white
    }

    /// The sample's width in pixels, 1...16384.
    public var width: Int
    /// The sample's height in pixels, 1...16384.
    public var height: Int
    /// 1 (gray: colour images become luminance) or 3 (RGB: gray images are repeated).
    public var channels: Int
    /// How an image of another size is brought to the sample's size (default `.resize`).
    public var fit: Fit
    /// What happens to an alpha channel (default `.drop`).
    public var alpha: Alpha

    /// A format of `width` x `height` pixels and `channels` (1 or 3) channels.
    /// - Throws: `SynapseError.invalidArgument` for a side outside 1...16384 or other channel counts.
    public init(width: Int, height: Int, channels: Int, fit: Fit = .resize, alpha: Alpha = .drop) throws {
        guard width >= 1, height >= 1, width <= 16_384, height <= 16_384 else {
            throw SynapseError.invalidArgument("image size must be 1...16384 on each side, got \(width)x\(height)")
        }
        guard channels == 1 || channels == 3 else {
            throw SynapseError.invalidArgument("channels must be 1 (gray) or 3 (RGB), got \(channels)")
        }
        (self.width, self.height, self.channels, self.fit, self.alpha) = (width, height, channels, fit, alpha)
    }

    /// The shape of one sample: C x H x W.
    public var sampleShape: [Int] { [channels, height, width] }

    /// `image` at this format's size (`fit`), any channels and depth kept.
    public func sized(_ image: Image) throws -> Image {
        guard image.width != width || image.height != height else { return image }
        switch fit {
        case .resize:
            return try image.resized(width: width, height: height)
        case .centerCrop:
            // The largest box of ratio width:height, in whole pixels, centred.
            var (w, h) = (image.width, image.width * height / width)
            if h > image.height { (w, h) = (image.height * width / height, image.height) }
            let box = try image.cropped(x: (image.width - max(w, 1)) / 2, y: (image.height - max(h, 1)) / 2,
                                        width: max(w, 1), height: max(h, 1))
            return try box.resized(width: width, height: height)
        }
    }

    /// One image file as the model input this format describes, 1 x C x H x W: read (PNG or
    /// JPEG; a large JPEG decoded at a reduced scale), brought to the size (`fit`), its channels
    /// converted (`write`), exactly as `ImageFolderSource` prepares evaluation images.
    public func tensor(from url: URL) throws -> Tensor { try tensor(from: [url]) }

    /// Image files as one batch, N x C x H x W in the order given (see `tensor(from:)`); throws,
    /// naming the file, at the first one that cannot be read.
    public func tensor(from urls: [URL]) throws -> Tensor {
        let result = Tensor(shape: [urls.count] + sampleShape)
        let size = channels * width * height
        for (i, url) in urls.enumerated() {
            write(try sized(ImageFile.read(url, fitting: (width, height))), to: result.data + i * size)
        }
        return result
    }

    /// Writes `image` (already at this format's size) as C x H x W floats in [0, 1] to `output`.
    ///
    /// Gray to RGB repeats the gray; RGB to gray is the luminance of ITU-R 601-2
    /// (0.299 R + 0.587 G + 0.114 B, as Pillow's `convert("L")`); 16-bit samples are scaled by
    /// 1/65535, 8-bit ones by 1/255.
    public func write(_ image: Image, to output: UnsafeMutablePointer<Float>) {
        precondition(image.width == width && image.height == height, "image not at the format's size")
        let plane = width * height
        let source = image.channels
        let colour = source >= 3
        let hasAlpha = source == 2 || source == 4
        let scale: Float = image.bitDepth == 8 ? 1 / 255 : 1 / 65535
        let background: Float = alpha == .white ? 1 : 0
        let composite = hasAlpha && alpha != .drop
        image.bytes.withUnsafeBytes { raw in
            func sample(_ index: Int) -> Float {
                image.bitDepth == 8 ? Float(raw[index])
                    : Float(raw.loadUnaligned(fromByteOffset: 2 &* index, as: UInt16.self))
            }
            for p in 0..<plane {
                let base = p &* source
                var (r, g, b) = colour
                    ? (sample(base) * scale, sample(base &+ 1) * scale, sample(base &+ 2) * scale)
                    : (sample(base) * scale, sample(base) * scale, sample(base) * scale)
                if composite {
                    let a = sample(base &+ source &- 1) * scale
                    r = r * a + background * (1 - a)
                    g = g * a + background * (1 - a)
                    b = b * a + background * (1 - a)
                }
                if channels == 1 {
                    output[p] = colour ? 0.299 * r + 0.587 * g + 0.114 * b : r
                } else {
                    output[p] = r
                    output[plane &+ p] = g
                    output[2 &* plane &+ p] = b
                }
            }
        }
    }
}
