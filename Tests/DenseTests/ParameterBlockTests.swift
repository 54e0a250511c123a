import Dense
import XCTest

/// A built model's parameters are views into one value block and one gradient block.
final class ParameterBlockTests: XCTestCase {
    func makeModel(seed: UInt64 = 1) throws -> Sequential {
        let random = RandomGenerator(seed: seed)
        return try Sequential(inputShape: [5], [
            Linear(5, 7, random: random, name: "fc1"), BatchNorm(features: 7, name: "bn"), Activation(.relu),
            Linear(7, 3, random: random, name: "fc2"),
        ])
    }

    func testParametersAreAdjacentViewsIntoOneBlock() throws {
        let random = RandomGenerator(seed: 1)
        let fc1 = try Linear(5, 7, random: random, name: "fc1")
        let before = fc1.weight.value.array
        let model = try Sequential(inputShape: [5], [fc1, BatchNorm(features: 7, name: "bn"), Linear(7, 3, random: random)])
        XCTAssertEqual(model.parameters.map(\.name), ["fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "linear_1.weight", "linear_1.bias"])
        XCTAssertEqual(fc1.weight.value.array, before, "the values moved into the block unchanged")
        let block = model.parameterBlock
        XCTAssertEqual(block.count, 35 + 7 + 7 + 7 + 21 + 3)
        XCTAssertEqual(Int(bitPattern: block.values.data) % 64, 0, "the block is 64-byte aligned")
        XCTAssertEqual(Int(bitPattern: block.gradients.data) % 64, 0)
        var value = block.values.data, gradient = block.gradients.data
        for p in model.parameters {
            XCTAssertTrue(p.value.storage === block.values.storage, p.name)
            XCTAssertTrue(p.gradient.storage === block.gradients.storage, p.name)
            XCTAssertEqual(p.value.data, value, "\(p.name) starts where the previous one ends")
            XCTAssertEqual(p.gradient.data, gradient, p.name)
            value += p.value.count
            gradient += p.gradient.count
        }
        XCTAssertEqual(value, block.values.data + block.count)
        // A write through the block is the parameter's value, and the other way round.
        block.values[0] = 42
        XCTAssertEqual(fc1.weight.value[0], 42)
        fc1.bias!.gradient[2] = 3
        XCTAssertEqual(block.gradients[35 + 2], 3)
        // The running statistics have a block of their own, in the same order.
        XCTAssertEqual(model.buffers.map(\.name), ["bn.running_mean", "bn.running_var"])
        XCTAssertEqual(model.buffers[1].value.data, model.bufferBlock.values.data + 7)
        XCTAssertEqual(model.bufferBlock.values.array, Array(repeating: 0, count: 7) + Array(repeating: 1, count: 7))
        XCTAssertNotNil(ParameterBlock.common(model.parameters))
    }

    func testZeroGradientsClearsAll() throws {
        let model = try makeModel()
        let random = RandomGenerator(seed: 2)
        let x = randomTensor([4, 5], random)
        model.backward(model.forward(x, training: true))
        for p in model.parameters { XCTAssertTrue(p.gradient.array.contains { $0 != 0 }, p.name) }
        model.zeroGradients()
        XCTAssertEqual(model.parameterBlock.gradients.array, Array(repeating: 0, count: model.parameterBlock.count))
        for p in model.parameters { XCTAssertEqual(p.gradient.array, Array(repeating: 0, count: p.gradient.count), p.name) }
    }

    /// A layer lives in the model it was built into: a second model of the same layers is an
    /// error naming the layer, and the first model keeps its block whole. Clones go in freely.
    func testLayersCannotMoveIntoAnotherModel() throws {
        let first = try makeModel()
        XCTAssertThrowsError(try Sequential(inputShape: [5], first.layers)) { error in
            XCTAssertTrue("\(error)".contains("'\(first.layers[0].name)'") && "\(error)".contains("already belongs to a model"), "\(error)")
        }
        XCTAssertTrue(first.parameterBlock.holds(first.parameters))
        XCTAssertTrue(first.bufferBlock.holds(first.buffers))
        XCTAssertEqual(first.bufferBlock.gradients.count, 0, "the buffer block holds no gradients")
        let second = try Sequential(inputShape: [5], first.layers.map { try $0.clone() })
        XCTAssertEqual(second.parameterBlock.values.array, first.parameterBlock.values.array)
        XCTAssertFalse(second.parameterBlock.values.storage === first.parameterBlock.values.storage)
    }
}
