/// The output size of a convolution or pooling window along one axis:
/// floor((n + 2 padding - dilation (kernel - 1) - 1) / stride) + 1.
///
/// For n = 39, kernel 5, stride 2, padding 0: floor(34 / 2) + 1 = 18.
/// Returns nil when the window does not fit even once.
public func windowOutputSize(_ n: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1) -> Int? {
    let span = dilation * (kernel - 1) + 1
    guard n > 0, kernel > 0, stride > 0, padding >= 0, n + 2 * padding >= span else { return nil }
    return (n + 2 * padding - span) / stride + 1
}

/// The geometry of a 2-D window sliding over a C x H x W image.
public struct WindowGeometry: Equatable, Sendable {
    /// The input image's channels, height and width (C, H, W).
    public var channels: Int, height: Int, width: Int
    /// The window's height and width (kH, kW).
    public var kernelHeight: Int, kernelWidth: Int
    /// The step between windows along the height and the width.
    public var strideHeight: Int, strideWidth: Int
    /// The zeros added above and below (height), left and right (width).
    public var paddingHeight: Int, paddingWidth: Int
    /// The number of window positions along the height and the width (oH, oW): see
    /// `windowOutputSize(_:kernel:stride:padding:dilation:)`.
    public var outputHeight: Int, outputWidth: Int

    /// A geometry from its parts, taken as given (the output size is not recomputed).
    public init(channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int, strideWidth: Int, paddingHeight: Int, paddingWidth: Int,
                outputHeight: Int, outputWidth: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.kernelHeight, self.kernelWidth) = (kernelHeight, kernelWidth)
        (self.strideHeight, self.strideWidth) = (strideHeight, strideWidth)
        (self.paddingHeight, self.paddingWidth) = (paddingHeight, paddingWidth)
        (self.outputHeight, self.outputWidth) = (outputHeight, outputWidth)
    }

    /// Rows of the column matrix: C x kH x kW.
    public var patchSize: Int { channels * kernelHeight * kernelWidth }
    /// Columns of the column matrix per image: oH x oW.
    public var outputArea: Int { outputHeight * outputWidth }

    /// The range of output columns `ow` whose input column `ow * stride - padding + offset` is
    /// inside the image.
    @inline(__always)
    func validColumns(offset kw: Int) -> Range<Int> {
        // iw = ow * sw - pw + kw in [0, W)  <=>  ow in [ceil((pw - kw) / sw), floor((W - 1 + pw - kw) / sw)]
        let low = max(0, (paddingWidth - kw + strideWidth - 1) / strideWidth)
        let highInclusive = (width - 1 + paddingWidth - kw)
        let high = highInclusive < 0 ? 0 : min(outputWidth, highInclusive / strideWidth + 1)
        return low..<max(low, high)
    }
}

/// Unfolds one C x H x W image into columns: row (c, kh, kw), column (oh, ow) holds
/// x[c, oh * sh - ph + kh, ow * sw - pw + kw], or 0 in the padding.
///
/// `columns` has `patchSize` rows with a leading dimension (row stride) of `rowStride`, so that the
/// columns of several images can sit side by side in one matrix for a single GEMM.
public func im2col(_ image: UnsafePointer<Float>, _ g: WindowGeometry,
                   into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    var row = 0
    for c in 0..<g.channels {
        let plane = image + c &* g.height &* g.width
        for kh in 0..<g.kernelHeight {
            for kw in 0..<g.kernelWidth {
                let valid = g.validColumns(offset: kw)
                let destination = columns + row &* rowStride
                for y in 0..<oh {
                    let d = destination + y &* ow
                    let iy = y &* g.strideHeight &- g.paddingHeight &+ kh
                    guard iy >= 0 && iy < g.height else {
                        d.update(repeating: 0, count: ow)
                        continue
                    }
                    let source = plane + (iy &* g.width &- g.paddingWidth &+ kw)
                    for x in 0..<valid.lowerBound { d[x] = 0 }
                    if g.strideWidth == 1 {
                        // A plain loop: rows are short (tens of floats), too short to pay for a memmove call.
                        for x in valid { d[x] = source[x] }
                    } else {
                        let s = g.strideWidth
                        for x in valid { d[x] = source[x &* s] }
                    }
                    for x in valid.upperBound..<ow { d[x] = 0 }
                }
                row += 1
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back into the image position it came from
/// (entries from the padding are dropped). `image` must be zeroed by the caller.
public func col2im(_ columns: UnsafePointer<Float>, rowStride: Int, _ g: WindowGeometry,
                   into image: UnsafeMutablePointer<Float>) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    var row = 0
    for c in 0..<g.channels {
        let plane = image + c &* g.height &* g.width
        for kh in 0..<g.kernelHeight {
            for kw in 0..<g.kernelWidth {
                let valid = g.validColumns(offset: kw)
                let source = columns + row &* rowStride
                for y in 0..<oh {
                    let iy = y &* g.strideHeight &- g.paddingHeight &+ kh
                    guard iy >= 0 && iy < g.height else { continue }
                    let s = source + y &* ow
                    let d = plane + (iy &* g.width &- g.paddingWidth &+ kw)
                    let stride = g.strideWidth
                    if stride == 1 {
                        for x in valid { d[x] += s[x] }
                    } else {
                        for x in valid { d[x &* stride] += s[x] }
                    }
                }
                row += 1
            }
        }
    }
}
