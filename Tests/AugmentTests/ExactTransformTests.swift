import Augment
import Dense
import XCTest

final class ExactTransformTests: XCTestCase {
    let kinds = ["gray", "rgb", "rgba"]

    func testFlipsAndQuarterTurnsMatchPillowBitForBit() throws {
        for kind in kinds {
            let source = try PNG.read(fixtureURL(kind))
            let cases: [(String, Image)] = [
                ("flip_lr", source.flippedHorizontally()), ("flip_tb", source.flippedVertically()),
                ("rot90", source.rotated(quarterTurns: 1)), ("rot180", source.rotated(quarterTurns: 2)),
                ("rot270", source.rotated(quarterTurns: 3)), ("rot270", source.rotated(quarterTurns: -1)),
                ("crop", try source.cropped(x: 3, y: 2, width: 13, height: 9)),
            ]
            for (operation, ours) in cases {
                XCTAssertEqual(ours, try PNG.read(fixtureURL("\(kind)_\(operation)")), "\(kind) \(operation)")
            }
        }
    }

    func testPropertiesOfExactTransforms() throws {
        let random = RandomGenerator(seed: 3)
        for depth in [8, 16] {
            let image = try Image(width: 5, height: 3, channels: 2, bitDepth: depth,
                                  bytes: (0..<(30 * depth / 8)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            XCTAssertEqual(image.flippedHorizontally().flippedHorizontally(), image)
            XCTAssertEqual(image.flippedVertically().flippedVertically(), image)
            XCTAssertEqual(image.rotated(quarterTurns: 1).rotated(quarterTurns: 1).rotated(quarterTurns: 1).rotated(quarterTurns: 1), image)
            XCTAssertEqual(image.rotated(quarterTurns: 2), image.flippedHorizontally().flippedVertically())
            let turned = image.rotated(quarterTurns: 1)
            XCTAssertEqual([turned.width, turned.height], [3, 5])
            // Counter-clockwise: the top-right pixel becomes the top-left one.
            XCTAssertEqual(turned.sample(x: 0, y: 0, channel: 1), image.sample(x: 4, y: 0, channel: 1))
        }
    }

    func testCropsStayInBounds() throws {
        let image = try Image(width: 6, height: 4, channels: 1, bitDepth: 8, bytes: (0..<24).map(UInt8.init))
        XCTAssertEqual(try image.cropped(x: 1, y: 1, width: 2, height: 2).bytes, [7, 8, 13, 14])
        XCTAssertEqual(try image.centerCropped(width: 3, height: 2).bytes, [7, 8, 9, 13, 14, 15])
        XCTAssertEqual(try image.cropped(x: 0, y: 0, width: 6, height: 4), image)
        XCTAssertThrowsError(try image.cropped(x: 4, y: 0, width: 3, height: 1))
        XCTAssertThrowsError(try image.cropped(x: -1, y: 0, width: 1, height: 1))
        XCTAssertThrowsError(try image.centerCropped(width: 7, height: 1))
    }
}

final class ImageTensorTests: XCTestCase {
    func testTensorRoundTripAndLayout() throws {
        let rgb = try PNG.read(fixtureURL("rgb"))
        let t = rgb.tensor()
        XCTAssertEqual(t.shape, [3, 23, 37])
        // Channel-major: the green sample of pixel (x 5, y 2).
        XCTAssertEqual(t[1 * 23 * 37 + 2 * 37 + 5], Float(rgb.sample(x: 5, y: 2, channel: 1)) / 255, accuracy: 1e-7)
        XCTAssertEqual(try Image(tensor: t), rgb)
        let deep = try Image(width: 2, height: 1, channels: 1, bitDepth: 16, bytes: [0xff, 0xff, 0x00, 0x80])
        XCTAssertEqual(deep.tensor().array, [1, Float(0x8000) / 65535])
        XCTAssertEqual(try Image(tensor: deep.tensor(), bitDepth: 16), deep)
        XCTAssertEqual(try Image(tensor: Tensor(shape: [1, 1, 2], values: [-0.5, 1.5])).bytes, [0, 255], "clamped")
        XCTAssertThrowsError(try Image(tensor: Tensor(shape: [5, 1, 1])))
    }
}
