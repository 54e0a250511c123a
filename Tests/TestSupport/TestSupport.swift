// Helpers shared by the test targets: tolerance checks, finite-difference gradient checks,
// temporary folders.
import Dense
import Foundation
import XCTest

/// |a - b| <= max(relative * |b|, absolute) elementwise, with the worst element in the message.
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
