// Helpers shared by the test targets: tolerance checks, finite-difference gradient checks,
// temporary folders.
import Dense
import Foundation
import XCTest

/// |a - b| <= max(relative * |b|, absolute) elementwise, with the worst element in the message.
///
/// The defaults are for comparisons with the PyTorch fixtures: both sides are float32 sums of at
/// most about a hundred products of values of order one, added in orders neither side fixes. The
/// worst-case bound of such a sum is 2 * K * u (u = 2^-24, about 1.2e-5 for K = 100), and rounding
/// errors of different orders add up like a random walk, about sqrt(K) * u in practice; 1e-5
/// relative with a floor of 1e-6 (for values near zero, where the terms cancel) holds with a wide
/// margin. Checked with OpenBLAS's Haswell, SkylakeX, Zen, Sandybridge and Prescott kernels
/// (`OPENBLAS_CORETYPE`), each with one and two threads.
public func assertClose(_ actual: Tensor, _ expected: Tensor, relative: Float = 1e-5, absolute: Float = 1e-6,
                 _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): element count", file: file, line: line)
    guard actual.count == expected.count else { return }
    var worst = (index: -1, excess: Float(0))
    for i in 0..<actual.count {
        let (a, b) = (actual[i], expected[i])
        let excess = abs(a - b) - max(relative * abs(b), absolute)
        if !(excess <= 0) && (worst.index < 0 || excess > worst.excess || excess.isNaN) { worst = (i, excess) }
    }
    if worst.index >= 0 {
        XCTFail("\(what): element \(worst.index) is \(actual[worst.index]), expected \(expected[worst.index])",
                file: file, line: line)
    }
}

/// Float32's unit roundoff, 2^-24: one rounding moves a value by at most this fraction of it.
public let unitRoundoff = Float(0x1p-24)

/// Asserts that two float32 evaluations of the same sums of products, added in different orders,
/// agree as closely as rounding allows.
///
/// Another OpenBLAS kernel (Haswell, SkylakeX, Zen, ...), another thread split, another GEMM
/// shape (a batch cut into chunks or slices) all add the terms of each element in another order,
/// and OpenBLAS promises no particular order. Each order lands within `terms * u * m` of the exact
/// sum, where `m` is the sum of the terms' absolute values (the bound for recursive summation,
/// Higham, Accuracy and Stability of Numerical Algorithms, section 3.1; blocked and pairwise orders
/// are tighter), so two orders differ by at most twice that. `magnitudes` holds `m` per element:
/// for a linear map it is the same map applied to the absolute values of its operands.
public func assertWithinRounding(_ actual: Tensor, _ expected: Tensor, terms: Int, magnitudes: Tensor,
                                 _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): element count", file: file, line: line)
    XCTAssertEqual(magnitudes.count, expected.count, "\(what): magnitude count", file: file, line: line)
    guard actual.count == expected.count, magnitudes.count == expected.count else { return }
    let factor = 2 * Float(terms) * unitRoundoff
    for i in 0..<actual.count {
        let bound = factor * magnitudes[i]
        guard abs(actual[i] - expected[i]) <= bound else {
            XCTFail("\(what): element \(i) is \(actual[i]), expected \(expected[i]) within \(bound) (\(terms) terms of total magnitude \(magnitudes[i]))",
                    file: file, line: line)
            return
        }
    }
}

/// The tensor of absolute values, for the magnitudes of `assertWithinRounding`.
public func absolute(_ t: Tensor) -> Tensor {
    let result = t.copy()
    for i in 0..<result.count { result[i] = abs(result[i]) }
    return result
}

/// Runs `body` with OpenBLAS held to `threads` threads and restores the setting after.
///
/// A test that demands bit-identical results between two runs of the same products pins the
/// thread count: OpenBLAS splits a product between threads, and another split adds in another
/// order.
public func withBLASThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
    let saved = BLAS.threads
    BLAS.threads = threads
    defer { BLAS.threads = saved }
    return try body()
}

public func randomTensor(_ shape: [Int], _ random: RandomGenerator, scale: Float = 1) -> Tensor {
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = random.uniform(-scale, scale) }
    return t
}

/// Finite-difference gradient check of a layer, in Double, against its Float backward pass.
///
/// The scalar checked is f(x) = sum(forward(x) * r) for a fixed random r, so backward(r) must
/// give df/dx and accumulate df/dparameter. `beforeForward` runs before every forward pass (to
/// replay a dropout mask, say). `checkInput: false` skips the input (token ids have no gradient).
public func checkGradients(_ layer: any Layer, input: Tensor, training: Bool = true, epsilon: Float = 1e-2,
                    tolerance: Double = 1e-2, checkInput: Bool = true, beforeForward: () -> Void = {},
                    file: StaticString = #filePath, line: UInt = #line) {
    let random = RandomGenerator(seed: 99)
    func objective(_ weights: Tensor) -> Double {
        beforeForward()
        let y = layer.forward(input, training: training)
        var sum = 0.0
        for i in 0..<y.count { sum += Double(y[i]) * Double(weights[i]) }
        return sum
    }
    for p in layer.parameters { p.zeroGradient() }
    beforeForward()
    let y = layer.forward(input, training: training)
    let r = randomTensor(y.shape, random)
    let dx = layer.backward(r).copy()
    let analytic = (checkInput ? [("input", input, dx)] : []) + layer.parameters.map { ($0.name, $0.value, $0.gradient.copy()) }
    for (name, tensor, gradient) in analytic {
        for i in 0..<tensor.count {
            let saved = tensor[i]
            tensor[i] = saved + epsilon
            let plus = objective(r)
            tensor[i] = saved - epsilon
            let minus = objective(r)
            tensor[i] = saved
            let numeric = (plus - minus) / (2 * Double(epsilon))
            let exact = Double(gradient[i])
            if abs(numeric - exact) > tolerance * max(1, abs(numeric), abs(exact)) {
                XCTFail("\(type(of: layer)) d/d\(name)[\(i)]: backward gives \(exact), finite differences \(numeric)",
                        file: file, line: line)
                return
            }
        }
    }
}

/// A test case with a fresh temporary folder per test, removed afterwards.
open class FolderTestCase: XCTestCase {
    public var folder: URL!

    override open func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override open func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }
}

/// A committed safetensors fixture: `fixture("case.tensor")` is a tensor from it, or a failure.
public final class Fixture: @unchecked Sendable {
    public let contents: SafeTensors.Contents

    public init(_ url: URL) { contents = try! SafeTensors.read(from: url) }

    public func callAsFunction(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> Tensor {
        guard let t = contents[name] else {
            XCTFail("fixture lacks \(name)", file: file, line: line)
            return Tensor(shape: [0])
        }
        return t
    }
}

/// The data root (`SYNAPSE_DATA`) when it holds the folder `dataset` (`mnist`, `images`, ...).
/// Without it the test is skipped on a developer's machine but fails under `CI=true`, where the
/// data must be there.
public func dataRoot(holding dataset: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
    let environment = ProcessInfo.processInfo.environment
    guard let root = environment["SYNAPSE_DATA"], FileManager.default.fileExists(atPath: root + "/" + dataset) else {
        if environment["CI"] == "true" {
            XCTFail("CI=true but SYNAPSE_DATA does not point at a folder holding \(dataset)/", file: file, line: line)
        }
        throw XCTSkip("set SYNAPSE_DATA to a folder holding \(dataset)/")
    }
    return URL(fileURLWithPath: root, isDirectory: true)
}

/// A file of the repository by its path from the top (`Fuzz/Crashes/png/...`), found from this
/// source file's place in Tests/TestSupport.
public func repositoryFile(_ path: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(path)
}

/// Every input the fuzzers kept in `Fuzz/Crashes/<harness>/`, sorted by name.
public func fuzzCrashes(_ harness: String) throws -> [URL] {
    let folder = repositoryFile("Fuzz/Crashes/" + harness)
    return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
}

/// Asserts that `body` throws an error whose text names `url`'s file.
public func assertRefuses(_ url: URL, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    XCTAssertThrowsError(try body(), url.lastPathComponent, file: file, line: line) { error in
        XCTAssertTrue("\(error)".contains(url.lastPathComponent), "\(url.lastPathComponent): \(error)", file: file, line: line)
    }
}
