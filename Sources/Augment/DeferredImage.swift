import Dense

/// An image with geometric steps recorded but not yet carried out, so that a chain of them makes
/// one pass over the pixels: flips, quarter turns and crops only re-index the output, and a
/// resampling step (a rotation, a resize) reads the original image through them. A following
/// crop shrinks what the resampling computes; a preceding flip or quarter turn is folded into
/// its map.
///
/// A step that cannot be folded first carries out what is pending: a resampling after another
/// resampling, or after a crop (the fill must show outside the crop, not the pixels beyond it).
/// Flips and quarter turns commute with every fill mode (each is symmetric about the image's
/// edges), so folding them changes no result beyond the weights' rounding.
struct DeferredImage {
    private var source: Image
    private(set) var width: Int
    private(set) var height: Int
    /// Output pixel (x, y) -> while `sampling` is nil, the source pixel it shows (integer
    /// coefficients); after a resampling, the continuous point of the source it samples.
    private var map = AffineMap(xx: 1, xy: 0, x0: 0, yx: 0, yy: 1, y0: 0)
    private var sampling: (interpolation: Interpolation, fill: Fill)?
    /// Whether the output still shows every pixel of `source`, none beyond.
    private var whole = true

    init(_ image: Image) {
        (source, width, height) = (image, image.width, image.height)
    }

    /// Output pixel (x, y) now shows what pixel `index(x, y)` showed, on a `newWidth` x
    /// `newHeight` canvas.
    private mutating func reindex(width newWidth: Int, height newHeight: Int, _ index: AffineMap) {
        map = map.after(index)
        (width, height) = (newWidth, newHeight)
    }

    mutating func flipHorizontally() {
        reindex(width: width, height: height, AffineMap(xx: -1, xy: 0, x0: Double(width - 1), yx: 0, yy: 1, y0: 0))
    }

    mutating func flipVertically() {
        reindex(width: width, height: height, AffineMap(xx: 1, xy: 0, x0: 0, yx: 0, yy: -1, y0: Double(height - 1)))
    }

    /// See `Image.rotated(quarterTurns:)`.
    mutating func rotate(quarterTurns: Int) {
        let (w, h) = (Double(width - 1), Double(height - 1))
        switch ((quarterTurns % 4) + 4) % 4 {
        case 1: reindex(width: height, height: width, AffineMap(xx: 0, xy: -1, x0: w, yx: 1, yy: 0, y0: 0))
        case 2: reindex(width: width, height: height, AffineMap(xx: -1, xy: 0, x0: w, yx: 0, yy: -1, y0: h))
        case 3: reindex(width: height, height: width, AffineMap(xx: 0, xy: 1, x0: 0, yx: -1, yy: 0, y0: h))
        default: break
        }
    }

    /// See `Image.cropped(x:y:width:height:)`.
    mutating func crop(x: Int, y: Int, width w: Int, height h: Int) throws {
        guard w > 0, h > 0, x >= 0, y >= 0, x + w <= width, y + h <= height else {
            throw SynapseError.invalidArgument("crop box (\(x), \(y), \(w)x\(h)) is not inside the \(width)x\(height) image")
        }
        reindex(width: w, height: h, AffineMap(xx: 1, xy: 0, x0: Double(x), yx: 0, yy: 1, y0: Double(y)))
        whole = false
    }

    /// Output pixel (x, y) of a `newWidth` x `newHeight` canvas takes the value of the image so
    /// far at the continuous point `point(x, y)` (pixel centres at half-integers).
    mutating func resample(width newWidth: Int, height newHeight: Int, interpolation: Interpolation, fill: Fill,
                           _ point: AffineMap) {
        if sampling != nil || !whole { self = DeferredImage(image()) }
        // A point of the image so far, less half a pixel, is a (fractional) pixel index; the
        // pending re-indexing takes it to a source index, and half a pixel back makes a point.
        map = AffineMap.shift(0.5).after(map).after(.shift(-0.5)).after(point)
        sampling = (interpolation, fill)
        (width, height) = (newWidth, newHeight)
    }

    /// See `Image.resized(width:height:)`.
    mutating func resize(width newWidth: Int, height newHeight: Int) throws {
        guard newWidth > 0, newHeight > 0 else {
            throw SynapseError.invalidArgument("resize to \(newWidth)x\(newHeight): sizes must be positive")
        }
        resample(width: newWidth, height: newHeight, interpolation: .bilinear, fill: .edge,
                 .resize(width: width, height: height, to: newWidth, newHeight))
    }

    /// Carries out what is pending.
    func image() -> Image {
        if let (interpolation, fill) = sampling {
            return source.resampled(width: width, height: height, interpolation: interpolation, fill: fill, map)
        }
        if width == source.width && height == source.height && map == AffineMap(xx: 1, xy: 0, x0: 0, yx: 0, yy: 1, y0: 0) {
            return source
        }
        // An exact view: pixel (x, y) is source pixel (xx x + xy y + x0, yx x + yy y + y0).
        let w = source.width
        let start = Int(map.x0) + Int(map.y0) * w
        return source.gathered(width: width, height: height, start: start,
                               xStep: Int(map.xx) + Int(map.yx) * w, yStep: Int(map.xy) + Int(map.yy) * w)
    }
}
