@testable import Augment
import Dense
import XCTest

final class RotationTests: XCTestCase {
    /// Mean absolute difference in sample levels, and the share of samples that differ at all.
    func difference(_ a: Image, _ b: Image) -> (mean: Double, differing: Double) {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels)
        var sum = 0.0, differing = 0
        for y in 0..<a.height {
            for x in 0..<a.width {
                for c in 0..<a.channels {
                    let d = abs(a.sample(x: x, y: y, channel: c) - b.sample(x: x, y: y, channel: c))
                    sum += Double(d)
                    if d != 0 { differing += 1 }
                }
            }
        }
        let n = Double(a.width * a.height * a.channels)
        return (sum / n, Double(differing) / n)
    }

    func testArbitraryAnglesAgreeWithPillow() throws {
        for kind in ["gray", "rgb", "rgba"] {
            let source = try PNG.read(fixtureURL(kind))
            let cases: [(String, Image, Double)] = [
                // Bilinear: Pillow truncates and clamps at the border (see `rotated(degrees:)`).
                ("rotate15_bilinear", source.rotated(degrees: 15), 4.0),
                ("rotate15_nearest", source.rotated(degrees: 15, interpolation: .nearest), 0),
                ("rotate30_bilinear_expand", source.rotated(degrees: 30, expand: true), 4.0),
            ]
            for (name, ours, tolerance) in cases {
                let pillow = try PNG.read(fixtureURL("\(kind)_\(name)"))
                XCTAssertEqual([ours.width, ours.height], [pillow.width, pillow.height], "\(kind) \(name) size")
                guard ours.width == pillow.width && ours.height == pillow.height else { continue }
                let (mean, differing) = difference(ours, pillow)
                print(String(format: "%@ %@: mean |difference| %.3f levels, %.1f%% of samples differ", kind, name, mean, 100 * differing))
                XCTAssertLessThanOrEqual(mean, tolerance, "\(kind) \(name)")
            }
        }
    }

    func testQuarterTurnsByAngleEqualTheExactOnes() throws {
        let square = try PNG.read(fixtureURL("gray")).centerCropped(width: 15, height: 15)
        for interpolation in Interpolation.allCases {
            XCTAssertEqual(square.rotated(degrees: 90, interpolation: interpolation), square.rotated(quarterTurns: 1))
            XCTAssertEqual(square.rotated(degrees: -90, interpolation: interpolation), square.rotated(quarterTurns: -1))
            XCTAssertEqual(square.rotated(degrees: 180, interpolation: interpolation), square.rotated(quarterTurns: 2))
            XCTAssertEqual(square.rotated(degrees: 0, interpolation: interpolation), square)
        }
        let wide = try PNG.read(fixtureURL("rgb"))
        XCTAssertEqual(wide.rotated(degrees: 90, interpolation: .nearest, expand: true), wide.rotated(quarterTurns: 1))
    }

    /// Bilinear sampling written plainly, in Double: the point less half a pixel, its four
    /// neighbours through the fill, rounded to nearest.
    func referenceBilinear(_ image: Image, width: Int, height: Int, fill: Fill, _ map: AffineMap) -> [Int] {
        let top = Double(image.bitDepth == 8 ? 255 : 65535)
        var constant = 0.0
        if case .constant(let value) = fill { constant = (value * top).rounded() }
        var out: [Int] = []
        for y in 0..<height {
            for x in 0..<width {
                let u = map.xx * Double(x) + map.xy * Double(y) + map.x0 - 0.5
                let v = map.yx * Double(x) + map.yy * Double(y) + map.y0 - 0.5
                let (x0, y0) = (Int(u.rounded(.down)), Int(v.rounded(.down)))
                let (fx, fy) = (u - u.rounded(.down), v - v.rounded(.down))
                for k in 0..<image.channels {
                    func level(_ x: Int, _ y: Int) -> Double {
                        guard let px = fill.resolve(x, image.width), let py = fill.resolve(y, image.height) else { return constant }
                        return Double(image.sample(x: px, y: py, channel: k))
                    }
                    let value = (1 - fy) * ((1 - fx) * level(x0, y0) + fx * level(x0 + 1, y0))
                        + fy * ((1 - fx) * level(x0, y0 + 1) + fx * level(x0 + 1, y0 + 1))
                    out.append(Int((value + 0.5).rounded(.down)))
                }
            }
        }
        return out
    }

    func testBilinearPathsAgreeWithAPlainReference() throws {
        // The resampler's inside run, its vector loop for 8-bit colour, and the border path
        // around them must all give the plain formula's level (within the 11-bit weights'
        // rounding), for every channel count, depth, fill, and sizes down to one pixel.
        let random = RandomGenerator(seed: 7)
        let fills: [Fill] = [.constant(0), .constant(0.5), .edge, .reflect, .wrap]
        for (width, height) in [(1, 1), (1, 6), (7, 1), (2, 2), (13, 9), (31, 17)] {
            for channels in 1...4 {
                for bitDepth in [8, 16] {
                    let count = width * height * channels * bitDepth / 8
                    let image = try Image(width: width, height: height, channels: channels, bitDepth: bitDepth,
                                          bytes: (0..<count).map { _ in UInt8(random.below(256)) })
                    for (index, fill) in fills.enumerated() {
                        let degrees = [15.0, -37, 123.4, 0.5, 200][index]
                        let radians = degrees * .pi / 180
                        let (c, s) = (cos(radians), sin(radians))
                        let (w, h) = (width + 3, height + 2)
                        let maps = [
                            // A turn about the middle on a slightly larger canvas, and a 1.7x shrink.
                            AffineMap(xx: c, xy: -s, x0: Double(width) / 2 - c * Double(w) / 2 + s * Double(h) / 2 + 0.5 * (c - s),
                                      yx: s, yy: c, y0: Double(height) / 2 - s * Double(w) / 2 - c * Double(h) / 2 + 0.5 * (s + c)),
                            AffineMap(xx: 0.6, xy: 0, x0: 0.3, yx: 0, yy: 0.6, y0: 0.3),
                        ]
                        for map in maps {
                            let ours = image.resampled(width: w, height: h, interpolation: .bilinear, fill: fill, map)
                            let expected = referenceBilinear(image, width: w, height: h, fill: fill, map)
                            var worst = 0
                            for y in 0..<h {
                                for x in 0..<w {
                                    for k in 0..<channels {
                                        let got = ours.sample(x: x, y: y, channel: k)
                                        worst = max(worst, abs(got - expected[(y * w + x) * channels + k]))
                                    }
                                }
                            }
                            // Weights of 11 bits (8-bit samples) or 16 bits (16-bit samples).
                            XCTAssertLessThanOrEqual(worst, bitDepth == 8 ? 1 : 3,
                                                     "\(width)x\(height), \(channels) channels, \(bitDepth) bits, \(fill), \(map)")
                        }
                    }
                }
            }
        }
    }

    func testFillModes() throws {
        // A 4x1 row turned by 90 degrees in place: most output pixels read rows above and below
        // the image, so they show the fill.
        let row = try Image(width: 4, height: 1, channels: 1, bitDepth: 8, bytes: [10, 20, 30, 40])
        let turned = { (fill: Fill) in row.rotated(degrees: 90, interpolation: .nearest, fill: fill).bytes }
        // Output pixel x reads input (2, y') for y' = x - 1.5 + 0.5 -> rows -1, 0, 1, 2 (column 2).
        XCTAssertEqual(turned(.constant(0)), [0, 30, 0, 0])
        XCTAssertEqual(turned(.constant(1)), [255, 30, 255, 255])
        XCTAssertEqual(turned(.edge), [30, 30, 30, 30])
        XCTAssertEqual(turned(.reflect), [30, 30, 30, 30])
        XCTAssertEqual(turned(.wrap), [30, 30, 30, 30])
        // Along a row the modes differ: d c b a | a b c d for reflect, a b c d | a b c d for wrap.
        XCTAssertEqual((-4..<8).map { Fill.reflect.resolve($0, 4)! }, [3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0])
        XCTAssertEqual((-4..<8).map { Fill.wrap.resolve($0, 4)! }, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
        XCTAssertEqual((-2..<6).map { Fill.edge.resolve($0, 4)! }, [0, 0, 0, 1, 2, 3, 3, 3])
        XCTAssertNil(Fill.constant(0).resolve(-1, 4))
    }
}
