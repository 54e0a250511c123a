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
