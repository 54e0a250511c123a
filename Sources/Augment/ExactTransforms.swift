import Dense

// Transforms that move whole pixels and never resample: flips, quarter turns and crops. They
// give the same bytes as Pillow's `Image.transpose` and `Image.crop` (tested against fixtures).

extension Image {
    /// Mirror left to right (Pillow's FLIP_LEFT_RIGHT).
    public func flippedHorizontally() -> Image {
        let (size, w) = (pixelSize, width)
        return copyingRows(width: width, height: height) { source, target, _ in
            switch size {
            case 1: for x in 0..<w { target[x] = source[w - 1 - x] }
            case 3:
                for x in 0..<w {
                    let (from, to) = (source + (w - 1 - x) * 3, target + x * 3)
                    to[0] = from[0]; to[1] = from[1]; to[2] = from[2]
                }
            case 4:
                let (from, to) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(target))
                for x in 0..<w { to.storeBytes(of: from.loadUnaligned(fromByteOffset: (w - 1 - x) * 4, as: UInt32.self), toByteOffset: x * 4, as: UInt32.self) }
            default:
                for x in 0..<w { (target + x * size).update(from: source + (w - 1 - x) * size, count: size) }
            }
        }
    }

    /// Mirror top to bottom (Pillow's FLIP_TOP_BOTTOM).
    public func flippedVertically() -> Image {
        let rowBytes = width * pixelSize
        return copyingRows(width: width, height: height, sourceRow: { height - 1 - $0 }) { source, target, _ in
            target.update(from: source, count: rowBytes)
        }
    }

    /// A new image built row by row: `body(sourceRow, targetRow, y)` fills output row y from
    /// input row `sourceRow(y)` (by default y) starting at byte offset `offset` within it.
    func copyingRows(width newWidth: Int, height newHeight: Int, sourceRow: (Int) -> Int = { $0 }, offset: Int = 0,
                     _ body: (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>, Int) -> Void) -> Image {
        let (inRow, outRow) = (width * pixelSize, newWidth * pixelSize)
        return making(width: newWidth, height: newHeight) { src, dst in
            for y in 0..<newHeight { body(src + sourceRow(y) * inRow + offset, dst + y * outRow, y) }
        }
    }

    /// Rotated by `quarterTurns` x 90 degrees counter-clockwise (positive = counter-clockwise,
    /// as Pillow's ROTATE_90 and torchvision); a negative count turns clockwise.
    public func rotated(quarterTurns: Int) -> Image {
        switch ((quarterTurns % 4) + 4) % 4 {
        case 1: return remapped(width: height, height: width) { x, y in (width - 1 - y, x) }
        case 2: return remapped(width: width, height: height) { x, y in (width - 1 - x, height - 1 - y) }
        case 3: return remapped(width: height, height: width) { x, y in (y, height - 1 - x) }
        default: return self
        }
    }

    /// The box of `width` x `height` pixels whose top-left corner is (x, y); it must lie inside.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> Image {
        guard w > 0, h > 0, x >= 0, y >= 0, x + w <= width, y + h <= height else {
            throw SynapseError.invalidArgument("crop box (\(x), \(y), \(w)x\(h)) is not inside the \(width)x\(height) image")
        }
        let rowBytes = w * pixelSize
        return copyingRows(width: w, height: h, sourceRow: { y + $0 }, offset: x * pixelSize) { source, target, _ in
            target.update(from: source, count: rowBytes)
        }
    }

    /// The centred box of `width` x `height` pixels: its top-left corner is
    /// (floor((W - w) / 2), floor((H - h) / 2)), so an odd margin leaves the extra pixel on the
    /// right or bottom.
    public func centerCropped(width w: Int, height h: Int) throws -> Image {
        try cropped(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }
}
