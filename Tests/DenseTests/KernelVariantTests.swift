import CKernels
import Dense
import XCTest

/// Every CKernels variant the CPU supports against the plain one, on the kernels Dense uses:
/// ReLU (forward and backward) and Adam give the same bits on every variant (no fused
/// multiply-adds in them; see CKernels/elementwise.c).
final class KernelVariantTests: XCTestCase {
    func testEveryVariantGivesThePlainBitsForReLUAndAdam() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        func outputs() throws -> [[Float]] {
            let random = RandomGenerator(seed: 4)
            let relu = try Activation(.relu)
            // 1,003 values: whole vectors and a tail; with NaN, -0 and +-infinity among them.
            let x = randomTensor([1003], random)
            (x[5], x[6], x[7], x[8]) = (.nan, -0.0, .infinity, -.infinity)
            let y = relu.forward(x, training: true).copy()
            let dx = relu.backward(randomTensor([1003], random)).copy()
            let adam = Adam(learningRate: 0.01, weightDecay: 0.01)
            let (w, g, m, v) = (randomTensor([1001], random), randomTensor([1001], random), Tensor(shape: [1001]),
                                Tensor(shape: [1001]))
            for step in 1...3 {
                adam.stepCount = step
                adam.update(values: w.data, gradients: g.data, m: m.data, v: v.data, count: 1001)
            }
            return [y, dx, w, m, v].map { Array($0.buffer) }
        }
        XCTAssertEqual(synapse_kernels_use(0), 1, "the plain variant runs everywhere")
        let plain = try outputs()
        XCTAssertTrue(plain[0][5].isNaN, "ReLU keeps NaN, as max(x, 0) does")
        XCTAssertEqual(plain[0][6].sign, .plus, "ReLU(-0) is +0, as max(-0, 0)")
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let name = String(cString: synapse_kernels().pointee.name)
            for (j, (a, b)) in zip(try outputs(), plain).enumerated() {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name): result \(j) differs from the plain variant")
            }
        }
    }

    /// tanh forward (in place and not) and backward, the embedding gather and scatter-add and the
    /// (a, b, c) -> (b, a, c) transpose:
    /// the same bits on every variant, and tanh the bits of `rationalTanh`, the Swift function
    /// the kernel replaced.
    func testEveryVariantGivesThePlainBitsForTanhAndEmbedding() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        let random = RandomGenerator(seed: 5)
        // 1,003 values over [-12, 12] (past the clamp at 9), with the edge cases among them.
        let x = randomTensor([1003], random, scale: 12)
        let specials: [Float] = [.nan, -0.0, 0, .infinity, -.infinity, 9, -9, 1e-30, -1e-40, .greatestFiniteMagnitude]
        for (i, v) in specials.enumerated() { x[i] = v }
        let dy = randomTensor([1003], random)
        let (vocabulary, d, count) = (50, 20, 301)
        let table = randomTensor([vocabulary, d], random)
        let ids: [Int32] = (0..<count).map { Int32(($0 &* 7 &+ 3) % vocabulary) }
        let rowGradients = randomTensor([count, d], random)
        func outputs() -> [[Float]] {
            let k = synapse_kernels().pointee
            let y = Tensor(shape: [1003]), inPlace = x.copy(), dx = Tensor(shape: [1003])
            k.tanh_forward(x.data, y.data, 1003)
            k.tanh_forward(inPlace.data, inPlace.data, 1003)
            k.tanh_backward(y.data, dy.data, dx.data, 1003)
            let gathered = Tensor(shape: [count, d]), dw = Tensor(shape: [vocabulary, d])
            let dw2 = Tensor(shape: [vocabulary, d])
            ids.withUnsafeBufferPointer { r in
                k.embedding_gather(table.data, r.baseAddress, count, d, gathered.data)
                // Whole rows, and again in two shares of the columns (8 + 12).
                k.embedding_scatter_add(r.baseAddress, count, d, d, rowGradients.data, dw.data, 3)
                k.embedding_scatter_add(r.baseAddress, count, 8, d, rowGradients.data, dw2.data, 3)
                k.embedding_scatter_add(r.baseAddress, count, d - 8, d, rowGradients.data + 8, dw2.data + 8, 3)
            }
            // (7, 5, 3) -> (5, 7, 3), in shares of the first output axis (2 + 3 rows).
            let transposed = Tensor(shape: [5, 7, 3])
            k.transpose_first_two(table.data, transposed.data, 7, 5, 3, 0, 2)
            k.transpose_first_two(table.data, transposed.data, 7, 5, 3, 2, 5)
            return [y, inPlace, dx, gathered, dw, dw2, transposed].map { Array($0.buffer) }
        }
        XCTAssertEqual(synapse_kernels_use(0), 1, "the plain variant runs everywhere")
        let plain = outputs()
        // tanh: rationalTanh's bits; its gradient, gather and scatter as plain loops.
        for i in 0..<1003 {
            let expected = rationalTanh(x[i])
            XCTAssertEqual(plain[0][i].bitPattern, expected.bitPattern, "tanh(\(x[i]))")
            XCTAssertEqual(plain[1][i].bitPattern, expected.bitPattern, "tanh(\(x[i])) in place")
            XCTAssertEqual(plain[2][i].bitPattern, (dy[i] * (1 - plain[0][i] * plain[0][i])).bitPattern)
        }
        XCTAssertTrue(plain[0][0].isNaN)
        XCTAssertEqual(plain[0][3], 1)
        XCTAssertEqual(plain[0][4], -1)
        var dw = [Float](repeating: 0, count: vocabulary * d)
        for (i, id) in ids.enumerated() {
            for j in 0..<d { XCTAssertEqual(plain[3][i * d + j], table[Int(id) * d + j]) }
            if id != 3 { for j in 0..<d { dw[Int(id) * d + j] += rowGradients[i * d + j] } }
        }
        XCTAssertEqual(plain[4].map(\.bitPattern), dw.map(\.bitPattern), "scatter-add in order, row 3 skipped")
        XCTAssertTrue(plain[4][3 * d..<4 * d].allSatisfy { $0 == 0 })
        XCTAssertEqual(plain[5].map(\.bitPattern), dw.map(\.bitPattern), "scatter-add by shares of the columns")
        for j in 0..<5 {
            for i in 0..<7 {
                for c in 0..<3 { XCTAssertEqual(plain[6][(j * 7 + i) * 3 + c], table[(i * 5 + j) * 3 + c]) }
            }
        }
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let name = String(cString: synapse_kernels().pointee.name)
            for (j, (a, b)) in zip(outputs(), plain).enumerated() {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name): result \(j) differs from the plain variant")
            }
        }
    }
}
