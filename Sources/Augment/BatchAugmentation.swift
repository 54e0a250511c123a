import Dense
import Foundation

/// Random geometric augmentation of training batches (N x C x H x W Float tensors), applied in
/// place. Every sample draws its own parameters: a rotation angle, a shift in whole pixels and,
/// if enabled, flips; the sample is resampled bilinearly about its centre, with zeros outside.
/// Use it as `Trainer.augmentBatch`; digits must not be flipped, so flips are off by default.
public final class BatchAugmentation {
    /// The range each sample's rotation angle is drawn from, uniformly, in degrees (positive is
    /// counter-clockwise); -10...10 by default.
    public let degrees: ClosedRange<Float>
    /// The largest shift, in whole pixels, along each axis; each sample draws one in -maxShift...maxShift
    /// (2 by default).
    public let maxShift: Int
    /// Whether half of the samples are mirrored left to right (false by default: digits must not be).
    public let flipHorizontal: Bool
    private var scratch: [Float] = []

    /// An augmentation drawing angles from `degrees`, shifts up to `maxShift` pixels and, when
    /// `flipHorizontal` is set, mirror images; the defaults suit MNIST digits.
    public init(degrees: ClosedRange<Float> = -10...10, maxShift: Int = 2, flipHorizontal: Bool = false) {
        (self.degrees, self.maxShift, self.flipHorizontal) = (degrees, maxShift, flipHorizontal)
    }

    /// Augments every sample of `batch` (N x C x H x W) in place, drawing its angle, shift and flip
    /// from `random` (the same seed gives the same batch); all channels of a sample move together.
    public func callAsFunction(_ batch: Tensor, random: RandomGenerator) {
        precondition(batch.shape.count == 4, "batch augmentation takes N x C x H x W, got \(batch.shape)")
        let (n, c, h, w) = (batch.shape[0], batch.shape[1], batch.shape[2], batch.shape[3])
        let plane = h * w
        if scratch.count < plane { scratch = [Float](repeating: 0, count: plane) }
        for s in 0..<n {
            let angle = Double(random.uniform(degrees.lowerBound, degrees.upperBound)) * .pi / 180
            let shiftX = Double(random.below(2 * maxShift + 1) - maxShift)
            let shiftY = Double(random.below(2 * maxShift + 1) - maxShift)
            let flip = flipHorizontal && random.uniform() < 0.5
            let (cs, sn) = (cos(angle), sin(angle))
            let (cx, cy) = (Double(w) / 2, Double(h) / 2)
            for ch in 0..<c {
                let data = batch.data + (s * c + ch) * plane
                scratch.withUnsafeMutableBufferPointer { out in
                    for y in 0..<h {
                        for x in 0..<w {
                            // The output centre, moved back by the shift, turned back by the angle.
                            var dx = Double(x) + 0.5 - cx - shiftX
                            let dy = Double(y) + 0.5 - cy - shiftY
                            if flip { dx = -dx }
                            let u = cs * dx - sn * dy + cx - 0.5, v = sn * dx + cs * dy + cy - 0.5
                            let (fu, fv) = (u.rounded(.down), v.rounded(.down))
                            let (x0, y0) = (Int(fu), Int(fv))
                            let (fx, fy) = (Float(u - fu), Float(v - fv))
                            @inline(__always) func at(_ px: Int, _ py: Int) -> Float {
                                px >= 0 && px < w && py >= 0 && py < h ? data[py * w + px] : 0
                            }
                            out[y * w + x] = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy)
                                + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy
                        }
                    }
                    data.update(from: out.baseAddress!, count: plane)
                }
            }
        }
    }
}
