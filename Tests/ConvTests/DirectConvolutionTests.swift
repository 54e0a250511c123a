import CKernels
@testable import Conv
import Dense
import XCTest

/// The direct convolution kernels against the im2col + GEMM reference, and every CKernels
/// variant the CPU supports against the plain one.
final class DirectConvolutionTests: XCTestCase {
    /// (C, O, H, W, kernel, padding): LeNet-5's two convolutions, then odd shapes for the
    /// kernels' edges: 1x1, an even kernel, padding that makes the output larger than the input,
    /// a wide kernel on a narrow image, 8 and 9 outputs (the two paths' boundary), 16 inputs.
    let shapes = [(1, 6, 28, 28, 5, 2), (6, 16, 14, 14, 5, 0), (3, 11, 9, 7, 3, 1), (2, 3, 5, 9, 1, 0),
                  (4, 8, 6, 6, 2, 1), (5, 16, 3, 4, 3, 2), (16, 5, 12, 10, 7, 3), (3, 9, 17, 33, 5, 4),
                  (7, 1, 2, 2, 3, 1)]

    func testTheRuleOnShapes() throws {
        let random = RandomGenerator(seed: 1)
        func direct(_ c: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int, _ side: Int) throws -> Bool {
            let conv = try Conv2D(c, o, kernelSize: k, stride: s, padding: .explicit(p, p), random: random)
            return conv.usesDirectPath(for: try conv.geometry(for: [c, side, side]))
        }
        XCTAssertTrue(try direct(1, 6, 5, 1, 2, 28))      // LeNet conv1
        XCTAssertTrue(try direct(6, 16, 5, 1, 0, 14))     // LeNet conv2
        XCTAssertFalse(try direct(64, 64, 3, 1, 1, 56))   // wide: im2col + GEMM
        XCTAssertFalse(try direct(6, 32, 5, 1, 0, 14))    // more than 16 outputs
        XCTAssertFalse(try direct(3, 4, 3, 2, 1, 9))      // stride 2
        XCTAssertFalse(try direct(1, 1, 1, 1, 600, 4))    // padding beyond the kernel
    }

    /// One forward and backward on each path; returns (y, dx, dw, db).
    func run(_ algorithm: Conv2D.Algorithm, _ conv: Conv2D, _ x: Tensor, _ dy: Tensor) -> [Tensor] {
        conv.algorithm = algorithm
        conv.weight.zeroGradient()
        conv.bias!.zeroGradient()
        let y = conv.forward(x, training: true).copy()
        let dx = conv.backward(dy).copy()
        return [y, dx, conv.weight.gradient.copy(), conv.bias!.gradient.copy()]
    }

    /// Direct and im2col + GEMM compute the same sums in other orders (and the direct kernels
    /// may fuse multiply-adds, one rounding less), so each value is held to the rounding bound of
    /// its sum (`assertWithinRounding`): C kH kW products and the bias forward, O kH kW products
    /// for the input gradient, N oH oW for the weight gradient and the bias; magnitudes from the
    /// same convolution on absolute values.
    func testDirectMatchesIm2ColGEMM() throws {
        let random = RandomGenerator(seed: 2)
        for (c, o, h, w, k, p) in shapes {
            let n = 5
            let conv = try Conv2D(c, o, kernelSize: k, padding: .explicit(p, p), random: random)
            for i in 0..<o { conv.bias!.value[i] = random.uniform(-1, 1) }
            let x = randomTensor([n, c, h, w], random)
            let dy = randomTensor([n] + (try conv.outputShape(for: [c, h, w])), random)
            let direct = run(.automatic, conv, x, dy)
            let reference = run(.im2colGEMM, conv, x, dy)

            let magnitude = try Conv2D(c, o, kernelSize: k, padding: .explicit(p, p), random: random)
            magnitude.algorithm = .im2colGEMM
            magnitude.weight.value.assign(absolute(conv.weight.value))
            magnitude.bias!.value.assign(absolute(conv.bias!.value))
            let bounds = run(.im2colGEMM, magnitude, absolute(x), absolute(dy))
            let area = dy.sampleCount / o
            let terms = [c * k * k + 1, o * k * k, n * area, n * area]
            for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
                assertWithinRounding(direct[i], reference[i], terms: terms[i], magnitudes: bounds[i],
                                     "\(c)->\(o) k\(k) p\(p) \(what)")
            }
        }
    }

    func testLeNetTrainsOnTheDirectPathAsOnTheReference() throws {
        // The gradients of a whole LeNet-5 step agree within rounding (a loose relative bound:
        // the sums pass through several layers).
        func gradients(_ algorithm: Conv2D.Algorithm) throws -> Tensor {
            let random = RandomGenerator(seed: 3)
            let model = try LeNet5.make(random: random)
            for case let conv as Conv2D in model.layers { conv.algorithm = algorithm }
            let x = randomTensor([8, 1, 28, 28], random)
            let y = Tensor(shape: [8], values: (0..<8).map { Float($0) })
            let out = model.forward(x, training: true)
            let dOut = Tensor(shape: out.shape)
            _ = SoftmaxCrossEntropy().compute(predictions: out, targets: y, gradient: dOut)
            model.backward(dOut)
            return model.parameters.first!.gradient.copy()
        }
        let direct = try gradients(.automatic), reference = try gradients(.im2colGEMM)
        assertClose(direct, reference, relative: 1e-3, absolute: 1e-5, "conv1 weight gradient")
    }

    /// Every variant the CPU supports gives what the plain variant gives, within rounding: they
    /// differ in vector width and in fused multiply-adds (one rounding less per product), so each
    /// value is held to the bound of `assertWithinRounding` for its sum, as in
    /// `testDirectMatchesIm2ColGEMM`.
    func testEveryKernelVariantMatchesThePlainOne() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        let random = RandomGenerator(seed: 4)
        var cases: [(conv: Conv2D, x: Tensor, dy: Tensor, terms: [Int], bounds: [Tensor])] = []
        for (c, o, h, w, k, p) in shapes {
            let conv = try Conv2D(c, o, kernelSize: k, padding: .explicit(p, p), random: random)
            for i in 0..<o { conv.bias!.value[i] = random.uniform(-1, 1) }
            let n = 3
            let x = randomTensor([n, c, h, w], random)
            let dy = randomTensor([n] + (try conv.outputShape(for: [c, h, w])), random)
            let magnitude = try Conv2D(c, o, kernelSize: k, padding: .explicit(p, p), random: random)
            magnitude.weight.value.assign(absolute(conv.weight.value))
            magnitude.bias!.value.assign(absolute(conv.bias!.value))
            let area = dy.sampleCount / o
            cases.append((conv, x, dy, [c * k * k + 1, o * k * k, n * area, n * area],
                          run(.im2colGEMM, magnitude, absolute(x), absolute(dy))))
        }
        XCTAssertEqual(synapse_kernels_use(0), 1)
        let plain = cases.map { run(.automatic, $0.conv, $0.x, $0.dy) }
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let name = String(cString: synapse_kernels().pointee.name)
            for (index, item) in cases.enumerated() {
                let got = run(.automatic, item.conv, item.x, item.dy)
                for j in 0..<4 {
                    assertWithinRounding(got[j], plain[index][j], terms: item.terms[j], magnitudes: item.bounds[j],
                                         "\(name) case \(index) result \(j)")
                }
            }
        }
    }
}
