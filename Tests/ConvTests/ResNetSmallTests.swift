import Conv
import Dense
import Foundation
import XCTest

/// The fixture of Scripts/fixtures/make_resnet_fixture.py: a PyTorch resnet-small's state_dict.
let resnetFixture = Bundle.module.url(forResource: "resnet_small_golden", withExtension: "safetensors", subdirectory: "Fixtures")!

final class ResNetSmallTests: FolderTestCase {
    /// The PyTorch module's state_dict is exactly the Swift graph's weights (no missing and no
    /// unexpected tensor, the same shapes: a strict load either way) and gives the same logits.
    func testLoadsThePyTorchModuleStrictlyAndPredictsAlike() throws {
        let model = try ResNetSmall.make(channels: 3, height: 12, width: 10, classes: 5, depth: 8, random: RandomGenerator(seed: 1))
        var contents = try SafeTensors.read(from: resnetFixture)
        let x = try XCTUnwrap(contents["probe.x"]), expected = try XCTUnwrap(contents["probe.logits"])
        contents.tensors.removeAll { $0.name.hasPrefix("probe.") }
        XCTAssertEqual(Set(contents.names), Set(model.stateTensors.map(\.name)))
        try model.loadWeights(contents, path: resnetFixture.path)
        assertClose(try model.predict(x), expected, relative: 1e-4, absolute: 1e-4, "logits")
    }

    func testShapesDepthAndErrors() throws {
        let random = RandomGenerator(seed: 1)
        let model = try ResNetSmall.make(channels: 3, height: 32, width: 32, classes: 10, random: random)
        XCTAssertEqual(model.parameters.reduce(0) { $0 + $1.value.count }, 272_474)
        XCTAssertEqual(model.buffers.reduce(0) { $0 + $1.value.count }, 1_568)
        // Depth 20: 19 convolutions and the Linear on the main path, plus 2 projections.
        XCTAssertEqual(model.layers.filter { $0 is Conv2D }.count, 19 + 2)
        XCTAssertEqual(model.layers.filter { $0 is Linear }.count, 1)
        XCTAssertEqual(model.outputShapes[model.layers.firstIndex { $0.name == "avgpool" }! - 1], [64, 8, 8])
        let odd = try ResNetSmall.make(channels: 1, height: 9, width: 8, classes: 2, depth: 8, random: random)
        XCTAssertEqual(odd.outputShape, [2])
        XCTAssertEqual(odd.outputShapes[odd.layers.firstIndex { $0.name == "avgpool" }! - 1], [64, 3, 2])
        XCTAssertThrowsError(try ResNetSmall.make(channels: 3, height: 32, width: 32, classes: 10, depth: 21, random: random)) {
            XCTAssertTrue("\($0)".contains("6n + 2"), "\($0)")
        }
        XCTAssertThrowsError(try ResNetSmall.make(channels: 3, height: 7, width: 32, classes: 10, random: random)) {
            XCTAssertTrue("\($0)".contains("at least 8"), "\($0)")
        }
    }

    /// Saved and loaded: the same predictions, through SavedModel as classify loads it.
    func testSaveAndLoad() throws {
        let model = try ResNetSmall.make(channels: 1, height: 8, width: 8, classes: 3, depth: 8, random: RandomGenerator(seed: 2))
        let url = folder.appendingPathComponent("model.safetensors")
        try model.save(to: url)
        let loaded = try SavedModel.load(from: url, registry: LayerRegistry.dense.merging(.conv))
        let x = randomTensor([2, 1, 8, 8], RandomGenerator(seed: 3))
        XCTAssertEqual(try loaded.predict(x).array, try model.predict(x).array)
    }
}

extension ResNetSmallTests {
    /// The memory one training step of resnet-20 holds at batch 32 (3 x 32 x 32): what the first
    /// forward and backward allocate (every layer's output and input gradient, the convolutions'
    /// column buffers, the graph's gradient sums) stays allocated and is reused, so a second step
    /// allocates nothing more. Prints the bytes (README, "Networks as graphs").
    func testTrainingStepMemoryIsHeldOnceAndReused() throws {
        let model = try ResNetSmall.make(channels: 3, height: 32, width: 32, classes: 10, random: RandomGenerator(seed: 1))
        let x = randomTensor([32, 3, 32, 32], RandomGenerator(seed: 2))
        let dy = randomTensor([32, 10], RandomGenerator(seed: 3))
        func step() {
            model.zeroGradients()
            _ = model.forward(x, training: true)
            model.backward(dy)
        }
        let before = try allocatedBytes()
        step()
        let first = try allocatedBytes()
        step()
        let second = try allocatedBytes()
        let held = Int(first) - Int(before)
        print("resnet-20, batch 32: one training step holds \(held) bytes (\(held >> 20) MiB); layer outputs and input gradients "
              + "\(model.activationBytes(batchSize: 32) >> 20) MiB of it; the second step allocated \(Int(second) - Int(first)) bytes")
        XCTAssertGreaterThanOrEqual(held, model.activationBytes(batchSize: 32) / 2)
        XCTAssertLessThan(Int(second) - Int(first), 1 << 16)
    }
}

/// The bytes malloc has handed out and not taken back (glibc's mallinfo2(): uordblks from the
/// heap plus hblkhd, the large blocks it maps on their own), found with dlsym: Swift's Glibc
/// module does not export mallinfo2. It returns ten size_t fields in memory the caller passes
/// (x86-64 System V: the hidden pointer goes in the first argument register).
func allocatedBytes() throws -> Int {
    #if arch(x86_64) && os(Linux)
    guard let symbol = dlsym(nil, "mallinfo2") else { throw XCTSkip("no mallinfo2 in this C library") }
    typealias MallInfo2 = @convention(c) (UnsafeMutablePointer<Int>) -> UnsafeMutablePointer<Int>
    var fields = [Int](repeating: 0, count: 10)
    _ = fields.withUnsafeMutableBufferPointer { unsafeBitCast(symbol, to: MallInfo2.self)($0.baseAddress!) }
    return fields[7] + fields[4]
    #else
    throw XCTSkip("measured through glibc's mallinfo2 on x86-64 Linux only")
    #endif
}
