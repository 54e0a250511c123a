import Dense

extension Image {
    /// The image as a C x H x W Float32 tensor scaled to [0, 1] (sample / 255 or / 65535): the
    /// layout Conv2D takes, one sample of a batch.
    public func tensor() -> Tensor {
        let (c, plane) = (channels, width * height)
        let result = Tensor(shape: [c, height, width])
        let out = result.data
        let scale: Float = bitDepth == 8 ? 1 / 255 : 1 / 65535
        bytes.withUnsafeBytes { raw in
            for p in 0..<plane {
                for k in 0..<c {
                    let value: Float = bitDepth == 8
                        ? Float(raw[p &* c &+ k])
                        : Float(raw.loadUnaligned(fromByteOffset: 2 &* (p &* c &+ k), as: UInt16.self))
                    out[k &* plane &+ p] = value * scale
                }
            }
        }
        return result
    }

    /// An image from a C x H x W tensor of values in [0, 1] (clamped, rounded to the nearest
    /// level), with 1 to 4 channels, at 8 or 16 bits.
    public init(tensor: Tensor, bitDepth: Int = 8) throws {
        guard tensor.shape.count == 3, (1...4).contains(tensor.shape[0]), bitDepth == 8 || bitDepth == 16 else {
            throw SynapseError.invalidArgument("an image tensor is (C, H, W) with 1-4 channels, got \(tensor.shape); depth 8 or 16, got \(bitDepth)")
        }
        let (c, h, w) = (tensor.shape[0], tensor.shape[1], tensor.shape[2])
        let plane = h * w
        let top: Float = bitDepth == 8 ? 255 : 65535
        var bytes = [UInt8](repeating: 0, count: plane * c * bitDepth / 8)
        let input = tensor.data
        bytes.withUnsafeMutableBytes { raw in
            for p in 0..<plane {
                for k in 0..<c {
                    let level = (min(max(input[k &* plane &+ p], 0), 1) * top).rounded()
                    if bitDepth == 8 {
                        raw[p &* c &+ k] = UInt8(level)
                    } else {
                        raw.storeBytes(of: UInt16(level), toByteOffset: 2 &* (p &* c &+ k), as: UInt16.self)
                    }
                }
            }
        }
        try self.init(width: w, height: h, channels: c, bitDepth: bitDepth, bytes: bytes)
    }
}
