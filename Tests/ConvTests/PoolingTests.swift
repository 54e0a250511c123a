import Conv
import Dense
import XCTest

final class PoolingTests: XCTestCase {
    func check(_ layer: any Layer, _ name: String) {
        let y = layer.forward(fixture("\(name).x"), training: true)
        XCTAssertEqual(y.shape, fixture("\(name).y").shape, name)
        assertClose(y, fixture("\(name).y"), "\(name) output")
        assertClose(layer.backward(fixture("\(name).dy")), fixture("\(name).dx"), "\(name) input gradient")
    }

    func testMaxPoolMatchesPyTorch() throws {
        check(try MaxPool2D(2), "maxpool_2")
        check(try MaxPool2D(3, stride: 2), "maxpool_3_s2")
        check(try MaxPool2D(3, stride: 2, padding: 1), "maxpool_3_s2_p1")
    }

    func testMaxPoolTiesGoToTheFirstMaximumAsInPyTorch() throws {
        let pool = try MaxPool2D(kernelSize: (2, 2), stride: (1, 1))
        assertClose(pool.forward(fixture("maxpool_ties.x"), training: true), fixture("maxpool_ties.y"), "output")
        assertClose(pool.backward(Tensor(shape: [1, 1, 2, 2], repeating: 1)), fixture("maxpool_ties.dx"), "gradient")
    }

    func testAvgPoolMatchesPyTorch() throws {
        check(try AvgPool2D(2), "avgpool_2")
        check(try AvgPool2D(3, stride: 2, padding: 1), "avgpool_3_s2_p1")
    }

    func testPoolingGradients() throws {
        let random = RandomGenerator(seed: 2)
        // Distinct values, so no window has a tie that finite differences would straddle.
        let x = Tensor(shape: [2, 2, 7, 7], values: random.permutation(196).map { Float($0) * 0.1 })
        checkGradients(try MaxPool2D(2), input: x)
        checkGradients(try MaxPool2D(3, stride: 2), input: x)
        checkGradients(try AvgPool2D(3, stride: 2, padding: 1), input: x)
    }

    func testFlattenIsAViewAndRoundTrips() throws {
        let random = RandomGenerator(seed: 3)
        let flatten = Flatten()
        XCTAssertEqual(try flatten.outputShape(for: [16, 5, 5]), [400])
        let x = randomTensor([3, 16, 5, 5], random)
        let y = flatten.forward(x, training: true)
        XCTAssertEqual(y.shape, [3, 400])
        XCTAssertTrue(y.storage === x.storage)
        XCTAssertEqual(flatten.backward(y).shape, [3, 16, 5, 5])
    }

    func testBadPoolingArgumentsAreRejected() {
        XCTAssertThrowsError(try MaxPool2D(2, padding: 2))
        XCTAssertThrowsError(try MaxPool2D(0))
        XCTAssertThrowsError(try Sequential(inputShape: [1, 1, 1], [try MaxPool2D(2, name: "pool")])) {
            XCTAssertTrue("\($0)".contains("pool"), "\($0)")
        }
    }
}
