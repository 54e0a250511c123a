// swift-tools-version: 6.0
// libFuzzer harnesses for Synapse's file readers: one executable per reader.
//
// A package of its own, so that the main package and CI's normal build never see these targets
// or their flags. Build (Scripts/fuzz does it):
//     swift build --package-path Fuzz -c release --sanitize=fuzzer --sanitize=address \
//         -Xswiftc -sanitize=fuzzer,address
// (the joined flag gives the Swift modules their coverage counters: README.md)
// libFuzzer provides `main`; each harness defines `LLVMFuzzerTestOneInput` and is compiled with
// -parse-as-library so that it has no top-level code (no `main` of its own).
import PackageDescription

/// name of the binary -> module; the module's sources are in Sources/<module>.
let harnesses: [(binary: String, module: String)] = [
    ("fuzz-png", "FuzzPNG"),
    ("fuzz-jpeg", "FuzzJPEG"),
    ("fuzz-idx", "FuzzIDX"),
    ("fuzz-gzip", "FuzzGzip"),
    ("fuzz-safetensors", "FuzzSafeTensors"),
    ("fuzz-model", "FuzzModel"),
    ("fuzz-weights", "FuzzWeights"),
    ("fuzz-checkpoint", "FuzzCheckpoint"),
    ("fuzz-vocabulary", "FuzzVocabulary"),
    ("fuzz-pipeline", "FuzzPipeline"),
    ("fuzz-imdb-csv", "FuzzIMDBCSV"),
    ("fuzz-imdb-tar", "FuzzIMDBTar"),
    ("fuzz-labelled-texts", "FuzzLabelledTexts"),
    ("fuzz-onnx", "FuzzONNX"),
]

let package = Package(
    name: "SynapseFuzz",
    platforms: [.macOS(.v13)],
    products: harnesses.map { .executable(name: $0.binary, targets: [$0.module]) },
    dependencies: [.package(name: "Synapse", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Synapse", package: "Synapse")]),
    ] + harnesses.map {
        .executableTarget(
            name: $0.module,
            dependencies: ["FuzzSupport", .product(name: "Synapse", package: "Synapse"), .product(name: "ONNX", package: "Synapse")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    }
)
