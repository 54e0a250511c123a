import Dense
import XCTest

final class LossTests: XCTestCase {
    let cases: [(String, any Loss)] = [
        ("mse", MeanSquaredError()), ("ce_labels", SoftmaxCrossEntropy()),
        ("ce_probs", SoftmaxCrossEntropy()), ("bce", BinaryCrossEntropy()),
    ]

    func testLossesMatchPyTorch() {
        for (name, loss) in cases {
            let p = fixture("loss_\(name).predictions")
            let gradient = Tensor(shape: p.shape)
            let value = loss.compute(predictions: p, targets: fixture("loss_\(name).targets"), gradient: gradient)
            assertClose(Tensor(shape: [1], values: [value]), fixture("loss_\(name).value"), "\(name) value")
            assertClose(gradient, fixture("loss_\(name).gradient"), "\(name) gradient")
        }
    }

    func testLossGradientsByFiniteDifferences() {
        for (name, loss) in cases {
            let p = fixture("loss_\(name).predictions").copy()
            let targets = fixture("loss_\(name).targets")
            let gradient = Tensor(shape: p.shape), scratch = Tensor(shape: p.shape)
            _ = loss.compute(predictions: p, targets: targets, gradient: gradient)
            let h: Float = 1e-2
            for i in 0..<p.count {
                let saved = p[i]
                p[i] = saved + h
                let plus = Double(loss.compute(predictions: p, targets: targets, gradient: scratch))
                p[i] = saved - h
                let minus = Double(loss.compute(predictions: p, targets: targets, gradient: scratch))
                p[i] = saved
                XCTAssertEqual((plus - minus) / Double(2 * h), Double(gradient[i]), accuracy: 2e-3, "\(name)[\(i)]")
            }
        }
    }

    func testCrossEntropyIsStableForExtremeLogits() {
        let p = Tensor(shape: [1, 2], values: [1e4, -1e4])
        let gradient = Tensor(shape: [1, 2])
        XCTAssertEqual(SoftmaxCrossEntropy().compute(predictions: p, targets: Tensor(shape: [1], values: [1]), gradient: gradient), 2e4)
        XCTAssertEqual(gradient.array, [1, -1])
        let bce = BinaryCrossEntropy().compute(predictions: Tensor(shape: [1], values: [-200]),
                                               targets: Tensor(shape: [1], values: [1]), gradient: Tensor(shape: [1]))
        XCTAssertEqual(bce, 200, accuracy: 1e-3)
    }
}
