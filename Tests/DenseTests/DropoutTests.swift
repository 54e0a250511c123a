import Dense
import XCTest

final class DropoutTests: XCTestCase {
    func testDropoutScalesKeptValuesAndIsIdentityInEvaluation() throws {
        let layer = try Dropout(rate: 0.25)
        layer.attach(random: RandomGenerator(seed: 1))
        let x = Tensor(shape: [100, 100], repeating: 1)
        let y = layer.forward(x, training: true)
        let kept = y.buffer.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        XCTAssertEqual(Double(kept.count) / 10_000, 0.75, accuracy: 0.02)
        XCTAssertEqual(layer.forward(x, training: false).array, x.array)
    }

    func testDropoutIsReproducibleFromTheSeed() throws {
        func mask(_ seed: UInt64) throws -> [Float] {
            let layer = try Dropout(rate: 0.5)
            layer.attach(random: RandomGenerator(seed: seed))
            return layer.forward(Tensor(shape: [1, 64], repeating: 1), training: true).array
        }
        XCTAssertEqual(try mask(3), try mask(3))
        XCTAssertNotEqual(try mask(3), try mask(4))
    }

    func testDropoutGradient() throws {
        let random = RandomGenerator(seed: 2)
        let layer = try Dropout(rate: 0.4)
        let generator = RandomGenerator(seed: 5)
        layer.attach(random: generator)
        let start = RandomGenerator(seed: 0)
        start.restore(from: generator)
        // Replay the same mask for every forward pass of the check.
        checkGradients(layer, input: randomTensor([4, 6], random), beforeForward: { generator.restore(from: start) })
    }
}
