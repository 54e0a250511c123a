import CKernels
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

    /// A ReLU right before max pooling is applied by the pooling layer inside a model
    /// (`AbsorbsPrecedingReLU`). ReLU is monotone, so the pooled ReLU and the ReLU of the pooled
    /// maximum are the same floats, and a window whose maximum is <= 0 sends no gradient either
    /// way: outputs and input gradients are compared bit for bit, on values with many negatives,
    /// zeros, ties and a NaN, against the two layers run on their own.
    func testReLUBeforeMaxPoolIsAbsorbedWithTheSameBits() throws {
        let random = RandomGenerator(seed: 5)
        for (kernel, stride, padding) in [(2, 2, 0), (3, 2, 1)] {
            let x = Tensor(shape: [2, 3, 8, 8], values: (0..<384).map { _ in Float(Int(random.uniform(-4, 3))) / 2 })
            x[7] = .nan
            let dy = randomTensor([2, 3] + Array(try MaxPool2D(kernel, stride: stride, padding: padding)
                .outputShape(for: [3, 8, 8]).dropFirst()), random)
            let (relu, pool) = (try Activation(.relu), try MaxPool2D(kernel, stride: stride, padding: padding))
            let expected = pool.forward(relu.forward(x, training: true), training: true).copy()
            let expectedGradient = relu.backward(pool.backward(dy)).copy()

            let (fusedReLU, fusedPool) = (try Activation(.relu), try MaxPool2D(kernel, stride: stride, padding: padding))
            _ = try Sequential(inputShape: [3, 8, 8], [fusedReLU, fusedPool])
            XCTAssertTrue(fusedPool.appliesPrecedingReLU)
            let y = fusedPool.forward(fusedReLU.forward(x, training: true), training: true)
            let dx = fusedReLU.backward(fusedPool.backward(dy))
            XCTAssertEqual((0..<y.count).map { y[$0].bitPattern }, (0..<expected.count).map { expected[$0].bitPattern },
                           "kernel \(kernel) output")
            XCTAssertEqual((0..<dx.count).map { dx[$0].bitPattern },
                           (0..<expectedGradient.count).map { expectedGradient[$0].bitPattern }, "kernel \(kernel) gradient")
            XCTAssertTrue(y[0].isNaN || (0..<y.count).contains { y[$0].isNaN }, "the NaN reaches the output")
        }
        // Only a ReLU directly before the pooling is absorbed.
        let (tanh, pool) = (try Activation(.tanh), try MaxPool2D(2))
        _ = try Sequential(inputShape: [1, 4, 4], [tanh, pool])
        XCTAssertFalse(pool.appliesPrecedingReLU)
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

/// The 2x2 max pooling kernel gives the same values and winners on every CKernels variant the CPU
/// supports, ties (first maximum) and NaN (wins) included.
final class MaxPoolKernelVariantTests: XCTestCase {
    /// The 2x2 kernel (8 windows at a time on rows of 8 outputs or more, one at a time below)
    /// against the scan order written out here, bit for bit: values and winners, on rows of
    /// 2 to 15 outputs (odd input sizes leave a row and a column out), ties and NaNs included.
    func testThe2x2KernelFollowsTheScanOrder() throws {
        let random = RandomGenerator(seed: 9)
        for (h, w) in [(4, 4), (7, 9), (28, 28), (10, 16), (6, 30), (5, 31)] {
            let x = randomTensor([2, 3, h, w], random)
            for i in 0..<x.count { x[i] = (x[i] * 2).rounded() }
            for i in stride(from: 5, to: x.count, by: 41) { x[i] = .nan }
            let pool = try MaxPool2D(2)
            let y = pool.forward(x, training: true)
            let dx = pool.backward(Tensor(shape: y.shape, values: (0..<y.count).map { Float($0 + 1) }))
            let (oh, ow) = (h / 2, w / 2)
            var expected = [Float](repeating: 0, count: y.count), gradient = [Float](repeating: 0, count: x.count)
            for plane in 0..<6 {
                for i in 0..<oh {
                    for j in 0..<ow {
                        var (value, best) = (x[plane * h * w + 2 * i * w + 2 * j], 2 * i * w + 2 * j)
                        for at in [2 * i * w + 2 * j + 1, (2 * i + 1) * w + 2 * j, (2 * i + 1) * w + 2 * j + 1] {
                            let c = x[plane * h * w + at]
                            if c > value || c.isNaN { (value, best) = (c, at) }
                        }
                        let k = (plane * oh + i) * ow + j
                        expected[k] = value
                        gradient[plane * h * w + best] += Float(k + 1)
                    }
                }
            }
            XCTAssertEqual(y.buffer.map(\.bitPattern), expected.map(\.bitPattern), "\(h) x \(w): values")
            XCTAssertEqual(dx.buffer.map(\.bitPattern), gradient.map(\.bitPattern), "\(h) x \(w): gradient")
        }
    }

    func testEveryVariantPoolsAsThePlainOne() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        let random = RandomGenerator(seed: 8)
        // Values rounded to a few levels so that windows hold ties; some NaNs. 3 x 2 planes of 10 x 14.
        let x = randomTensor([3, 2, 10, 14], random)
        for i in 0..<x.count { x[i] = (x[i] * 2).rounded() }
        for i in stride(from: 7, to: x.count, by: 97) { x[i] = .nan }
        func pool() throws -> ([UInt32], [UInt32]) {
            let layer = try MaxPool2D(2)
            let y = layer.forward(x, training: true)
            let dx = layer.backward(Tensor(shape: y.shape, values: (0..<y.count).map { Float($0 + 1) }))
            return (y.buffer.map(\.bitPattern), dx.buffer.map(\.bitPattern))
        }
        XCTAssertEqual(synapse_kernels_use(0), 1)
        let plain = try pool()
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let got = try pool()
            let name = String(cString: synapse_kernels().pointee.name)
            XCTAssertEqual(got.0, plain.0, "\(name): pooled values")
            XCTAssertEqual(got.1, plain.1, "\(name): gradients (the winners)")
        }
    }
}
