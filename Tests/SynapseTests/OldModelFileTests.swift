import CKernels
import Foundation
import Synapse
import TestSupport
import XCTest

/// Model sets that earlier versions of the samples wrote keep loading and predict as the code
/// that wrote them did.
///
/// `Fixtures/models/<name>/` holds what one sample run wrote (`Scripts/fixtures/make_old_models`
/// says which commands, on which commit): `model.json` beside `model.safetensors`, or only the
/// `checkpoint.safetensors` and its `.json` of a run stopped mid-epoch. `expected.safetensors`
/// holds an input and the output the writing code computed for it (`testWriteExpectedOutputs`,
/// run once on that commit with SYNAPSE_WRITE_FIXTURES=1), with the OpenBLAS kernel set and
/// the CKernels variant it ran on in its metadata.
final class OldModelFileTests: XCTestCase {
    static let sets = ["lenet", "mlp-mnist", "sentiment", "charrnn", "classify-vgg-small", "lenet-interrupted"]

    static func folder(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures/models/\(name)", withExtension: nil)!
    }

    /// The weights file of a set: the model, or the checkpoint of an interrupted run.
    static func weights(_ name: String) -> URL {
        let model = folder(name).appendingPathComponent("model.safetensors")
        return FileManager.default.fileExists(atPath: model.path) ? model : folder(name).appendingPathComponent("checkpoint.safetensors")
    }

    /// Four samples of the model's input: token ids below the vocabulary for a model that starts
    /// with an Embedding, values in -1...1 otherwise.
    static func input(for model: Sequential) -> Tensor {
        let random = RandomGenerator(seed: 5)
        let x = Tensor(shape: [4] + model.inputShape)
        if let embedding = model.layers.first as? Embedding {
            for i in 0..<x.count { x[i] = Float(random.below(embedding.vocabularySize)) }
        } else {
            for i in 0..<x.count { x[i] = random.uniform(-1, 1) }
        }
        return x
    }

    func testWriteExpectedOutputs() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["SYNAPSE_WRITE_FIXTURES"] == "1", "writes the fixtures when asked")
        for name in Self.sets {
            let model = try Sequential.load(from: Self.weights(name), registry: .standard)
            let x = Self.input(for: model)
            try SafeTensors.write([("input", x), ("output", model.forward(x))],
                                  metadata: ["blas_core": BLAS.coreName, "kernels": String(cString: synapse_kernels().pointee.name)],
                                  to: repositoryFile("Tests/SynapseTests/Fixtures/models/\(name)/expected.safetensors"))
        }
    }
}
