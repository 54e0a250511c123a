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

    /// The gated cells' steps (LSTM and GRU, forward and backward) and the column sums: the same
    /// bits on every variant, and the bits of the Swift loops they replaced (written out here on
    /// `rationalTanh`), on rows whose width is not a whole number of vectors.
    func testEveryVariantGivesThePlainBitsForTheGatedCells() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        let random = RandomGenerator(seed: 6)
        let (n, h) = (5, 19)
        // Pre-activations over [-12, 12] (past tanh's clamp at 9), with NaN and infinities.
        let lstmZ = randomTensor([n, 4 * h], random, scale: 12), gruZ = randomTensor([n, 6 * h], random, scale: 12)
        (lstmZ[3], lstmZ[h + 4], gruZ[5]) = (.nan, .infinity, -.infinity)
        let lstmPrevious = randomTensor([n, 2 * h], random), gruPrevious = randomTensor([n, h], random)
        let lstmGradient = randomTensor([n, 2 * h], random), gruGradient = randomTensor([n, h], random)
        let sums = randomTensor([7, 30], random)
        func outputs() -> [[Float]] {
            let k = synapse_kernels().pointee
            let (lz, gz) = (lstmZ.copy(), gruZ.copy())
            let (lstmState, gruState) = (Tensor(shape: [n, 2 * h]), Tensor(shape: [n, h]))
            k.lstm_forward(lz.data, lstmPrevious.data, lstmState.data, n, h)
            k.gru_forward(gz.data, gruPrevious.data, gruState.data, n, h)
            let (ld, lp) = (Tensor(shape: [n, 4 * h]), Tensor(shape: [n, 2 * h]))
            let (gd, gp) = (Tensor(shape: [n, 6 * h]), Tensor(shape: [n, h]))
            k.lstm_backward(lstmGradient.data, lstmState.data, lstmPrevious.data, lz.data, ld.data, lp.data, n, h)
            k.gru_backward(gruGradient.data, gruPrevious.data, gz.data, gd.data, gp.data, n, h)
            // The first 13 of 30 columns of 7 rows, added to ones.
            let db = Tensor(shape: [13], values: [Float](repeating: 1, count: 13))
            k.column_sums(sums.data, 7, 13, 30, db.data)
            return [lz, lstmState, ld, lp, gz, gruState, gd, gp, db].map { Array($0.buffer) }
        }
        XCTAssertEqual(synapse_kernels_use(0), 1, "the plain variant runs everywhere")
        let plain = outputs()
        let expected = referenceOutputs(n: n, h: h, lstmZ: lstmZ, lstmPrevious: lstmPrevious, lstmGradient: lstmGradient,
                                        gruZ: gruZ, gruPrevious: gruPrevious, gruGradient: gruGradient, sums: sums)
        let names = ["LSTM gates", "LSTM state", "LSTM dz", "LSTM dc_prev", "GRU gates", "GRU state", "GRU dz",
                     "GRU dh_prev", "column sums"]
        for (j, (a, b)) in zip(plain, expected).enumerated() {
            // LSTM dc_prev: the kernel writes only the c half; compare that half.
            let (x, y) = j == 3 ? (halves(a, h), halves(b, h)) : (a, b)
            XCTAssertEqual(x.map(\.bitPattern), y.map(\.bitPattern), "\(names[j]) differs from the Swift loop")
        }
        XCTAssertTrue(plain[0][3].isNaN, "a NaN pre-activation gives a NaN gate")
        XCTAssertEqual(plain[0][h + 4], 1, "sigmoid(+infinity) = 1")
        XCTAssertEqual(plain[4][5], 0, "sigmoid(-infinity) = 0 (GRU reset gate)")
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let name = String(cString: synapse_kernels().pointee.name)
            for (j, (a, b)) in zip(outputs(), plain).enumerated() {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name): \(names[j]) differs from the plain variant")
            }
        }
    }

    /// Batch normalisation's kernels on one channel of (N, C, H, W) = (3, 4, 5, 7) (35-value planes:
    /// two 16-lane runs and a tail): the same bits on every variant, and within float32 rounding
    /// of the statistics and gradients summed in Double one value at a time.
    func testEveryVariantGivesThePlainBitsForBatchNorm() throws {
        let active = synapse_kernels()
        defer {
            for i in 0..<synapse_kernels_variant_count() where synapse_kernels_variant(i) == active { synapse_kernels_use(i) }
        }
        let random = RandomGenerator(seed: 7)
        let (n, c, size, ch) = (3, 4, 35, 2)
        let x = randomTensor([n, c, size], random, scale: 3), dy = randomTensor([n, c, size], random)
        for i in 0..<x.count { x[i] += 5 }  // a mean far from zero: the centred sum of squares matters
        func outputs() -> (statistics: [Double], tensors: [[Float]]) {
            let k = synapse_kernels().pointee
            let (y, h, dx) = (Tensor(shape: x.shape), Tensor(shape: x.shape), Tensor(shape: x.shape))
            var (mean, squares, sumDy, sumDyH): (Double, Double, Double, Double) = (0, 0, 0, 0)
            let o = ch * size
            k.batchnorm_moments(x.data + o, n, c * size, size, &mean, &squares)
            let inv = 1 / (Float(squares) / Float(n * size) + 1e-5).squareRoot()
            k.batchnorm_normalize(x.data + o, y.data + o, h.data + o, n, c * size, size, Float(mean), inv, 1.5, -0.25)
            k.batchnorm_gradient_sums(dy.data + o, h.data + o, n, c * size, size, &sumDy, &sumDyH)
            k.batchnorm_input_gradient(dy.data + o, h.data + o, dx.data + o, n, c * size, size, 0.01, Float(n * size),
                                       Float(sumDy), Float(sumDyH))
            return ([mean, squares, sumDy, sumDyH], [y, h, dx].map { Array($0.buffer) })
        }
        XCTAssertEqual(synapse_kernels_use(0), 1, "the plain variant runs everywhere")
        let plain = outputs()
        // The reference: one value at a time in Double.
        let values = (0..<n).flatMap { s in (0..<size).map { Double(x[(s * c + ch) * size + $0]) } }
        let mean = values.reduce(0, +) / Double(values.count)
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        XCTAssertEqual(plain.statistics[0], mean, accuracy: 1e-6 * abs(mean))
        // The centre is the mean rounded to Float; 105 float terms of size ~9 each round to ~1e-6 relative.
        XCTAssertEqual(plain.statistics[1], squares, accuracy: 1e-5 * squares)
        let inv = 1 / (Float(plain.statistics[1]) / Float(n * size) + 1e-5).squareRoot()
        var (sumDy, sumDyH) = (0.0, 0.0)
        for s in 0..<n {
            for i in 0..<size {
                let at = (s * c + ch) * size + i
                let h = (x[at] - Float(plain.statistics[0])) * inv
                XCTAssertEqual(plain.tensors[1][at], h, accuracy: 1e-6 * max(1, abs(h)))
                XCTAssertEqual(plain.tensors[0][at], 1.5 * h - 0.25, accuracy: 1e-5 * max(1, abs(h)))
                (sumDy, sumDyH) = (sumDy + Double(dy[at]), sumDyH + Double(dy[at]) * Double(plain.tensors[1][at]))
            }
        }
        XCTAssertEqual(plain.statistics[2], sumDy, accuracy: 1e-5 * max(1, abs(sumDy)))
        XCTAssertEqual(plain.statistics[3], sumDyH, accuracy: 1e-5 * max(1, abs(sumDyH)))
        XCTAssertTrue(plain.tensors[0][0..<(ch * size)].allSatisfy { $0 == 0 }, "other channels untouched")
        for i in 1..<synapse_kernels_variant_count() where synapse_kernels_use(Int32(i)) == 1 {
            let name = String(cString: synapse_kernels().pointee.name)
            let other = outputs()
            XCTAssertEqual(other.statistics.map(\.bitPattern), plain.statistics.map(\.bitPattern), "\(name): statistics")
            for (j, (a, b)) in zip(other.tensors, plain.tensors).enumerated() {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name): result \(j) differs from the plain variant")
            }
        }
    }

    /// The c half of each (2h) row.
    private func halves(_ x: [Float], _ h: Int) -> [Float] {
        stride(from: 0, to: x.count, by: 2 * h).flatMap { x[($0 + h)..<($0 + 2 * h)] }
    }

    /// The Swift loops of LSTMCell and GRUCell before the kernels, and the column sums.
    private func referenceOutputs(n: Int, h: Int, lstmZ: Tensor, lstmPrevious: Tensor, lstmGradient: Tensor, gruZ: Tensor,
                                  gruPrevious: Tensor, gruGradient: Tensor, sums: Tensor) -> [[Float]] {
        func sigmoid(_ x: Float) -> Float { 0.5 * rationalTanh(0.5 * x) + 0.5 }
        var z = Array(lstmZ.buffer), state = [Float](repeating: 0, count: n * 2 * h)
        let previous = Array(lstmPrevious.buffer), gradient = Array(lstmGradient.buffer)
        var d = [Float](repeating: 0, count: n * 4 * h), dPrevious = [Float](repeating: 0, count: n * 2 * h)
        for r in 0..<n {
            for j in 0..<h {
                let b = r * 4 * h
                let i = sigmoid(z[b + j]), f = sigmoid(z[b + h + j]), g = rationalTanh(z[b + 2 * h + j])
                let o = sigmoid(z[b + 3 * h + j])
                let c = f * previous[r * 2 * h + h + j] + i * g
                (z[b + j], z[b + h + j], z[b + 2 * h + j], z[b + 3 * h + j]) = (i, f, g, o)
                state[r * 2 * h + h + j] = c
                state[r * 2 * h + j] = o * rationalTanh(c)
            }
        }
        for r in 0..<n {
            for j in 0..<h {
                let b = r * 4 * h
                let (i, f, g, o) = (z[b + j], z[b + h + j], z[b + 2 * h + j], z[b + 3 * h + j])
                let dh = gradient[r * 2 * h + j], tc = rationalTanh(state[r * 2 * h + h + j])
                let dc = gradient[r * 2 * h + h + j] + dh * o * (1 - tc * tc)
                d[b + j] = dc * g * i * (1 - i)
                d[b + h + j] = dc * previous[r * 2 * h + h + j] * f * (1 - f)
                d[b + 2 * h + j] = dc * i * (1 - g * g)
                d[b + 3 * h + j] = dh * tc * o * (1 - o)
                dPrevious[r * 2 * h + h + j] = dc * f
            }
        }
        var gz = Array(gruZ.buffer), gState = [Float](repeating: 0, count: n * h)
        let hp = Array(gruPrevious.buffer), gg = Array(gruGradient.buffer)
        var gd = [Float](repeating: 0, count: n * 6 * h), gp = [Float](repeating: 0, count: n * h)
        for row in 0..<n {
            let b = row * 6 * h
            for j in 0..<h {
                let r = sigmoid(gz[b + j] + gz[b + 3 * h + j])
                let u = sigmoid(gz[b + h + j] + gz[b + 4 * h + j])
                let candidate = rationalTanh(gz[b + 2 * h + j] + r * gz[b + 5 * h + j])
                (gz[b + j], gz[b + h + j], gz[b + 2 * h + j]) = (r, u, candidate)
                gState[row * h + j] = (1 - u) * candidate + u * hp[row * h + j]
            }
            for j in 0..<h {
                let (r, u, candidate, recurrentN) = (gz[b + j], gz[b + h + j], gz[b + 2 * h + j], gz[b + 5 * h + j])
                let dh = gg[row * h + j]
                let dn = dh * (1 - u) * (1 - candidate * candidate)
                let du = dh * (hp[row * h + j] - candidate) * u * (1 - u)
                let dReset = dn * recurrentN * r * (1 - r)
                (gd[b + j], gd[b + h + j], gd[b + 2 * h + j]) = (dReset, du, dn)
                (gd[b + 3 * h + j], gd[b + 4 * h + j], gd[b + 5 * h + j]) = (dReset, du, dn * r)
                gp[row * h + j] = dh * u
            }
        }
        var db = [Float](repeating: 1, count: 13)
        for r in 0..<7 {
            for j in 0..<13 { db[j] += sums[r * 30 + j] }
        }
        return [z, state, d, dPrevious, gz, gState, gd, gp, db]
    }
}

