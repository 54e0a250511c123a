// Takes a model anywhere: a saved Synapse model (the .safetensors with its .json beside it) to
// ONNX, and an ONNX model (the operators Synapse computes, a chain or a
// branching graph) back to a Synapse model
// set that every command reads.
//
//     onnx export runs/lenet/model.safetensors lenet.onnx
//     onnx import lenet.onnx imported/model.safetensors
import ArgumentParser
import Foundation
import ONNX
import Synapse

struct ONNXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx", abstract: "Export a saved model to ONNX, or import an ONNX model.",
        subcommands: [Export.self, Import.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a saved model (MODEL.safetensors and the MODEL.json beside it) as ONNX, opset 17.")

        @Argument(help: "The model's weights; its architecture is the .json beside it.") var model: String
        @Argument(help: "The ONNX file to write (replaced whole).") var output: String

        func run() throws {
            let loaded = try SavedModel.load(from: URL(fileURLWithPath: model), registry: .standard)
            try ONNXExporter.write(loaded, to: URL(fileURLWithPath: output))
            print("\(model): \(loaded.layers.count) layers, input \(loaded.inputShape), output \(loaded.outputShape) -> \(output)")
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read an ONNX model into a Synapse model set: OUT.safetensors and OUT.json beside it.")

        @Argument(help: "The ONNX model: the operators Synapse imports, as a chain or a graph.") var input: String
        @Argument(help: "The weights to write (.safetensors); the architecture goes to the .json beside it.") var output: String

        func validate() throws {
            guard output.hasSuffix(".safetensors") else {
                throw ValidationError("the output is a .safetensors file (its .json is written beside it), got \(output)")
            }
        }

        func run() throws {
            let model = try ONNXImporter.read(from: URL(fileURLWithPath: input))
            let url = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try model.save(to: url, training: ["imported_from": .string((input as NSString).lastPathComponent)])
            print(model.summary())
            print("\(input) -> \(output) and \(Sequential.configURL(forWeights: url).lastPathComponent)")
        }
    }
}

ONNXCommand.main()
