import Dense
import XCTest

final class ActivationTests: XCTestCase {
    let functions: [(String, Activation.Function)] = [
        ("relu", .relu), ("leaky_relu", .leakyReLU(alpha: 0.1)), ("sigmoid", .sigmoid), ("tanh", .tanh), ("softmax", .softmax),
    ]

    func testActivationsMatchPyTorch() throws {
        for (name, function) in functions {
            let layer = try Activation(function)
            let y = layer.forward(fixture("act_\(name).x"), training: true)
            assertClose(y, fixture("act_\(name).y"), "\(name) output")
            let dx = layer.backward(fixture("act_\(name).dy"))
            assertClose(dx, fixture("act_\(name).dx"), "\(name) input gradient")
        }
    }

    func testActivationGradients() throws {
        for (_, function) in functions {
            let input = fixture("act_relu.x")  // kept away from zero, where ReLU has a kink
            checkGradients(try Activation(function), input: input, epsilon: 1e-3)
        }
    }

    func testSoftmaxIsStableForLargeLogits() throws {
        let y = try Activation(.softmax).forward(Tensor(shape: [1, 3], values: [1000, 1000, -1000]), training: false)
        XCTAssertEqual(y.array, [0.5, 0.5, 0])
    }
}
