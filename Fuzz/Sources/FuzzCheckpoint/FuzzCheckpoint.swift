import Foundation
import FuzzSupport
import Synapse

/// Trainer.loadCheckpoint: a training checkpoint (safetensors with metadata: epoch, optimizer
/// steps, learning rate, schedule state, random state, history) loaded into fixed trainers:
/// an MLP with Adam and ReduceOnPlateau, an RNN with SGD (momentum) and StepDecay. The input is
/// read as it is and in its split form (Fuzz.safetensorsFiles). A trainer that accepted a
/// checkpoint must be able to go on: draw a random number and step its schedule.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    for file in Fuzz.safetensorsFiles(Fuzz.data(bytes, size)) { check(file) }
    return 0
}

func check(_ data: Data) {
    let url = Fuzz.file("checkpoint.safetensors", data)
    for trainer in trainers() where (try? trainer.loadCheckpoint(from: url)) != nil {
        Fuzz.require(trainer.epoch >= 0, "epoch \(trainer.epoch) accepted")
        _ = trainer.random.next()
        _ = trainer.schedule?.rate(after: trainer.epoch, current: trainer.optimizer.learningRate,
                                   logs: ["val_loss": 1, "loss": 1])
    }
}

func trainers() -> [Trainer] {
    let models: [String: Sequential]
    do { models = Dictionary(uniqueKeysWithValues: try Fuzz.models().map { ($0.name, $0.model) }) } catch {
        fatalError("fixed models: \(error)")
    }
    return [
        Trainer(model: models["mlp"]!, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01),
                random: RandomGenerator(seed: 3), schedule: ReduceOnPlateau(patience: 1)),
        Trainer(model: models["rnn"]!, loss: BinaryCrossEntropy(), optimizer: SGD(learningRate: 0.1, momentum: 0.9),
                random: RandomGenerator(seed: 4), schedule: StepDecay(initial: 0.1, every: 1)),
    ]
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        let (mlp, rnn) = (trainers()[0], trainers()[1])
        let random = RandomGenerator(seed: 5)
        let x = Tensor(shape: [8, 6]), y = Tensor(shape: [8])
        for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        for i in 0..<y.count { y.data[i] = Float(i % 2) }
        try mlp.fit(Dataset(inputs: x, targets: y), epochs: 2, batchSize: 4,
                    validation: .split(0.25, seed: 1))
        try mlp.saveCheckpoint(to: folder.appendingPathComponent("mlp-adam.safetensors"))
        let words = Tensor(shape: [6, 5]), labels = Tensor(shape: [6, 1])
        for i in 0..<words.count { words.data[i] = Float(random.below(12)) }
        for i in 0..<labels.count { labels.data[i] = Float(i % 2) }
        try rnn.fit(Dataset(inputs: words, targets: labels), epochs: 1, batchSize: 3)
        try rnn.saveCheckpoint(to: folder.appendingPathComponent("rnn-sgd.safetensors"))
        for name in ["mlp-adam", "rnn-sgd"] {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("\(name).json"))
        }
        try Fuzz.addSplitForms(in: folder)
    }
    return 0
}
