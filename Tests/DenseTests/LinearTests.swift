import Dense
import XCTest

final class LinearTests: XCTestCase {
    func golden(_ prefix: String) throws {
        let x = fixture("\(prefix).x")
        let layer = try Linear(5, 3, random: RandomGenerator(seed: 1))
        layer.weight.value.assign(fixture("\(prefix).weight"))
        layer.bias!.value.assign(fixture("\(prefix).bias"))
        let y = layer.forward(x, training: true)
        XCTAssertEqual(y.shape, fixture("\(prefix).y").shape)
        assertClose(y, fixture("\(prefix).y"), "\(prefix) output")
        let dx = layer.backward(fixture("\(prefix).dy"))
        assertClose(dx, fixture("\(prefix).dx"), "\(prefix) input gradient")
        assertClose(layer.weight.gradient, fixture("\(prefix).dweight"), "\(prefix) weight gradient")
        assertClose(layer.bias!.gradient, fixture("\(prefix).dbias"), "\(prefix) bias gradient")
    }

    func testLinearMatchesPyTorch() throws { try golden("linear") }

    func testLinearOverSequencesMatchesPyTorch() throws { try golden("linear_seq") }

    func testLinearGradient() throws {
        let random = RandomGenerator(seed: 3)
        let layer = try Linear(4, 3, random: random)
        checkGradients(layer, input: randomTensor([5, 4], random))
    }

    func testLinearWithoutBiasGradient() throws {
        let random = RandomGenerator(seed: 4)
        let layer = try Linear(3, 2, bias: false, random: random)
        XCTAssertEqual(layer.parameters.count, 1)
        checkGradients(layer, input: randomTensor([2, 3], random))
    }

    func testGradientsAccumulateAcrossBackwardCalls() throws {
        let random = RandomGenerator(seed: 5)
        let layer = try Linear(3, 2, random: random)
        let x = randomTensor([4, 3], random), dy = randomTensor([4, 2], random)
        _ = layer.forward(x, training: true)
        _ = layer.backward(dy)
        let once = layer.weight.gradient.copy()
        _ = layer.backward(dy)
        for i in 0..<once.count { XCTAssertEqual(layer.weight.gradient[i], 2 * once[i], accuracy: 1e-5) }
    }

    func testShapeInferenceRejectsWrongFeatureCount() throws {
        let layer = try Linear(4, 2, random: RandomGenerator(seed: 1), name: "fc")
        XCTAssertEqual(try layer.outputShape(for: [7, 4]), [7, 2])
        XCTAssertThrowsError(try layer.outputShape(for: [5])) { error in
            XCTAssertTrue("\(error)".contains("fc") && "\(error)".contains("4 input features"), "\(error)")
        }
    }

    func testInitializersRespectTheirBounds() {
        let random = RandomGenerator(seed: 2)
        let t = Tensor(shape: [100, 50])
        Initializer.glorotUniform.fill(t, fanIn: 50, fanOut: 100, random: random)
        let limit = Float((6.0 / 150).squareRoot())
        XCTAssertTrue(t.buffer.allSatisfy { abs($0) <= limit })
        XCTAssertGreaterThan(t.buffer.map(abs).max()!, 0.9 * limit)
        Initializer.heNormal.fill(t, fanIn: 50, fanOut: 100, random: random)
        let variance = t.buffer.reduce(0) { $0 + Double($1 * $1) } / Double(t.count)
        XCTAssertEqual(variance, 2.0 / 50, accuracy: 0.004)
        Initializer.constant(0.5).fill(t, fanIn: 1, fanOut: 1, random: random)
        XCTAssertTrue(t.buffer.allSatisfy { $0 == 0.5 })
    }
}
