import Dense

// Transforms that move whole pixels and never resample: flips, quarter turns and crops. They
// give the same bytes as Pillow's `Image.transpose` and `Image.crop` (tested against fixtures).

extension Image {
    /// Mirror left to right (Pillow's FLIP_LEFT_RIGHT).
    public func flippedHorizontally() -> Image {
        gathered(width: width, height: height, start: width - 1, xStep: -1, yStep: width)
    }

    /// Mirror top to bottom (Pillow's FLIP_TOP_BOTTOM).
    public func flippedVertically() -> Image {
        gathered(width: width, height: height, start: (height - 1) * width, xStep: 1, yStep: -width)
    }

    /// Rotated by `quarterTurns` x 90 degrees counter-clockwise (positive = counter-clockwise,
    /// as Pillow's ROTATE_90 and torchvision); a negative count turns clockwise.
    public func rotated(quarterTurns: Int) -> Image {
        switch ((quarterTurns % 4) + 4) % 4 {
        // Output (x, y) shows input (W - 1 - y, x), (W - 1 - x, H - 1 - y) and (y, H - 1 - x).
        case 1: return gathered(width: height, height: width, start: width - 1, xStep: width, yStep: -1)
        case 2: return gathered(width: width, height: height, start: width * height - 1, xStep: -1, yStep: -width)
        case 3: return gathered(width: height, height: width, start: (height - 1) * width, xStep: -width, yStep: 1)
        default: return self
        }
    }

    /// A new image of the same kind whose pixel (x, y) is this image's pixel number
    /// `start + x * xStep + y * yStep`, counting pixels row by row: every flip, quarter turn and
    /// crop is one of these.
    func gathered(width newWidth: Int, height newHeight: Int, start: Int, xStep: Int, yStep: Int) -> Image {
        let size = pixelSize
        return making(width: newWidth, height: newHeight) { src, dst in
            for y in 0..<newHeight {
                let (from, to) = (src + (start + y * yStep) * size, dst + y * newWidth * size)
                if xStep == 1 {
                    to.update(from: from, count: newWidth * size)
                    continue
                }
                switch size {
                case 1:
                    var x = 0
                    if xStep == -1 {
                        // Eight pixels at a time: a mirrored run of bytes is a byte swap.
                        let (input, output) = (UnsafeRawPointer(from), UnsafeMutableRawPointer(to))
                        while x + 8 <= newWidth {
                            let word = input.loadUnaligned(fromByteOffset: -x - 7, as: UInt64.self)
                            output.storeBytes(of: word.byteSwapped, toByteOffset: x, as: UInt64.self)
                            x += 8
                        }
                    }
                    while x < newWidth { to[x] = from[x * xStep]; x += 1 }
                case 3:
                    for x in 0..<newWidth {
                        let (source, target) = (from + x * xStep * 3, to + x * 3)
                        target[0] = source[0]; target[1] = source[1]; target[2] = source[2]
                    }
                case 4:
                    let (input, output) = (UnsafeRawPointer(from), UnsafeMutableRawPointer(to))
                    for x in 0..<newWidth {
                        output.storeBytes(of: input.loadUnaligned(fromByteOffset: x * xStep * 4, as: UInt32.self),
                                          toByteOffset: x * 4, as: UInt32.self)
                    }
                default:
                    for x in 0..<newWidth { (to + x * size).update(from: from + x * xStep * size, count: size) }
                }
            }
        }
    }

    /// The box of `width` x `height` pixels whose top-left corner is (x, y); it must lie inside.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> Image {
        guard w > 0, h > 0, x >= 0, y >= 0, x + w <= width, y + h <= height else {
            throw SynapseError.invalidArgument("crop box (\(x), \(y), \(w)x\(h)) is not inside the \(width)x\(height) image")
        }
        return gathered(width: w, height: h, start: y * width + x, xStep: 1, yStep: width)
    }

    /// The centred box of `width` x `height` pixels: its top-left corner is
    /// (floor((W - w) / 2), floor((H - h) / 2)), so an odd margin leaves the extra pixel on the
    /// right or bottom.
    public func centerCropped(width w: Int, height h: Int) throws -> Image {
        try cropped(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }
}
