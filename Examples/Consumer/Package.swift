// swift-tools-version: 6.0
// A package that uses Synapse as a user's package would: by path here, by URL elsewhere
// (`.package(url: "https://.../Synapse", from: "0.1.0")`), with only `import Synapse`.
// CI builds and runs it (.ci/run); it needs no Open MPI.
import PackageDescription

let package = Package(
    name: "Consumer",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Synapse", path: "../..")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "Synapse", package: "Synapse")]),
    ]
)
