import Dense
import XCTest

final class BatchNormTests: XCTestCase {
    func golden(_ prefix: String, features: Int) throws {
        let layer = try BatchNorm(features: features)
        layer.weight.value.assign(fixture("\(prefix).weight"))
        layer.bias.value.assign(fixture("\(prefix).bias"))
        let y = layer.forward(fixture("\(prefix).x"), training: true)
        assertClose(y, fixture("\(prefix).y"), "\(prefix) output")
        let dx = layer.backward(fixture("\(prefix).dy"))
        assertClose(dx, fixture("\(prefix).dx"), "\(prefix) input gradient")
        assertClose(layer.weight.gradient, fixture("\(prefix).dweight"), "\(prefix) gamma gradient")
        assertClose(layer.bias.gradient, fixture("\(prefix).dbias"), "\(prefix) beta gradient")
        assertClose(layer.runningMean.value, fixture("\(prefix).running_mean"), "\(prefix) running mean")
        assertClose(layer.runningVariance.value, fixture("\(prefix).running_var"), "\(prefix) running variance")
        let yEval = layer.forward(fixture("\(prefix).x_eval"), training: false)
        assertClose(yEval, fixture("\(prefix).y_eval"), "\(prefix) evaluation output")
    }

    func testBatchNormOverFeaturesMatchesPyTorch() throws { try golden("bn1d", features: 4) }
    func testBatchNormOverChannelsMatchesPyTorch() throws { try golden("bn2d", features: 2) }

    func testBatchNormGradients() throws {
        let random = RandomGenerator(seed: 8)
        for shape in [[6, 3], [2, 3, 2, 2]] {
            let layer = try BatchNorm(features: 3)
            for p in layer.parameters { for i in 0..<p.value.count { p.value[i] = random.uniform(0.5, 1.5) } }
            checkGradients(layer, input: randomTensor(shape, random, scale: 2), epsilon: 1e-2, tolerance: 2e-2)
            checkGradients(layer, input: randomTensor(shape, random, scale: 2), training: false)
        }
    }

    func testBatchNormRejectsWrongChannelCount() {
        XCTAssertThrowsError(try BatchNorm(features: 3).outputShape(for: [4, 5, 5]))
        XCTAssertEqual(try BatchNorm(features: 3).outputShape(for: [3, 5, 5]), [3, 5, 5])
    }
}
