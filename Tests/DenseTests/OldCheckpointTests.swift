import Dense
import Foundation
import XCTest

/// Checkpoints written before the parameter blocks (commit 2df5258, per-parameter optimizer
/// state) still load and continue: the fixtures `old_checkpoint_<optimizer>` were written by
/// `testWriteFixtures` on that commit, with `old_checkpoint_<optimizer>_after4` the weights that
/// the run reached two epochs later on the machine that wrote them.
final class OldCheckpointTests: XCTestCase {
    func data() throws -> Dataset {
        let random = RandomGenerator(seed: 21)
        let x = Tensor(shape: [48, 4]), y = Tensor(shape: [48])
        for i in 0..<48 {
            y[i] = Float(i % 3)
            for j in 0..<4 { x[i * 4 + j] = random.normal(mean: j == i % 3 ? 1.5 : 0, standardDeviation: 0.7) }
        }
        return try Dataset(inputs: x, targets: y)
    }

    func makeTrainer(_ optimizer: String) throws -> Trainer {
        let random = RandomGenerator(seed: 22)
        let model = try Sequential(inputShape: [4], [
            Linear(4, 6, random: random, name: "fc1"), BatchNorm(features: 6, name: "bn"), Activation(.tanh),
            Linear(6, 3, random: random, name: "fc2"),
        ])
        let chosen: any Optimizer = optimizer == "adam"
            ? Adam(learningRate: 0.01, weightDecay: 0.001) : SGD(learningRate: 0.05, momentum: 0.9, nesterov: true)
        return Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: chosen, random: random)
    }

    func testOldCheckpointsLoadAndContinue() throws {
        for optimizer in ["adam", "sgd"] {
            let url = fixtureURL("old_checkpoint_\(optimizer)", "safetensors")
            let saved = try SafeTensors.read(from: url)
            let trainer = try makeTrainer(optimizer)
            try trainer.loadCheckpoint(from: url)
            XCTAssertEqual(trainer.epoch, 2)
            for p in trainer.model.stateTensors {
                XCTAssertEqual(p.value.array, saved[p.name]!.array, p.name)
            }
            for p in trainer.model.parameters {
                for (slot, tensor) in zip(trainer.optimizer.slotNames, trainer.optimizer.slots(for: p)) {
                    XCTAssertEqual(tensor.array, saved["optimizer/\(p.name)/\(slot)"]!.array, "\(p.name) \(slot)")
                }
            }
            // The rest of the state the file records, read here from its metadata, exactly.
            let metadata = try SafeTensors.readHeader(from: url).metadata
            XCTAssertEqual(String(trainer.optimizer.stepCount), metadata["optimizer_steps"], optimizer)
            XCTAssertEqual(String(trainer.optimizer.learningRate.bitPattern), metadata["learning_rate"], optimizer)
            XCTAssertEqual(trainer.random.state.map { String($0, radix: 16) }.joined(separator: ","),
                           metadata["random_state"], optimizer)

            // Continuing: the same, bit for bit, as continuing from that state written in today's
            // format (same process, same operations). Compared with `_after4`, the old code's
            // own continuation, only on the OpenBLAS kernels that wrote it (Cooperlake): two
            // epochs of Adam on other GEMM kernels (other fused multiply-adds and blocking) moved
            // a near-zero bias by 4 % (Sandybridge), so no rounding bound holds across kernels
            // for a training trajectory.
            let current = FileManager.default.temporaryDirectory.appendingPathComponent("old-\(optimizer)-\(UUID()).safetensors")
            defer { try? FileManager.default.removeItem(at: current) }
            try trainer.saveCheckpoint(to: current)
            let resaved = try makeTrainer(optimizer)
            try resaved.loadCheckpoint(from: current)
            try trainer.fit(try data(), epochs: 4, batchSize: 16)
            try resaved.fit(try data(), epochs: 4, batchSize: 16)
            for (p, q) in zip(trainer.model.stateTensors, resaved.model.stateTensors) {
                XCTAssertEqual(p.value.array, q.value.array, "\(optimizer): \(p.name)")
            }
            let expected = try SafeTensors.read(from: fixtureURL("old_checkpoint_\(optimizer)_after4", "safetensors"))
            if BLAS.coreName == "cooperlake" {
                for p in trainer.model.stateTensors {
                    assertClose(p.value, expected[p.name]!, relative: 1e-6, absolute: 1e-7, "\(optimizer): \(p.name)")
                }
            }
            // A checkpoint loads as a plain model too.
            let model = try Sequential.load(from: url, registry: .dense)
            for p in model.stateTensors { XCTAssertEqual(p.value.array, saved[p.name]!.array, p.name) }
        }
    }

    /// Writes the fixtures when WRITE_OLD_CHECKPOINT names a folder (run on commit 2df5258).
    func testWriteFixtures() throws {
        guard let out = ProcessInfo.processInfo.environment["WRITE_OLD_CHECKPOINT"] else { return }
        let folder = URL(fileURLWithPath: out)
        for optimizer in ["adam", "sgd"] {
            let trainer = try makeTrainer(optimizer)
            try trainer.fit(try data(), epochs: 2, batchSize: 16)
            try trainer.saveCheckpoint(to: folder.appendingPathComponent("old_checkpoint_\(optimizer).safetensors"))
            try trainer.fit(try data(), epochs: 4, batchSize: 16)
            try trainer.model.save(to: folder.appendingPathComponent("old_checkpoint_\(optimizer)_after4.safetensors"))
        }
    }
}
