import Conv
import Dense
import TestSupport
import XCTest

final class VGGSmallTests: XCTestCase {
    func testShapesAndParameterCount() throws {
        let model = try VGGSmall.make(channels: 3, height: 32, width: 32, classes: 10, random: RandomGenerator(seed: 1))
        let convs = model.outputShapes.enumerated().filter { model.layers[$0.offset] is Conv2D }.map(\.element)
        XCTAssertEqual(convs, [[16, 32, 32], [16, 32, 32], [32, 16, 16], [32, 16, 16], [64, 8, 8], [64, 8, 8]])
        XCTAssertEqual(model.outputShape, [10])
        XCTAssertEqual(model.parameters.reduce(0) { $0 + $1.value.count }, 204_794, "the count the README gives")
        let wide = try VGGSmall.make(channels: 1, height: 24, width: 40, classes: 3, random: RandomGenerator(seed: 1))
        XCTAssertEqual(wide.outputShapes[wide.layers.firstIndex { $0 is Flatten }!], [64 * 3 * 5])
        XCTAssertThrowsError(try VGGSmall.make(channels: 3, height: 30, width: 32, classes: 10, random: RandomGenerator(seed: 1)))
    }

    /// Finite differences in Double through the whole network (convolutions, batch normalisation
    /// in training mode, pooling, dropout with a replayed mask, linear layers) against backward.
    func testGradientOfASmallInstance() throws {
        let random = RandomGenerator(seed: 2)
        let model = try VGGSmall.make(channels: 2, height: 8, width: 8, classes: 3, random: random)
        let x = randomTensor([4, 2, 8, 8], random)
        let r = randomTensor([4, 3], random)
        func objective() -> Double {
            model.attach(random: RandomGenerator(seed: 7))  // the same dropout mask every time
            let y = model.forward(x, training: true)
            return (0..<y.count).reduce(0.0) { $0 + Double(y[$1]) * Double(r[$1]) }
        }
        model.zeroGradients()
        _ = objective()
        model.backward(r)
        // Central differences at two step sizes: where they disagree, the step crossed a kink
        // (a ReLU or a max-pooling choice flipped somewhere in the batch) and the point is skipped,
        // as Caffe's gradient checker skips kinks; elsewhere the error is O(h^2) plus float32
        // rounding of about 1e-6 / h (a few thousandths at h = 2e-4), inside 2 %.
        func numeric(_ p: Parameter, _ i: Int, _ h: Float) -> Double {
            let saved = p.value[i]
            p.value[i] = saved + h; let plus = objective()
            p.value[i] = saved - h; let minus = objective()
            p.value[i] = saved
            return (plus - minus) / (2 * Double(h))
        }
        let picks = RandomGenerator(seed: 3)
        var (checked, skipped) = (0, 0)
        for p in model.parameters {
            let analytic = p.gradient.copy()
            for _ in 0..<6 {
                let i = picks.below(p.value.count)
                let (coarse, fine) = (numeric(p, i, 4e-4), numeric(p, i, 2e-4))
                guard abs(coarse - fine) <= 1e-2 * max(1, abs(fine)) else { skipped += 1; continue }
                XCTAssertEqual(Double(analytic[i]), fine, accuracy: 2e-2 * max(1, abs(fine)), "\(p.name)[\(i)]")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 3 * skipped, "most points are smooth (\(checked) checked, \(skipped) at kinks)")
    }
}
