// Character-level language model: a many-to-many recurrent network (simple, GRU or LSTM cell,
// `--cell`) learns to predict the next
// character of a corpus (default: the first few MB of the IMDB reviews), then generates text one
// character at a time (one-to-many) from a seed string, sampling with a temperature. Prints a
// sample after each epoch.
import ArgumentParser
import Foundation
import SampleOptions
import Synapse

struct CharRNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "charrnn", abstract: "Train a character-level recurrent network and generate text from it.")

    @OptionGroup var common: TrainingOptions
    @Option(help: "A UTF-8 text file to learn from (default: IMDB reviews from the data directory).") var corpus: String?
    @Option(help: "Characters of the corpus to use.") var characters = 3_000_000
    @Option(help: "Epochs.") var epochs = 5
    @Option(help: "Characters per training sequence.") var steps = 100
    @Option(help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Embedding dimension of a character.") var embedding = 32
    @Option(help: "Recurrent cell: simple (Elman, tanh), gru or lstm.") var cell = "simple"
    @Option(help: "Hidden state size.") var hidden = 256
    @Option(help: "Adam learning rate.") var lr: Float = 2e-3
    @Option(help: "Clip the global gradient norm to this.") var clip: Float = 5
    @Option(help: "Sampling temperature: lower is safer, higher more varied.") var temperature: Float = 0.7
    @Option(help: "Text the generated samples start from.") var seedText = "this movie was "
    @Option(help: "Characters to generate per sample.") var sampleLength = 300
    @Option(help: "Folder for model.safetensors, model.json, alphabet.json, log.csv and the checkpoint (replaced as a whole).") var output = "runs/charrnn"

    func validate() throws {
        try checkTraining(epochs: epochs, batchSize: batchSize, lr: lr)
        guard ["simple", "gru", "lstm"].contains(cell) else { throw ValidationError("--cell must be simple, gru or lstm, not '\(cell)'") }
        guard steps >= 2, characters > steps else {
            throw ValidationError("--steps must be at least 2 and --characters more than --steps, got \(steps) and \(characters)")
        }
        guard embedding >= 1, hidden >= 1, sampleLength >= 0 else {
            throw ValidationError("--embedding and --hidden must be at least 1 and --sample-length not negative")
        }
        guard temperature > 0 && temperature.isFinite else { throw ValidationError("--temperature must be a positive number, got \(temperature)") }
        guard clip > 0 && clip.isFinite else { throw ValidationError("--clip must be a positive number, got \(clip)") }
    }

    func run() throws {
        let directory = common.prepare()
        let run = try TrainingRun(output: output, options: common)
        let text = try loadCorpus(directory)
        let alphabet = Array(Set(text)).sorted()
        let index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, $0) })
        let ids = text.map { index[$0]! }
        note("corpus: \(ids.count) characters, alphabet of \(alphabet.count)")
        guard seedText.allSatisfy({ index[$0] != nil }) else {
            throw ValidationError("--seed-text uses characters the corpus lacks")
        }

        // Sequences of `steps` characters; the targets are the same text shifted by one.
        let count = (ids.count - 1) / steps
        let inputs = Tensor(shape: [count, steps]), targets = Tensor(shape: [count, steps])
        for i in 0..<(count * steps) {
            inputs.data[i] = Float(ids[i])
            targets.data[i] = Float(ids[i + 1])
        }
        let data = try Dataset(inputs: inputs, targets: targets)

        let random = RandomGenerator(seed: common.seed)
        let rnn: any Layer
        switch cell {
        case "simple": rnn = try SimpleRNN(embedding, hidden, mode: .manyToMany, random: random, name: "rnn")
        case "gru": rnn = try GRU(embedding, hidden, mode: .manyToMany, random: random, name: "rnn")
        case "lstm": rnn = try LSTM(embedding, hidden, mode: .manyToMany, random: random, name: "rnn")
        default: throw ValidationError("--cell must be simple, gru or lstm, not '\(cell)'")
        }
        let model = try Sequential(inputShape: [steps], [
            Embedding(alphabet.count, embedding, random: random, name: "embedding"),
            rnn,
            Linear(hidden, alphabet.count, random: random, name: "head"),
        ])
        print(model.summary())
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: lr), random: random)
        trainer.clipNorm = clip
        try common.configure(trainer)
        let generator = RandomGenerator(seed: common.seed &+ 1)
        let sampler = Sampler(model: model, alphabet: alphabet, index: index)
        let samples = EpochEnd(generator: generator) { epoch in
            print("--- sample after epoch \(epoch + 1) (temperature \(temperature)):")
            print(sampler.generate(from: seedText, count: sampleLength, temperature: temperature, random: generator))
        }
        try run.start(trainer, callbacks: [samples])
        let (start, firstEpoch) = (Date(), trainer.epoch)
        let history = try run.fit(trainer) {
            try trainer.fit(data, epochs: epochs, batchSize: batchSize, validation: .split(0.05, seed: common.seed),
                            callbacks: common.progressCallbacks + [samples])
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "trained in %.1f s (%.0f characters/s)", seconds,
                     Double(trainer.epoch - firstEpoch) * Double(count - Int((0.05 * Double(count)).rounded())) * Double(steps) / seconds))
        try run.save(model, training: [:], history: history, curves: nil) { staging in
            try AtomicFile.write(try JSONEncoder().encode(alphabet.map(String.init)), to: staging.appendingPathComponent("alphabet.json"))
        }
        print("wrote model.safetensors, model.json, alphabet.json and log.csv in \(run.folder.url.path)")
    }

    func loadCorpus(_ directory: DataDirectory) throws -> [Character] {
        let raw: String
        if let corpus {
            guard let data = FileManager.default.contents(atPath: corpus) else {
                throw SynapseError.file(path: corpus, problem: "cannot read the corpus")
            }
            raw = String(decoding: data, as: UTF8.self)
        } else {
            let imdb = try IMDB.load(from: directory, log: note)
            var joined = ""
            for review in imdb.train {
                joined += review.text.replacingOccurrences(of: "<br />", with: " ")
                joined += "\n"
                if joined.utf8.count >= characters { break }
            }
            raw = joined
        }
        // Printable ASCII and newlines only: a handful of rare characters would each cost a
        // softmax column and teach nothing.
        let kept = raw.lowercased().unicodeScalars.filter { $0 == "\n" || (32..<127).contains($0.value) }
        let text = Array(String(String.UnicodeScalarView(kept)).prefix(characters))
        guard text.count > steps * 2 else {
            throw SynapseError.invalidArgument("the corpus has \(text.count) usable characters; it needs more than \(steps * 2)")
        }
        return text
    }
}

/// Generates text: feeds the seed through the trained cell, then samples each next character
/// from softmax(logits / temperature) and feeds it back (one-to-many). The cell's whole state
/// (h, and c for the LSTM) goes from step to step; the head reads h.
struct Sampler {
    let embedding: Embedding
    let rnn: any RecurrentStepping
    let head: Linear
    let alphabet: [Character]
    let index: [Character: Int]

    init(model: Sequential, alphabet: [Character], index: [Character: Int]) {
        embedding = model.layers[0] as! Embedding
        rnn = model.layers[1] as! any RecurrentStepping
        head = model.layers[2] as! Linear
        self.alphabet = alphabet
        self.index = index
    }

    func generate(from seed: String, count: Int, temperature: Float, random: RandomGenerator) -> String {
        let state = Tensor(shape: [1, rnn.stateWidth])
        let x = Tensor(shape: [1, embedding.dimension])
        var text = seed
        var next = 0
        func feed(_ id: Int) {
            x.data.update(from: embedding.weight.value.data + id * embedding.dimension, count: embedding.dimension)
            rnn.step(input: x, state: state, into: state)
            let logits = head.forward(rnn.output(of: state), training: false)
            // Sample from softmax(logits / temperature).
            var weights = (0..<alphabet.count).map { Double(logits[$0] / temperature) }
            let top = weights.max()!
            weights = weights.map { exp($0 - top) }
            var u = Double(random.uniform()) * weights.reduce(0, +)
            next = weights.count - 1
            for (i, w) in weights.enumerated() {
                u -= w
                if u <= 0 { next = i; break }
            }
        }
        for c in seed { feed(index[c]!) }
        for _ in 0..<count {
            text.append(alphabet[next])
            feed(next)
        }
        return text
    }
}

/// Runs a closure after every epoch; the state of the generator it samples with goes into
/// checkpoints, so a resumed run prints the same samples as one that never stopped.
final class EpochEnd: CheckpointedCallback {
    let generator: RandomGenerator
    let action: (Int) -> Void
    init(generator: RandomGenerator, _ action: @escaping (Int) -> Void) { (self.generator, self.action) = (generator, action) }
    func epochEnded(_ trainer: Trainer, epoch: Int, logs: [String: Double]) throws { action(epoch) }

    var checkpointKey: String { "sampler" }
    func checkpointState(_ trainer: Trainer) -> (values: [String: String], tensors: [(name: String, tensor: Tensor)]) {
        (["random_state": generator.state.map { String($0, radix: 16) }.joined(separator: ",")], [])
    }
    func restoring(_ values: [String: String], tensors: [String: Tensor], epochs: Int, trainer: Trainer) throws -> () -> Void {
        let words = values["random_state"]?.split(separator: ",").compactMap { UInt64($0, radix: 16) } ?? []
        guard RandomGenerator.isValidState(words) else { throw SynapseError.invalidArgument("sampler random_state is not four words, not all zero") }
        let saved = RandomGenerator(seed: 0)
        try saved.restore(words)
        return { self.generator.restore(from: saved) }
    }
}

useOpenBLASVectorKernels()
CharRNN.main()
