// swift-tools-version: 6.0
// Synapse: CNN/RNN training on the CPU, in Swift, on OpenBLAS, libpng and libjpeg-turbo.
import PackageDescription

/// A sample: one executable per job a user runs, on the umbrella module and the shared options.
/// Only a sample that takes `--distributed` depends on DistributedSampleOptions, and so links Open MPI.
func sample(_ name: String, folder: String, distributed: Bool = false) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["Synapse", "SampleOptions", .product(name: "ArgumentParser", package: "swift-argument-parser")]
            + (distributed ? ["DistributedSampleOptions"] : []),
        path: "Samples/\(folder)")
}

let package = Package(
    name: "Synapse",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Synapse", targets: ["Synapse"]),
        .library(name: "Dense", targets: ["Dense"]),
        .library(name: "Conv", targets: ["Conv"]),
        .library(name: "Recurrent", targets: ["Recurrent"]),
        .library(name: "Augment", targets: ["Augment"]),
        // MPI across processes; the only product that needs Open MPI (not part of Synapse).
        .library(name: "Distributed", targets: ["Distributed"]),
        // ONNX export (and import) of models, over swift-protobuf's runtime (not part of Synapse).
        .library(name: "ONNX", targets: ["ONNX"]),
        .executable(name: "xor", targets: ["XOR"]),
        .executable(name: "mlp-mnist", targets: ["MLPMNIST"]),
        .executable(name: "lenet", targets: ["LeNet"]),
        .executable(name: "augment", targets: ["AugmentFolder"]),
        .executable(name: "sentiment", targets: ["Sentiment"]),
        .executable(name: "charrnn", targets: ["CharRNN"]),
        .executable(name: "classify", targets: ["Classify"]),
        .executable(name: "textclass", targets: ["TextClass"]),
        .executable(name: "onnx", targets: ["ONNXConvert"]),
        .executable(name: "dense-benchmark", targets: ["DenseBenchmark"]),
        .executable(name: "conv-benchmark", targets: ["ConvBenchmark"]),
        .executable(name: "augment-benchmark", targets: ["AugmentBenchmark"]),
        .executable(name: "rnn-benchmark", targets: ["RNNBenchmark"]),
        .executable(name: "distributed-benchmark", targets: ["DistributedBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // `swift package generate-documentation --target Synapse` (a plugin: nothing of it is linked).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries from Debian packages (Scripts/setup installs them).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZlibSystem", path: "Sources/CZlibSystem"),
        .systemLibrary(name: "CLibCrypto", path: "Sources/CLibCrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CPNG", path: "Sources/CPNG", linkerSettings: [.linkedLibrary("png")]),
        .target(name: "CJPEG", path: "Sources/CJPEG", exclude: ["README.md"], linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "CFloatEnvironment", path: "Sources/CFloatEnvironment"),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Hot loops compiled per instruction set, chosen at run time (no flags for the package).
        .target(name: "CKernels", path: "Sources/CKernels", exclude: ["README.md"]),

        // The core: tensors, layers, losses, optimizers, training loop, files, data cache.
        .target(
            name: "Dense",
            dependencies: [
                "COpenBLAS", "CZlibSystem", "CLibCrypto", "CFloatEnvironment", "CKernels",
            ]),
        .target(name: "Conv", dependencies: ["Dense", "CKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .target(
            name: "Recurrent",
            dependencies: [
                "Dense", "CKernels",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]),
        .target(name: "Augment", dependencies: ["Dense", "CPNG", "CJPEG"]),
        .target(name: "Synapse", dependencies: ["Dense", "Conv", "Recurrent", "Augment"]),
        // The MPI communicator: links Open MPI; Dense knows only the Communicator protocol.
        .target(name: "Distributed", dependencies: ["Dense", "CMPI"]),
        // ONNX models: the Swift generated from onnx.proto (committed, Generated/README.md) and
        // the per-layer mappings; swift-protobuf's runtime only, never its plugin.
        .target(
            name: "ONNX",
            dependencies: ["Dense", "Conv", "Recurrent", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Generated/README.md"]),

        // Samples: one executable per job a user runs.
        // The options every sample shares (`--export-onnx` through ONNX); no MPI.
        .target(
            name: "SampleOptions",
            dependencies: ["Synapse", "ONNX", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Samples/SampleOptions"),
        // `--distributed`, for the samples that offer it: links Open MPI through Distributed.
        .target(
            name: "DistributedSampleOptions",
            dependencies: ["Synapse", "SampleOptions", "Distributed", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Samples/DistributedSampleOptions"),
        sample("XOR", folder: "XOR"),
        sample("MLPMNIST", folder: "MLPMNIST", distributed: true),
        sample("LeNet", folder: "LeNet", distributed: true),
        sample("AugmentFolder", folder: "Augment"),
        sample("Sentiment", folder: "Sentiment", distributed: true),
        sample("CharRNN", folder: "CharRNN"),
        sample("Classify", folder: "Classify"),
        sample("TextClass", folder: "TextClass"),
        .executableTarget(
            name: "ONNXConvert",
            dependencies: ["Synapse", "ONNX", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Samples/ONNX"),

        // Benchmarks: run in release mode, print ratios against their peers.
        .executableTarget(
            name: "DenseBenchmark",
            dependencies: ["Dense", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/DenseBenchmark"),
        // The multiply-add peak loop the convolution benchmark measures the machine with.
        .target(name: "CPeak", path: "Benchmarks/CPeak"),
        .executableTarget(
            name: "ConvBenchmark",
            dependencies: ["Conv", "CPeak", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/ConvBenchmark"),
        .executableTarget(
            name: "AugmentBenchmark",
            dependencies: ["Augment", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/AugmentBenchmark"),

        .executableTarget(
            name: "RNNBenchmark",
            dependencies: ["Recurrent", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/RNNBenchmark"),
        .executableTarget(
            name: "DistributedBenchmark",
            dependencies: ["Conv", "Distributed", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/DistributedBenchmark"),

        .target(name: "TestSupport", dependencies: ["Dense"], path: "Tests/TestSupport"),
        .testTarget(name: "DenseTests", dependencies: ["Dense", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ConvTests", dependencies: ["Conv", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RecurrentTests", dependencies: ["Recurrent", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AugmentTests", dependencies: ["Augment", "Conv", "TestSupport"], resources: [.copy("Fixtures")]),
        // Files written by earlier versions, through the umbrella module.
        .testTarget(name: "SynapseTests", dependencies: ["Synapse", "CKernels", "TestSupport"], resources: [.copy("Fixtures")]),
        // Runs `mpirun -np 2` on DistributedCheck, a small program built beside the tests.
        .executableTarget(name: "DistributedCheck", dependencies: ["Dense", "Distributed"], path: "Tests/DistributedCheck"),
        .testTarget(name: "DistributedTests", dependencies: ["Dense"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "Synapse", "TestSupport"]),
        // Writes models, inputs and Synapse's outputs for Scripts/check_onnx.py (onnxruntime).
        .executableTarget(name: "ONNXCheck", dependencies: ["ONNX", "Synapse"], path: "Tests/ONNXCheck"),
    ]
)
