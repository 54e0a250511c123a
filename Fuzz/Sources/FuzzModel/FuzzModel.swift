import Foundation
import FuzzSupport
import Synapse

/// The model architecture JSON, of a Sequential or a Graph: ModelConfig or GraphConfig decoding,
/// layer building through the registry, edges and shape inference (Sequential.init,
/// Graph.init), then SavedModel.load (Sequential.load or Graph.load) from the input written as
/// model.json beside a model.safetensors. When the architecture builds, the weights file is the
/// one that model saves, so the load goes on through the weights; otherwise it is an empty
/// weights file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    let weights = Fuzz.scratch.appendingPathComponent("model.safetensors")
    try? FileManager.default.removeItem(at: weights)
    if let built = try? build(data) {
        try? built.save(to: weights)
    }
    if !FileManager.default.fileExists(atPath: weights.path) {
        _ = Fuzz.file("model.safetensors", (try? SafeTensors.encode([])) ?? Data())
    }
    _ = Fuzz.file("model.json", data)
    if let model = try? SavedModel.load(from: weights, registry: Fuzz.registry) {
        Fuzz.require(model.inputShape.allSatisfy { $0 > 0 }, "model with input shape \(model.inputShape) loaded")
        _ = model.summary()
    }
    return 0
}

/// What Sequential.load and Graph.load do before they read the weights.
func build(_ data: Data) throws -> any Model {
    if let graph = try? JSONDecoder().decode(GraphConfig.self, from: data) {
        return try Graph(graph, registry: Fuzz.registry, random: RandomGenerator(seed: 0))
    }
    let config = try JSONDecoder().decode(ModelConfig.self, from: data)
    let random = RandomGenerator(seed: 0)
    let layers = try config.layers.map { entry in
        let layer = try Fuzz.registry.makeLayer(type: entry.type, options: entry.options, random: random)
        layer.name = entry.name
        return layer
    }
    return try Sequential(inputShape: config.inputShape, layers)
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (name, model) in try Fuzz.models() {
            try encoder.encode(model.config).write(to: folder.appendingPathComponent("\(name).json"))
        }
        for (name, graph) in try Fuzz.graphs() {
            try encoder.encode(graph.config).write(to: folder.appendingPathComponent("\(name).json"))
        }
    }
    return 0
}
