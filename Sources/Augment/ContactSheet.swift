import Dense

extension Image {
    /// The image as 8-bit RGB: gray is repeated, alpha is composited over white, 16-bit samples
    /// keep their high byte.
    public func rgb8() -> Image {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        withSamples { read in
            let scale = bitDepth == 8 ? 1.0 : 1.0 / 257
            for y in 0..<height {
                for x in 0..<width {
                    let alpha = channels == 2 || channels == 4 ? read(x, y, channels - 1) * scale / 255 : 1
                    for k in 0..<3 {
                        let value = read(x, y, channels >= 3 ? k : 0) * scale
                        out[(y * width + x) * 3 + k] = UInt8((value * alpha + 255 * (1 - alpha)).rounded())
                    }
                }
            }
        }
        return try! Image(width: width, height: height, channels: 3, bitDepth: 8, bytes: out)
    }
}

/// A contact sheet: one row per source image, the original first and its augmented copies after
/// it, each scaled to `thumbnailHeight` pixels high, on a white background with 4-pixel gaps.
public func contactSheet(_ rows: [[Image]], thumbnailHeight: Int = 96) throws -> Image {
    let gap = 4
    let thumbnails = try rows.map { row in
        try row.map { image in
            let width = max(1, Int((Double(image.width) * Double(thumbnailHeight) / Double(image.height)).rounded()))
            return try image.rgb8().resized(width: width, height: thumbnailHeight)
        }
    }
    let width = max(1, thumbnails.map { $0.reduce(gap) { $0 + $1.width + gap } }.max() ?? 1)
    let height = max(1, gap + thumbnails.count * (thumbnailHeight + gap))
    var canvas = [UInt8](repeating: 255, count: width * height * 3)
    for (r, row) in thumbnails.enumerated() {
        var left = gap
        let top = gap + r * (thumbnailHeight + gap)
        for thumbnail in row {
            for y in 0..<thumbnail.height {
                let source = y * thumbnail.width * 3, target = ((top + y) * width + left) * 3
                canvas.replaceSubrange(target..<(target + thumbnail.width * 3), with: thumbnail.bytes[source..<(source + thumbnail.width * 3)])
            }
            left += thumbnail.width + gap
        }
    }
    return try Image(width: width, height: height, channels: 3, bitDepth: 8, bytes: canvas)
}
