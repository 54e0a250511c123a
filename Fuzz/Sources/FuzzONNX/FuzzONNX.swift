import Foundation
import FuzzSupport
import ONNX
import Synapse

/// ONNXImporter.model(from:path:): an ONNX file read into a Sequential or a Graph. A refused file must be a
/// `SynapseError.file` naming it; an accepted model must run on one zero sample (when its
/// layers' outputs stay small) and give its output shape.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = "fuzz.onnx"
    let model: any Model
    do {
        model = try ONNXImporter.model(from: Fuzz.data(bytes, size), path: path)
    } catch let SynapseError.file(named, _) {
        Fuzz.require(named == path, "the error names '\(named)', not the file")
        return 0
    } catch {
        fatalError("fuzz invariant violated: an error that does not name the file: \(error)")
    }
    // Run it only when the layers' outputs for one sample stay small (2^16 floats in all).
    let shapes: [[Int]]
    switch model {
    case let chain as Sequential: shapes = chain.outputShapes
    case let graph as Graph: shapes = graph.outputShapes
    default: fatalError("fuzz invariant violated: the importer made a \(type(of: model))")
    }
    var total = 0
    for shape in shapes {
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        total = total.addingReportingOverflow(count).overflow ? Int.max : total + count
    }
    guard total <= 1 << 16 else { return 0 }
    // Token ids must be in range: zeros are (id 0 is always a row of the table).
    let output = model.forward(Tensor(shape: [1] + model.inputShape), training: false)
    Fuzz.require(output.shape == [1] + model.outputShape, "output \(output.shape) for the model's \(model.outputShape)")
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        // The harnesses' small models, those ONNX can express.
        for (name, model) in try Fuzz.models() {
            guard let data = try? ONNXExporter.export(model) else { continue }
            try data.write(to: folder.appendingPathComponent("\(name).onnx"))
        }
    }
    return 0
}
