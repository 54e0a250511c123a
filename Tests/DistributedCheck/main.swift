// A small program that DistributedTests runs under `mpirun -np 2` (and alone, as the one-process
// reference). Not a sample: every mode prints what the tests compare and exits non-zero on a
// failed check.
//
//   DistributedCheck collectives
//       all-reduce and broadcast on known buffers; prints "collectives ok" on rank 0.
//   DistributedCheck train [--distributed] [--workers W] [--seed S] [--seed-by-rank] [--epochs E]
//                          [--hidden H] [--hidden-on-rank1 H] [--kill-rank R --kill-after B]
//                          [--throw-rank R --throw-after B] [--exit-rank R --exit-after B]
//                          [--augment] [--custom-layer] [--graph] --output PREFIX
//       trains a Linear-BatchNorm-ReLU-Dropout-Linear classifier on fixed synthetic data with
//       Adam (the data never depend on the seed); --augment adds uniform noise to every batch
//       from the trainer's generator (as BatchAugmentation draws); each rank writes its parameter and buffer blocks
//       to PREFIX.rank<r> and prints the final validation accuracy. --custom-layer puts a layer
//       defined here (outside Synapse: `Shift`) first, and rank 0 saves the model and loads it
//       back through a registry that knows it. --graph trains the same layers as a Graph with a
//       shortcut (fc2's output plus a Linear of the input, an Add), and rank 0 saves it and
//       loads it back with Graph.load.
import Dense
import Distributed
import Foundation

nonisolated(unsafe) let arguments = Array(CommandLine.arguments.dropFirst())
func value(_ name: String) -> String? {
    guard let k = arguments.firstIndex(of: name), k + 1 < arguments.count else { return nil }
    return arguments[k + 1]
}
func integer(_ name: String, _ fallback: Int) -> Int { value(name).flatMap { Int($0) } ?? fallback }

nonisolated(unsafe) let communicator: any Communicator =
    arguments.contains("--distributed") || arguments.first == "collectives" ? MPICommunicator.world : SingleProcess()
nonisolated(unsafe) let rank = communicator.rank

func check(_ condition: Bool, _ message: String) {
    if !condition { communicator.abort("check failed: \(message)", code: 3) }
}

/// Ends the process the way the fault tests ask, after a given batch on a given rank.
final class Fault: Callback {
    let killAfter: Int?, throwAfter: Int?, exitAfter: Int?
    init(killAfter: Int? = nil, throwAfter: Int? = nil, exitAfter: Int? = nil) {
        (self.killAfter, self.throwAfter, self.exitAfter) = (killAfter, throwAfter, exitAfter)
    }
    var batches = 0
    func batchEnded(_ trainer: Trainer, batch: Int, logs: [String: Double]) {
        batches += 1
        if let killAfter, batches == killAfter { kill(getpid(), SIGKILL) }
        if let exitAfter, batches == exitAfter { exit(0) }
        if let throwAfter, batches == throwAfter { failNow = true }
    }
    var failNow = false
    func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws {
        if failNow { throw SynapseError.invalidArgument("rank \(rank) was told to fail") }
    }
}

func collectives() {
    let size = communicator.size
    var floats: [Float] = (0..<1000).map { Float($0) * Float(rank + 1) }
    floats.withUnsafeMutableBufferPointer { communicator.allReduceSum($0) }
    let factor = Float(size * (size + 1) / 2)
    check(floats == (0..<1000).map { Float($0) * factor }, "Float all-reduce")
    var doubles: [Double] = [Double(rank) + 0.5, 1e15 * Double(rank + 1)]
    doubles.withUnsafeMutableBufferPointer { communicator.allReduceSum($0) }
    check(doubles == [Double(size * (size - 1) / 2) + 0.5 * Double(size), 1e15 * Double(size * (size + 1) / 2)], "Double all-reduce")
    var broadcast: [Float] = rank == 0 ? [1.5, -2, .greatestFiniteMagnitude, 0x1p-149] : [0, 0, 0, 0]
    broadcast.withUnsafeMutableBufferPointer { communicator.broadcast($0) }
    check(broadcast == [1.5, -2, .greatestFiniteMagnitude, 0x1p-149], "Float broadcast")
    let words = communicator.broadcast(rank == 0 ? [UInt64.max, 0x0123_4567_89ab_cdef] : [0, 0])
    check(words == [UInt64.max, 0x0123_4567_89ab_cdef], "UInt64 broadcast")
    let big = Tensor(shape: [61_706], repeating: Float(rank + 1))
    communicator.allReduceSum(big)
    check(big.array.allSatisfy { $0 == factor }, "all-reduce of a LeNet-sized block")
    communicator.barrier()
    if rank == 0 { print("collectives ok: \(size) ranks") }
}

/// y = x + b per feature: a layer of this program's own, registered like a user's.
final class Shift: Layer {
    struct Config: LayerConfig {
        static let typeName = "Shift"
        var features: Int
        func validate() throws {
            try LayerLimits.check(features, in: 1...LayerLimits.maxDimension, "features", layer: Self.typeName)
        }
        var parameterShapes: [(name: String, shape: [Int])] { [("bias", [features])] }
        func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
        func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            Shift(self, bias: storage.parameter("bias", [features]))
        }
    }
    let config: Config
    var name = ""
    let bias: Parameter
    var parameters: [Parameter] { [bias] }
    private var output: Tensor?
    init(_ config: Config, bias: Parameter) { (self.config, self.bias) = (config, bias) }
    func forward(_ input: Tensor, training: Bool) -> Tensor {
        let out = Tensor.reusing(output, shape: input.shape)
        output = out
        for i in 0..<input.count { out[i] = input[i] + bias.value[i % config.features] }
        return out
    }
    func backward(_ outputGradient: Tensor) -> Tensor {
        for i in 0..<outputGradient.count { bias.gradient[i % config.features] += outputGradient[i] }
        return outputGradient
    }
}

func train() throws {
    let seed = UInt64(integer("--seed", 1) + (arguments.contains("--seed-by-rank") ? rank : 0))
    let hidden = rank == 1 ? integer("--hidden-on-rank1", integer("--hidden", 16)) : integer("--hidden", 16)
    // Fixed data: 3 classes around fixed centres, from a generator of its own.
    let dataRandom = RandomGenerator(seed: 2026)
    // 201 samples: 161 train in batches of 32, the last of one row (rank 1 then sits idle and
    // adds zeros), and 40 validate in one batch of 20 rows a rank.
    let (n, features) = (integer("--samples", 201), 8)
    let inputs = Tensor(shape: [n, features]), targets = Tensor(shape: [n, 3])
    for i in 0..<n {
        let label = i % 3
        for f in 0..<features { inputs.data[i * features + f] = (f % 3 == label ? 1 : 0) + dataRandom.normal(standardDeviation: 0.7) }
        targets.data[i * 3 + label] = 1
    }
    let data = try Dataset(inputs: inputs, targets: targets)
    let random = RandomGenerator(seed: seed)
    let custom: [any Layer] = arguments.contains("--custom-layer")
        ? [try Shift.Config(features: features).makeLayer(random: random)] : []
    let model: any Model
    if arguments.contains("--graph") {
        let x = Node.input(shape: [features], name: "x")
        var h = Linear.Config(inputFeatures: features, outputFeatures: hidden)(x, name: "fc1")
        h = Activation.Config(.relu)(BatchNorm.Config(features: hidden)(h, name: "bn"), name: "relu")
        h = Linear.Config(inputFeatures: hidden, outputFeatures: 3)(Dropout.Config(rate: 0.3)(h, name: "dropout"), name: "fc2")
        let skip = Linear.Config(inputFeatures: features, outputFeatures: 3)(x, name: "skip")
        model = try Graph(inputs: [x], outputs: [Add.Config()([h, skip], name: "add")], random: random)
    } else {
        model = try Sequential(inputShape: [features], custom + [
            Linear(features, hidden, random: random, name: "fc1"),
            BatchNorm(features: hidden, name: "bn"),
            Activation(.relu),
            Dropout(rate: 0.3, name: "dropout"),
            Linear(hidden, 3, random: random, name: "fc2"),
        ])
    }
    let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), random: random)
    try trainer.use(workers: integer("--workers", 1), communicator: communicator)
    if arguments.contains("--augment") {
        trainer.augmentBatch = { batch, random in
            for i in 0..<batch.count { batch.data[i] += random.uniform(-0.2, 0.2) }
        }
    }
    var callbacks: [any Callback] = []
    if let killRank = value("--kill-rank").flatMap(Int.init), killRank == rank {
        callbacks.append(Fault(killAfter: integer("--kill-after", 3)))
    }
    if let throwRank = value("--throw-rank").flatMap(Int.init), throwRank == rank {
        callbacks.append(Fault(throwAfter: integer("--throw-after", 1)))
    }
    if let exitRank = value("--exit-rank").flatMap(Int.init), exitRank == rank {
        callbacks.append(Fault(exitAfter: integer("--exit-after", 3)))
    }
    let history = try trainer.fit(data, epochs: integer("--epochs", 3), batchSize: 32,
                                  validation: .split(0.2, seed: 5), callbacks: callbacks)
    guard let output = value("--output") else { throw SynapseError.invalidArgument("--output is required") }
    var bytes = Data(buffer: model.parameterBlock.values.buffer)
    bytes.append(Data(buffer: model.bufferBlock.values.buffer))
    try bytes.write(to: URL(fileURLWithPath: "\(output).rank\(rank)"))
    if rank == 0 && arguments.contains("--custom-layer") {
        let url = URL(fileURLWithPath: "\(output).model.safetensors")
        try model.save(to: url)
        let loaded = try Sequential.load(from: url, registry: LayerRegistry.dense.registering(Shift.Config.self))
        check(loaded.config == (model as! Sequential).config, "the saved custom layer loads with the same config")
        check(loaded.parameterBlock.values.array == model.parameterBlock.values.array, "and the same weights")
    }
    if rank == 0 && arguments.contains("--graph") {
        let url = URL(fileURLWithPath: "\(output).model.safetensors")
        try model.save(to: url)
        let loaded = try Graph.load(from: url, registry: LayerRegistry.dense)
        check(loaded.config == (model as! Graph).config, "the saved graph loads with the same config")
        check(loaded.parameterBlock.values.array == model.parameterBlock.values.array, "and the same weights")
    }
    if rank == 0 {
        print("val_accuracy: \(history["val_accuracy"].last ?? -1)")
        print("trained \(trainer.epoch) epochs on \(communicator.size) rank(s) x \(trainer.workers) worker(s)")
    }
}

do {
    switch arguments.first {
    case "collectives": collectives()
    case "train": try train()
    default:
        FileHandle.standardError.write(Data("usage: DistributedCheck collectives | train [options]\n".utf8))
        exit(2)
    }
    (communicator as? MPICommunicator)?.finalize()
} catch {
    if communicator.size > 1 { communicator.abort("error: \(error)", code: 1) }
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
