import Foundation
import FuzzSupport
import Synapse

/// Sequential.loadWeights and loadWeightsOrCheckpoint: a weights file (safetensors) loaded into
/// fixed small models of every layer type; the input is read as it is and in its split form
/// (Fuzz.safetensorsFiles). Loaded weights must have the model's shapes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWeights(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    for file in Fuzz.safetensorsFiles(Fuzz.data(bytes, size)) { check(file) }
    return 0
}

func check(_ data: Data) {
    let url = Fuzz.file("weights.safetensors", data)
    let models: [(name: String, model: Sequential)]
    do { models = try Fuzz.models() } catch { fatalError("fixed models: \(error)") }
    for (_, model) in models {
        let shapes = model.stateTensors.map(\.value.shape)
        if (try? model.loadWeights(from: url)) != nil {
            Fuzz.require(model.stateTensors.map(\.value.shape) == shapes, "loading changed the model's shapes")
        }
        _ = try? model.loadWeightsOrCheckpoint(from: url)
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        for (name, model) in try Fuzz.models() {
            try model.save(to: folder.appendingPathComponent("\(name).safetensors"))
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("\(name).json"))
        }
        try Fuzz.addSplitForms(in: folder)
    }
    return 0
}
