import Dense
import Foundation

/// One augmentation step with the ranges its parameters are drawn from.
public enum Transform: Codable, Equatable, Sendable {
    /// Mirrors the image left to right.
    case flipHorizontal
    /// Mirrors the image top to bottom.
    case flipVertical
    /// A random quarter turn (0, 90, 180 or 270 degrees).
    case rotate90
    /// An angle drawn uniformly from `degrees` (positive = counter-clockwise).
    case rotate(degrees: ClosedRange<Double>, interpolation: Interpolation, fill: FillMode, expand: Bool)
    /// A random `width` x `height` box, after padding each side by `padding` pixels (zeros).
    case randomCrop(width: Int, height: Int, padding: Int)
    /// The centred `width` x `height` box.
    case centerCrop(width: Int, height: Int)
    /// torchvision's RandomResizedCrop: a box of a random area (fraction `scale` of the image)
    /// and aspect ratio (`ratio`, drawn log-uniformly), resized to `width` x `height`.
    case randomResizedCrop(width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>)
    /// Resized (bilinear) to `width` x `height`, whatever the aspect ratio.
    case resize(width: Int, height: Int)

    /// The `Fill` modes by name, for JSON.
    public enum FillMode: String, Codable, Sendable {
        /// Zeros: `Fill.constant(0)`.
        case black
        /// Full scale: `Fill.constant(1)`.
        case white
        /// The nearest edge pixel, repeated: `Fill.edge`.
        case edge
        /// Mirrored including the edge pixel: `Fill.reflect`.
        case reflect
        /// Tiled: `Fill.wrap`.
        case wrap

        var fill: Fill {
            switch self {
            case .black: return .constant(0)
            case .white: return .constant(1)
            case .edge: return .edge
            case .reflect: return .reflect
            case .wrap: return .wrap
            }
        }
    }
}

extension Interpolation: Codable {}

/// An ordered list of transforms, each applied with its probability.
///
/// Seeded so that each output depends only on (seed, the file's relative path, copy index): the
/// generator for one output is seeded from a 64-bit FNV-1a hash of those three, so the same bytes
/// come out whatever the number of jobs or the order of files. Describable as JSON:
///
///     {"seed": 42, "steps": [{"probability": 0.5, "transform": {"flipHorizontal": {}}},
///                            {"probability": 1, "transform": {"rotate": {"degrees": [-15, 15], ...}}}]}
public struct Pipeline: Codable, Equatable, Sendable {
    /// One transform and the probability that it is applied.
    public struct Step: Codable, Equatable, Sendable {
        /// The transform, with the ranges its parameters are drawn from.
        public var transform: Transform
        /// The chance the step applies to an output, in [0, 1] (1: always).
        public var probability: Double
        /// A step applying `transform` with `probability` (default 1, always).
        public init(_ transform: Transform, probability: Double = 1) {
            (self.transform, self.probability) = (transform, probability)
        }
    }

    /// The seed every output's generator is derived from (with the file's relative path and the
    /// copy index).
    public var seed: UInt64
    /// The steps, applied in order.
    public var steps: [Step]

    /// A pipeline of `steps` seeded with `seed`; it is checked when decoded (see `validate()`), not here.
    public init(seed: UInt64, steps: [Step]) { (self.seed, self.steps) = (seed, steps) }

    enum CodingKeys: String, CodingKey { case seed, steps }

    /// Decodes and then validates (see `validate()`): a decoded pipeline never hands a NaN, an
    /// infinity or an absurd size to the transforms.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seed = try container.decode(UInt64.self, forKey: .seed)
        steps = try container.decode([Step].self, forKey: .steps)
        try validate()
    }

    /// Reads a pipeline from a JSON file; every problem is an error naming the file.
    public static func load(from url: URL) throws -> Pipeline {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(Pipeline.self, from: data) } catch let error as SynapseError {
            throw SynapseError.file(path: url.path, problem: "not a valid pipeline: \(error)")
        } catch {
            throw SynapseError.file(path: url.path, problem: "not a pipeline description: \(error)")
        }
    }

    /// The largest width, height or padding a step may name (65,536 pixels: PNG allows more,
    /// but nothing here needs it).
    public static let maxSide = 1 << 16
    /// The widest rotation range, in degrees either way.
    public static let maxDegrees = 360.0
    /// The extreme aspect ratios a random resized crop may draw.
    public static let ratioRange = 1e-6...1e6

    /// Throws a `SynapseError.invalidArgument` naming the step and the problem unless every
    /// probability is in [0, 1], every angle finite and within +-`maxDegrees`, every size in
    /// 1...`maxSide` (paddings from 0) with outputs of at most `PNG.defaultPixelLimit` pixels,
    /// every scale in (0, 1] and every ratio positive and finite (within `ratioRange`).
    public func validate() throws {
        for (index, step) in steps.enumerated() {
            func fail(_ problem: String) -> SynapseError { .invalidArgument("step \(index + 1): \(problem)") }
            func size(_ w: Int, _ h: Int, _ what: String) throws {
                guard (1...Pipeline.maxSide).contains(w), (1...Pipeline.maxSide).contains(h), w * h <= PNG.defaultPixelLimit else {
                    throw fail("\(what) \(w)x\(h): sides must be in 1...\(Pipeline.maxSide), \(PNG.defaultPixelLimit) pixels at most")
                }
            }
            guard step.probability.isFinite, (0...1).contains(step.probability) else {
                throw fail("probability \(step.probability) is not in [0, 1]")
            }
            switch step.transform {
            case .flipHorizontal, .flipVertical, .rotate90:
                break
            case .rotate(let degrees, _, _, _):
                guard degrees.lowerBound.isFinite, degrees.upperBound.isFinite,
                      degrees.lowerBound >= -Pipeline.maxDegrees, degrees.upperBound <= Pipeline.maxDegrees else {
                    throw fail("rotation range \(degrees) is not finite within +-\(Pipeline.maxDegrees) degrees")
                }
            case .randomCrop(let w, let h, let padding):
                try size(w, h, "crop")
                guard (0...Pipeline.maxSide).contains(padding) else {
                    throw fail("crop padding \(padding) is not in 0...\(Pipeline.maxSide)")
                }
            case .centerCrop(let w, let h):
                try size(w, h, "center crop")
            case .randomResizedCrop(let w, let h, let scale, let ratio):
                try size(w, h, "resized crop")
                guard scale.lowerBound > 0, scale.upperBound <= 1 else {
                    throw fail("resized crop scale \(scale) is not within (0, 1]")
                }
                guard Pipeline.ratioRange.contains(ratio.lowerBound), Pipeline.ratioRange.contains(ratio.upperBound) else {
                    throw fail("resized crop ratio \(ratio) is not positive and finite (within \(Pipeline.ratioRange))")
                }
            case .resize(let w, let h):
                try size(w, h, "resize")
            }
        }
    }

    /// The generator for copy `copy` of the file at `relativePath`.
    public func random(for relativePath: String, copy: Int) -> RandomGenerator {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(seed)\u{0}\(relativePath)\u{0}\(copy)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return RandomGenerator(seed: hash)
    }

    /// Applies the steps; returns the image and, per step applied, its drawn parameters.
    ///
    /// The geometry of consecutive steps is carried out in as few passes over the pixels as it
    /// allows (see `DeferredImage`): flip -> rotate -> crop resamples only the cropped box, once.
    public func apply(_ image: Image, random: RandomGenerator) throws -> (Image, [String]) {
        var current = DeferredImage(image)
        var applied: [String] = []
        for step in steps {
            // The coin is always drawn, so a skipped step does not shift later draws.
            let coin = Double(random.uniform())
            guard coin < step.probability else { continue }
            applied.append(try apply(step.transform, to: &current, random: random))
        }
        return (current.image(), applied)
    }

    /// Records one step on `image`; returns its drawn parameters.
    func apply(_ transform: Transform, to image: inout DeferredImage, random: RandomGenerator) throws -> String {
        switch transform {
        case .flipHorizontal:
            image.flipHorizontally()
            return "flip_horizontal"
        case .flipVertical:
            image.flipVertically()
            return "flip_vertical"
        case .rotate90:
            let turns = random.below(4)
            image.rotate(quarterTurns: turns)
            return "rotate90 \(turns * 90)"
        case .rotate(let range, let interpolation, let fill, let expand):
            let angle = range.lowerBound + (range.upperBound - range.lowerBound) * Double(random.uniform())
            let (w, h, map) = AffineMap.rotation(width: image.width, height: image.height, degrees: angle, expand: expand)
            image.resample(width: w, height: h, interpolation: interpolation, fill: fill.fill, map)
            return String(format: "rotate %.3f", angle)
        case .randomCrop(let w, let h, let padding):
            let (pw, ph) = (image.width + 2 * padding, image.height + 2 * padding)
            guard w <= pw, h <= ph else {
                throw SynapseError.invalidArgument("crop \(w)x\(h) is larger than the \(image.width)x\(image.height) image (padding \(padding))")
            }
            let x = random.below(pw - w + 1) - padding
            let y = random.below(ph - h + 1) - padding
            if padding == 0 {
                try image.crop(x: x, y: y, width: w, height: h)
            } else {
                image.resample(width: w, height: h, interpolation: .nearest, fill: .constant(0),
                               AffineMap(xx: 1, xy: 0, x0: Double(x) + 0.5, yx: 0, yy: 1, y0: Double(y) + 0.5))
            }
            return "crop \(x),\(y) \(w)x\(h)"
        case .centerCrop(let w, let h):
            try image.crop(x: (image.width - w) / 2, y: (image.height - h) / 2, width: w, height: h)
            return "center_crop \(w)x\(h)"
        case .randomResizedCrop(let w, let h, let scale, let ratio):
            let area = Double(image.width * image.height)
            // torchvision's procedure: ten tries at a box inside the image, else the centred
            // largest box of an allowed ratio.
            for _ in 0..<10 {
                let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * Double(random.uniform()))
                let logRatio = log(ratio.lowerBound) + (log(ratio.upperBound) - log(ratio.lowerBound)) * Double(random.uniform())
                let aspect = exp(logRatio)
                let bw = Int((target * aspect).squareRoot().rounded()), bh = Int((target / aspect).squareRoot().rounded())
                if bw > 0, bh > 0, bw <= image.width, bh <= image.height {
                    let x = random.below(image.width - bw + 1)
                    let y = random.below(image.height - bh + 1)
                    try image.crop(x: x, y: y, width: bw, height: bh)
                    try image.resize(width: w, height: h)
                    return "resized_crop \(x),\(y) \(bw)x\(bh) -> \(w)x\(h)"
                }
            }
            let imageRatio = Double(image.width) / Double(image.height)
            var (bw, bh) = (image.width, image.height)
            if imageRatio < ratio.lowerBound { bh = Int((Double(bw) / ratio.lowerBound).rounded()) }
            else if imageRatio > ratio.upperBound { bw = Int((Double(bh) * ratio.upperBound).rounded()) }
            try image.crop(x: (image.width - bw) / 2, y: (image.height - bh) / 2, width: bw, height: bh)
            try image.resize(width: w, height: h)
            return "resized_crop center \(bw)x\(bh) -> \(w)x\(h)"
        case .resize(let w, let h):
            try image.resize(width: w, height: h)
            return "resize \(w)x\(h)"
        }
    }
}
