import Foundation
import Synapse
import TestSupport
import XCTest

// The README's "Write your own layer" example, as it is printed there: a layer defined outside
// Synapse, described once by its config.

/// y = x * w + b per feature: a learned scale and shift of each feature of (N, F) input.
final class ScaleShift: Layer {
    struct Config: LayerConfig {
        static let typeName = "ScaleShift"
        var features: Int

        func validate() throws {
            try LayerLimits.check(features, in: 1...LayerLimits.maxDimension, "features", layer: Self.typeName)
        }
        var parameterShapes: [(name: String, shape: [Int])] { [("weight", [features]), ("bias", [features])] }
        func outputShape(for inputShape: [Int]) throws -> [Int] {
            guard inputShape == [features] else { throw SynapseError.shape("expects (\(features)), got \(inputShape)") }
            return inputShape
        }
        func makeLayer(random: RandomGenerator?) throws -> any Layer { try ScaleShift(self) }
    }

    let config: Config
    var name = ""
    let weight: Parameter
    let bias: Parameter
    var parameters: [Parameter] { [weight, bias] }
    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    init(_ config: Config) throws {
        try config.validate()
        self.config = config
        weight = Parameter(name: "weight", value: Tensor(shape: [config.features], repeating: 1))
        bias = Parameter(name: "bias", value: Tensor(shape: [config.features]))
    }

    func forward(_ input: Tensor, training: Bool) -> Tensor {
        let out = Tensor.reusing(output, shape: input.shape)
        (output, self.input) = (out, input)
        let (f, w, b) = (config.features, weight.value, bias.value)
        for i in 0..<input.count { out[i] = input[i] * w[i % f] + b[i % f] }
        return out
    }

    func backward(_ outputGradient: Tensor) -> Tensor {
        guard let input else { preconditionFailure("ScaleShift: backward before forward") }
        let dx = Tensor.reusing(inputGradient, shape: input.shape)
        inputGradient = dx
        let (f, w, dw, db) = (config.features, weight.value, weight.gradient, bias.gradient)
        for i in 0..<input.count {
            dx[i] = outputGradient[i] * w[i % f]
            dw[i % f] += outputGradient[i] * input[i]
            db[i % f] += outputGradient[i]
        }
        return dx
    }
}

/// A layer of the user's own, registered once, does all a built-in layer does: save and load,
/// clone, train on two workers, checkpoint and resume.
final class CustomLayerTests: FolderTestCase {
    let registry = LayerRegistry.standard.registering(ScaleShift.Config.self)

    func makeModel(_ random: RandomGenerator) throws -> Sequential {
        try Sequential(inputShape: [4], [
            ScaleShift(.init(features: 4)),
            Linear(4, 8, initializer: .heNormal, random: random, name: "fc1"), Activation(.relu),
            Linear(8, 3, random: random, name: "fc2"),
        ])
    }

    func data() throws -> Dataset {
        let random = RandomGenerator(seed: 21)
        let x = Tensor(shape: [64, 4]), y = Tensor(shape: [64])
        for i in 0..<64 {
            y[i] = Float(i % 3)
            for j in 0..<4 { x[i * 4 + j] = random.normal(mean: j == i % 3 ? 2 : 0, standardDeviation: 0.5) * 3 + 1 }
        }
        return try Dataset(inputs: x, targets: y)
    }

    func testGradients() throws {
        let layer = try ScaleShift(.init(features: 3))
        let random = RandomGenerator(seed: 3)
        for p in layer.parameters { for i in 0..<p.value.count { p.value[i] = random.uniform(-1, 1) } }
        try checkGradients(layer, input: randomTensor([2, 3], random))
    }

    func testSavesLoadsClonesTrainsOnTwoWorkersAndResumes() throws {
        let data = try data()
        let model = try makeModel(RandomGenerator(seed: 1))
        XCTAssertEqual(model.layers[0].name, "scaleshift_1")
        XCTAssertTrue(model.summary().contains("scaleshift_1 (ScaleShift)"))

        // Two workers: replicas are clones of the layers.
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.05),
                              random: RandomGenerator(seed: 2))
        try trainer.use(workers: 2)
        let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
        trainer.checkpointURL = checkpoint
        _ = try trainer.fit(data, epochs: 2, batchSize: 16)
        let scale = model.layers[0] as! ScaleShift
        XCTAssertNotEqual(scale.weight.value.array, [1, 1, 1, 1], "the custom layer's weights trained")

        // Resume from the checkpoint with a fresh model and trainer: the same as going on.
        let resumedModel = try Sequential.load(from: checkpoint, registry: registry)
        let resumed = Trainer(model: resumedModel, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.05),
                              random: RandomGenerator(seed: 2))
        try resumed.use(workers: 2)
        try resumed.loadCheckpoint(from: checkpoint)
        _ = try trainer.fit(data, epochs: 3, batchSize: 16)
        _ = try resumed.fit(data, epochs: 3, batchSize: 16)
        XCTAssertEqual(resumedModel.parameterBlock.values.array, model.parameterBlock.values.array)

        // Save and load: same config and outputs; an unregistered type is an error naming it.
        let url = folder.appendingPathComponent("model.safetensors")
        try model.save(to: url)
        let loaded = try Sequential.load(from: url, registry: registry)
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertEqual(loaded.forward(data.inputs).array, model.forward(data.inputs).array)
        XCTAssertThrowsError(try Sequential.load(from: url, registry: .standard)) { error in
            XCTAssertTrue("\(error)".contains("unknown layer type 'ScaleShift'"), "\(error)")
        }

        // A clone holds the same values in storage of its own.
        let clone = try scale.clone() as! ScaleShift
        XCTAssertEqual(clone.weight.value.array, scale.weight.value.array)
        clone.weight.value[0] += 1
        XCTAssertNotEqual(clone.weight.value[0], scale.weight.value[0])
    }

    func testBadConfigIsAnErrorNamingTheSetting() throws {
        XCTAssertThrowsError(try registry.config(type: "ScaleShift", options: ["features": .number(0)])) {
            XCTAssertTrue("\($0)".contains("ScaleShift 'features' is 0"), "\($0)")
        }
        XCTAssertThrowsError(try registry.config(type: "ScaleShift", options: ["features": .string("four")])) {
            XCTAssertTrue("\($0)".contains("'features'"), "\($0)")
        }
    }
}
