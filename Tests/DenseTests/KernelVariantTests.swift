import CKernels
import Dense
import XCTest

/// Every CKernels variant the CPU supports against the plain one, on the kernels Dense uses:
/// ReLU (forward and backward) and Adam give the same bits on every variant (no fused
/// multiply-adds in them; see ckernels.c).
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
}
