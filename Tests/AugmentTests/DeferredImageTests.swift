@testable import Augment
import Dense
import XCTest

/// A pipeline folds consecutive geometric steps into one pass (`DeferredImage`); every chain
/// must give what the steps give one at a time.
final class DeferredImageTests: XCTestCase {
    enum Step {
        case flipHorizontal, flipVertical
        case turns(Int)
        case crop(x: Int, y: Int, width: Int, height: Int)
        case paddedCrop(x: Int, y: Int, width: Int, height: Int)
        case rotate(Double, Fill, expand: Bool)
        case resize(width: Int, height: Int)

        /// A step that fits a `width` x `height` image; `exact` keeps to steps that move whole pixels.
        static func random(width: Int, height: Int, exact: Bool, _ random: RandomGenerator) -> Step {
            let (w, h) = (1 + random.below(width), 1 + random.below(height))
            switch random.below(exact ? 4 : 7) {
            case 0: return .flipHorizontal
            case 1: return .flipVertical
            case 2: return .turns(random.below(7) - 3)
            case 3: return .crop(x: random.below(width - w + 1), y: random.below(height - h + 1), width: w, height: h)
            case 4: return .paddedCrop(x: random.below(width + 4) - 2, y: random.below(height + 4) - 2, width: w, height: h)
            case 5:
                let fills: [Fill] = [.constant(0), .constant(1), .edge, .reflect, .wrap]
                return .rotate(Double(random.below(3600)) / 10 - 180, fills[random.below(fills.count)], expand: random.below(2) == 1)
            default: return .resize(width: 1 + random.below(2 * width), height: 1 + random.below(2 * height))
            }
        }

        func apply(to image: Image) throws -> Image {
            switch self {
            case .flipHorizontal: return image.flippedHorizontally()
            case .flipVertical: return image.flippedVertically()
            case .turns(let k): return image.rotated(quarterTurns: k)
            case .crop(let x, let y, let w, let h): return try image.cropped(x: x, y: y, width: w, height: h)
            case .paddedCrop(let x, let y, let w, let h):
                return image.resampled(width: w, height: h, interpolation: .nearest, fill: .constant(0),
                                       AffineMap(xx: 1, xy: 0, x0: Double(x) + 0.5, yx: 0, yy: 1, y0: Double(y) + 0.5))
            case .rotate(let degrees, let fill, let expand): return image.rotated(degrees: degrees, fill: fill, expand: expand)
            case .resize(let w, let h): return try image.resized(width: w, height: h)
            }
        }

        func apply(to image: inout DeferredImage) throws {
            switch self {
            case .flipHorizontal: image.flipHorizontally()
            case .flipVertical: image.flipVertically()
            case .turns(let k): image.rotate(quarterTurns: k)
            case .crop(let x, let y, let w, let h): try image.crop(x: x, y: y, width: w, height: h)
            case .paddedCrop(let x, let y, let w, let h):
                image.resample(width: w, height: h, interpolation: .nearest, fill: .constant(0),
                               AffineMap(xx: 1, xy: 0, x0: Double(x) + 0.5, yx: 0, yy: 1, y0: Double(y) + 0.5))
            case .rotate(let degrees, let fill, let expand):
                let (w, h, map) = AffineMap.rotation(width: image.width, height: image.height, degrees: degrees, expand: expand)
                image.resample(width: w, height: h, interpolation: .bilinear, fill: fill, map)
            case .resize(let w, let h): try image.resize(width: w, height: h)
            }
        }
    }

    func largestDifference(_ a: Image, _ b: Image) -> Int {
        var worst = 0
        for y in 0..<a.height {
            for x in 0..<a.width {
                for c in 0..<a.channels { worst = max(worst, abs(a.sample(x: x, y: y, channel: c) - b.sample(x: x, y: y, channel: c))) }
            }
        }
        return worst
    }

    func check(exact: Bool, chains: Int) throws {
        let random = RandomGenerator(seed: exact ? 11 : 12)
        for chain in 0..<chains {
            let (width, height) = (1 + random.below(19), 1 + random.below(13))
            let (channels, bitDepth) = (1 + random.below(4), random.below(2) == 0 ? 8 : 16)
            let bytes = (0..<(width * height * channels * bitDepth / 8)).map { _ in UInt8(random.below(256)) }
            var eager = try Image(width: width, height: height, channels: channels, bitDepth: bitDepth, bytes: bytes)
            var deferred = DeferredImage(eager)
            var steps: [Step] = []
            for _ in 0..<(1 + random.below(5)) {
                let step = Step.random(width: eager.width, height: eager.height, exact: exact, random)
                steps.append(step)
                eager = try step.apply(to: eager)
                try step.apply(to: &deferred)
                XCTAssertEqual([deferred.width, deferred.height], [eager.width, eager.height], "chain \(chain): \(steps)")
            }
            let folded = deferred.image()
            XCTAssertEqual([folded.width, folded.height, folded.channels, folded.bitDepth],
                           [eager.width, eager.height, eager.channels, eager.bitDepth], "chain \(chain): \(steps)")
            guard folded.width == eager.width && folded.height == eager.height else { continue }
            if exact {
                XCTAssertEqual(folded.bytes, eager.bytes, "chain \(chain): \(steps)")
            } else {
                // Folding a flip or a turn into a resampling mirrors its fractions, which the
                // integer weights round the other way: at most a level at 8 bits, a few at 16.
                XCTAssertLessThanOrEqual(largestDifference(folded, eager), bitDepth == 8 ? 1 : 3, "chain \(chain): \(steps)")
            }
        }
    }

    func testChainsOfExactStepsGiveTheSameBytes() throws {
        try check(exact: true, chains: 300)
    }

    func testChainsWithResamplingAgreeWithTheStepsOneAtATime() throws {
        try check(exact: false, chains: 300)
    }

    func testABoxOutsideTheImageIsAnError() throws {
        var image = DeferredImage(try Image(width: 4, height: 3, channels: 1, bitDepth: 8, bytes: Array(repeating: 0, count: 12)))
        image.rotate(quarterTurns: 1)
        XCTAssertThrowsError(try image.crop(x: 0, y: 0, width: 4, height: 3)) { error in
            XCTAssertTrue("\(error)".contains("3x4"), "\(error)")
        }
        XCTAssertThrowsError(try image.resize(width: 0, height: 2))
    }
}
