import Dense

// Transforms that move whole pixels and never resample: flips, quarter turns and crops. They
// give the same bytes as Pillow's `Image.transpose` and `Image.crop` (tested against fixtures).

extension Image {
    /// Mirror left to right (Pillow's FLIP_LEFT_RIGHT).
    public func flippedHorizontally() -> Image {
        remapped(width: width, height: height) { x, y in (width - 1 - x, y) }
    }

    /// Mirror top to bottom (Pillow's FLIP_TOP_BOTTOM).
    public func flippedVertically() -> Image {
        remapped(width: width, height: height) { x, y in (x, height - 1 - y) }
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
        return remapped(width: w, height: h) { px, py in (x + px, y + py) }
    }

    /// The centred box of `width` x `height` pixels: its top-left corner is
    /// (floor((W - w) / 2), floor((H - h) / 2)), so an odd margin leaves the extra pixel on the
    /// right or bottom.
    public func centerCropped(width w: Int, height h: Int) throws -> Image {
        try cropped(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }
}
