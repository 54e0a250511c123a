import Conv
import Dense
import TestSupport
import XCTest

final class Conv2DTests: XCTestCase {
    /// (fixture case, C, O, kernel, stride, padding)
    let cases: [(String, Int, Int, (Int, Int), (Int, Int), (Int, Int))] = [
        ("conv_k5_p2", 1, 3, (5, 5), (1, 1), (2, 2)),
        ("conv_k3_s2_p1", 3, 4, (3, 3), (2, 2), (1, 1)),
        ("conv_k3x2_s21_p01", 2, 2, (3, 2), (2, 1), (0, 1)),
        ("conv_k5", 2, 3, (5, 5), (1, 1), (0, 0)),
    ]

    /// Both paths: the stride-1 cases go through the direct kernels under `.automatic`.
    func testConv2DMatchesPyTorch() throws {
        for algorithm in [Conv2D.Algorithm.automatic, .im2colGEMM] {
            try matchesPyTorch(algorithm)
        }
    }

    func matchesPyTorch(_ algorithm: Conv2D.Algorithm) throws {
        for (name, c, o, k, s, p) in cases {
            let conv = try Conv2D(inputChannels: c, outputChannels: o, kernelSize: k, stride: s,
                                  padding: .explicit(p.0, p.1), random: RandomGenerator(seed: 1))
            conv.algorithm = algorithm
            conv.weight.value.assign(fixture("\(name).weight"))
            conv.bias!.value.assign(fixture("\(name).bias"))
            let x = fixture("\(name).x")
            XCTAssertEqual(try conv.outputShape(for: x.sampleShape), fixture("\(name).y").sampleShape, name)
            assertClose(conv.forward(x, training: true), fixture("\(name).y"), "\(name) output")
            assertClose(conv.backward(fixture("\(name).dy")), fixture("\(name).dx"), "\(name) input gradient")
            assertClose(conv.weight.gradient, fixture("\(name).dweight"), "\(name) weight gradient")
            assertClose(conv.bias!.gradient, fixture("\(name).dbias"), "\(name) bias gradient")
        }
    }

    func testConv2DGradient() throws {
        let random = RandomGenerator(seed: 4)
        for algorithm in [Conv2D.Algorithm.automatic, .im2colGEMM] {
            for (_, c, o, k, s, p) in cases {
                let conv = try Conv2D(inputChannels: c, outputChannels: o, kernelSize: k, stride: s,
                                      padding: .explicit(p.0, p.1), random: random)
                conv.algorithm = algorithm
                checkGradients(conv, input: randomTensor([2, c, 7, 6], random), epsilon: 1e-2)
            }
        }
    }

    func testChunkedBatchesGiveTheSameResult() throws {
        // 700 images of 3 x 40 x 40 with a 3x3 kernel: 27 x 1,600 column floats each, far over
        // the column budget, so the batch goes through in chunks; each image must come out as if
        // it were alone. The chunks and the single image are GEMMs of other shapes, which OpenBLAS
        // may add up in another order (it does with its Haswell kernels on two threads), so each
        // value is held to the rounding bound of its sum: 27 products and the bias forward, 4 x 9
        // products backward, with magnitudes from the same convolution on absolute values.
        let random = RandomGenerator(seed: 5)
        let conv = try Conv2D(3, 4, kernelSize: 3, padding: .same, random: random)
        conv.algorithm = .im2colGEMM  // this small layer would go through the direct kernels
        let n = 700
        let x = randomTensor([n, 3, 40, 40], random)
        let y = conv.forward(x, training: true).copy()
        let dy = randomTensor(y.shape, random)
        let dx = conv.backward(dy).copy()
        let dw = conv.weight.gradient.copy()

        let magnitude = try Conv2D(3, 4, kernelSize: 3, padding: .same, random: RandomGenerator(seed: 9))
        magnitude.algorithm = .im2colGEMM
        magnitude.weight.value.assign(absolute(conv.weight.value))
        magnitude.bias!.value.assign(absolute(conv.bias!.value))
        let yMagnitude = magnitude.forward(absolute(x), training: true).copy()
        let dxMagnitude = magnitude.backward(absolute(dy)).copy()

        func image(_ t: Tensor, _ index: Int) -> Tensor {
            let size = t.sampleCount
            return Tensor(shape: [1] + t.sampleShape, values: Array(t.buffer[(index * size)..<((index + 1) * size)]))
        }
        for start in [0, 350, 699] {
            let one = try Conv2D(3, 4, kernelSize: 3, padding: .same, random: RandomGenerator(seed: 9))
            one.algorithm = .im2colGEMM
            one.weight.value.assign(conv.weight.value)
            one.bias!.value.assign(conv.bias!.value)
            assertWithinRounding(one.forward(image(x, start), training: true), image(y, start), terms: 28,
                                 magnitudes: image(yMagnitude, start), "output of image \(start)")
            assertWithinRounding(one.backward(image(dy, start)), image(dx, start), terms: 36,
                                 magnitudes: image(dxMagnitude, start), "input gradient of image \(start)")
        }
        XCTAssertTrue(dw.buffer.contains { $0 != 0 })
    }

    /// <im2col(x), c> == <x, col2im(c)> for any x and c: col2im is the adjoint, for every stride and padding.
    func testCol2ImIsTheAdjointOfIm2Col() {
        let random = RandomGenerator(seed: 6)
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (5, 2, 2), (2, 3, 0), (4, 1, 3)] {
            let (c, h, w) = (2, 9, 7)
            let oh = windowOutputSize(h, kernel: k, stride: s, padding: p)!
            let ow = windowOutputSize(w, kernel: k, stride: s, padding: p)!
            let g = WindowGeometry(channels: c, height: h, width: w, kernelHeight: k, kernelWidth: k,
                                   strideHeight: s, strideWidth: s, paddingHeight: p, paddingWidth: p,
                                   outputHeight: oh, outputWidth: ow)
            let x = randomTensor([c, h, w], random)
            let columns = randomTensor([g.patchSize, g.outputArea], random)
            let unfolded = Tensor(shape: columns.shape)
            im2col(x.data, g, into: unfolded.data, rowStride: g.outputArea)
            let folded = Tensor(shape: x.shape)
            col2im(columns.data, rowStride: g.outputArea, g, into: folded.data)
            let left = dot(unfolded, columns), right = dot(x, folded)
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)), "k\(k) s\(s) p\(p)")
        }
    }

    func dot(_ a: Tensor, _ b: Tensor) -> Double {
        var sum = 0.0
        for i in 0..<a.count { sum += Double(a[i]) * Double(b[i]) }
        return sum
    }

    func testOutputSizeRule() {
        XCTAssertEqual(windowOutputSize(39, kernel: 5, stride: 2, padding: 0), 18)
        XCTAssertEqual(windowOutputSize(28, kernel: 5, stride: 1, padding: 2), 28)
        XCTAssertEqual(windowOutputSize(56, kernel: 3, stride: 2, padding: 1), 28)
        XCTAssertEqual(windowOutputSize(4, kernel: 5, stride: 1, padding: 0), nil)
        XCTAssertEqual(windowOutputSize(4, kernel: 5, stride: 1, padding: 1), 2)
    }

    func testMismatchedModelIsRejectedWithLayerAndShapes() throws {
        let random = RandomGenerator(seed: 1)
        XCTAssertThrowsError(try Sequential(inputShape: [1, 28, 28], [
            try Conv2D(1, 6, kernelSize: 5, random: random, name: "conv1"),
            try Conv2D(3, 16, kernelSize: 5, random: random, name: "conv2"),
        ])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("conv2") && message.contains("[6, 24, 24]") && message.contains("(3, H, W)"), message)
        }
        XCTAssertThrowsError(try Sequential(inputShape: [1, 4, 4], [try Conv2D(1, 2, kernelSize: 5, random: random, name: "big")])) {
            XCTAssertTrue("\($0)".contains("does not fit a 4x4 input"), "\($0)")
        }
        XCTAssertThrowsError(try Conv2D(1, 2, kernelSize: 4, padding: .same, random: random))
    }
}
