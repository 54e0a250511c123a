import CKernels
@testable import Conv
import Dense
import XCTest

/// Winograd F(2x2, 3x3) against the im2col + GEMM reference, and every CKernels variant the CPU
/// supports against the plain one.
final class WinogradTests: XCTestCase {
    /// (C, O, H, W, padding, N): VGG-small's widths, then the kernels' edges: odd outputs (a last
    /// tile half outside), no padding, padding 2 and 3 (tiles wholly in the padding), rows of more
    /// than one block of 64 tiles, chunks of tile rows that cross images (32 + 32 channels on
    /// 20 x 20 take 6 of the batch's 50 tile rows a chunk), unequal channel counts.
    let shapes = [(16, 16, 8, 8, 1, 3), (8, 9, 7, 5, 1, 2), (9, 8, 6, 7, 0, 2), (8, 8, 5, 6, 2, 2),
                  (8, 8, 4, 4, 3, 1), (8, 12, 3, 150, 1, 2), (32, 32, 20, 20, 1, 5), (64, 16, 4, 4, 1, 3),
                  (3, 40, 9, 9, 1, 2)]

    func testTheRuleOnShapes() throws {
        let random = RandomGenerator(seed: 1)
        func winograd(_ c: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int, _ side: Int) throws -> Bool {
            let conv = try Conv2D(c, o, kernelSize: k, stride: s, padding: .explicit(p, p), random: random)
            return conv.usesWinogradPath(for: try conv.geometry(for: [c, side, side]))
        }
        XCTAssertTrue(try winograd(32, 32, 3, 1, 1, 16))    // vgg-small block2
        XCTAssertTrue(try winograd(64, 64, 3, 1, 1, 56))
        XCTAssertTrue(try winograd(16, 32, 3, 1, 0, 16))    // any padding
        XCTAssertFalse(try winograd(3, 16, 3, 1, 1, 32))    // fewer than 8 inputs
        XCTAssertFalse(try winograd(64, 128, 3, 2, 1, 56))  // stride 2
        XCTAssertFalse(try winograd(64, 64, 5, 1, 2, 16))   // not 3x3
        XCTAssertFalse(try winograd(300, 64, 3, 1, 1, 8))   // beyond 256 channels
    }

    /// One forward and backward; returns (y, dx, dw, db).
    func run(_ algorithm: Conv2D.Algorithm, _ conv: Conv2D, _ x: Tensor, _ dy: Tensor) -> [Tensor] {
        conv.algorithm = algorithm
        conv.weight.zeroGradient()
        conv.bias!.zeroGradient()
        let y = conv.forward(x, training: true).copy()
        let dx = conv.backward(dy).copy()
        return [y, dx, conv.weight.gradient.copy(), conv.bias!.gradient.copy()]
    }

    /// The rounding bound of each result's sum (terms) for `assertWithinRounding`, with the
    /// magnitudes of the direct sums (the reference on absolute values).
    ///
    /// Winograd computes another sum than the direct one: the transforms add 2-4 rounded
    /// additions on each side of the products, and the bound of the transformed sum,
    /// |A^T| (|G| |g| |G^T| . |B^T| |d| |B|) |A|, has 64 coefficients for each output where the
    /// direct sum has 9 (8 against 3 along each axis; every coefficient is at most 4). For inputs
    /// of like magnitude, as here, that is at most 64 / 9 < 8 times the direct magnitude, so each
    /// sum is held to 8 times its terms plus the transforms' additions: C + 9 for the output,
    /// O + 11 for the input gradient (tiles overlap: two more additions), tiles + 9 for the
    /// weight gradient; the bias gradient is a plain sum of N oH oW terms. Measured on every
    /// shape here: the largest error is under 2 % of this bound, and under 14 % of the bound of
    /// the direct sum itself (the terms without the factor 8), so Winograd stays within the
    /// rounding error im2col + GEMM is allowed.
    func bounds(_ conv: Conv2D, _ x: Tensor, _ dy: Tensor, random: RandomGenerator) throws -> (terms: [Int], magnitudes: [Tensor]) {
        let (c, o) = (conv.inputChannels, conv.outputChannels)
        let magnitude = try Conv2D(c, o, kernelSize: 3, padding: .explicit(conv.padding.height, conv.padding.width),
                                   random: random)
        magnitude.weight.value.assign(absolute(conv.weight.value))
        magnitude.bias!.value.assign(absolute(conv.bias!.value))
        let (n, oh, ow) = (dy.shape[0], dy.shape[2], dy.shape[3])
        let tiles = n * ((oh + 1) / 2) * ((ow + 1) / 2)
        return ([8 * (c + 9), 8 * (o + 11), 8 * (tiles + 9), n * oh * ow],
                run(.im2colGEMM, magnitude, absolute(x), absolute(dy)))
    }

    func testWinogradMatchesIm2ColGEMM() throws {
        let random = RandomGenerator(seed: 2)
        for (c, o, h, w, p, n) in shapes {
            let conv = try Conv2D(c, o, kernelSize: 3, padding: .explicit(p, p), random: random)
            for i in 0..<o { conv.bias!.value[i] = random.uniform(-1, 1) }
            let x = randomTensor([n, c, h, w], random)
            let dy = randomTensor([n] + (try conv.outputShape(for: [c, h, w])), random)
            let winograd = run(.winograd, conv, x, dy)
            let reference = run(.im2colGEMM, conv, x, dy)
            let (terms, magnitudes) = try bounds(conv, x, dy, random: random)
            for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
                assertWithinRounding(winograd[i], reference[i], terms: terms[i], magnitudes: magnitudes[i],
                                     "\(c)->\(o) \(h)x\(w) p\(p) \(what)")
            }
        }
    }

    /// backwardParameters (no input gradient) gives the same weight gradient as backward, and a
    /// second backward after one forward gives the same again (the transformed input is rebuilt
    /// once the input gradient has overwritten it).
    func testBackwardParametersAndRepeatedBackward() throws {
        let random = RandomGenerator(seed: 5)
        for (c, o, h, w, p, n) in [(16, 16, 8, 8, 1, 2), (32, 32, 20, 20, 1, 5)] {
            let conv = try Conv2D(c, o, kernelSize: 3, padding: .explicit(p, p), random: random)
            conv.algorithm = .winograd
            let x = randomTensor([n, c, h, w], random)
            let dy = randomTensor([n] + (try conv.outputShape(for: [c, h, w])), random)
            _ = conv.forward(x, training: true)
            conv.backwardParameters(dy)
            let first = conv.weight.gradient.copy()
            conv.weight.zeroGradient()
            _ = conv.backward(dy)
            let second = conv.weight.gradient.copy()
            conv.weight.zeroGradient()
            _ = conv.backward(dy)
            XCTAssertEqual(first.buffer.map { $0 }, second.buffer.map { $0 }, "\(c)->\(o)")
            XCTAssertEqual(second.buffer.map { $0 }, conv.weight.gradient.buffer.map { $0 }, "\(c)->\(o) again")
        }
    }

    func testVGGSmallUsesWinogradAndTrainsAsOnTheReference() throws {
        // The first layer (3 inputs) stays on im2col + GEMM, 16 -> 16 on the direct kernels; the
        // other four 3x3 layers take Winograd. A whole step's gradients agree within rounding (a
        // loose relative bound: the sums pass through several layers and batch norms).
        func gradients(_ algorithm: Conv2D.Algorithm) throws -> (Tensor, [Bool]) {
            let random = RandomGenerator(seed: 3)
            let model = try VGGSmall.make(channels: 3, height: 16, width: 16, classes: 10, random: random)
            var shape = [3, 16, 16], paths: [Bool] = []
            for layer in model.layers {
                if let conv = layer as? Conv2D {
                    conv.algorithm = algorithm
                    paths.append(conv.usesWinogradPath(for: try conv.geometry(for: shape)))
                }
                shape = try layer.outputShape(for: shape)
            }
            let x = randomTensor([4, 3, 16, 16], random)
            let y = Tensor(shape: [4], values: (0..<4).map { Float($0) })
            let out = model.forward(x, training: true)
            let dOut = Tensor(shape: out.shape)
            _ = SoftmaxCrossEntropy().compute(predictions: out, targets: y, gradient: dOut)
            model.backward(dOut)
            return (model.parameters.first!.gradient.copy(), paths)
        }
        let (fast, paths) = try gradients(.automatic)
        let (reference, _) = try gradients(.im2colGEMM)
        XCTAssertEqual(paths, [false, false, true, true, true, true])
        assertClose(fast, reference, relative: 1e-3, absolute: 1e-5, "block1_conv1 weight gradient")
    }

    /// Every variant the CPU supports computes the same bits as the plain one: the transforms only
    /// add and subtract (nothing to fuse), in the same order on every variant, and the products
    /// between them are the same OpenBLAS calls.
    func testEveryKernelVariantMatchesThePlainOne() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        let random = RandomGenerator(seed: 4)
        var cases: [(conv: Conv2D, x: Tensor, dy: Tensor)] = []
        for (c, o, h, w, p, n) in shapes {
            let conv = try Conv2D(c, o, kernelSize: 3, padding: .explicit(p, p), random: random)
            for i in 0..<o { conv.bias!.value[i] = random.uniform(-1, 1) }
            cases.append((conv, randomTensor([n, c, h, w], random),
                          randomTensor([n] + (try conv.outputShape(for: [c, h, w])), random)))
        }
        XCTAssertEqual(synapse_kernels_use(0), 1)
        let plain = withBLASThreads(1) { cases.map { run(.winograd, $0.conv, $0.x, $0.dy) } }
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let name = String(cString: synapse_kernels().pointee.name)
            for (index, item) in cases.enumerated() {
                let got = withBLASThreads(1) { run(.winograd, item.conv, item.x, item.dy) }
                for j in 0..<4 {
                    XCTAssertEqual(got[j].buffer.map { $0 }, plain[index][j].buffer.map { $0 },
                                   "\(name) case \(index) result \(j)")
                }
            }
        }
    }
}
