// A many-to-one recurrent network on IMDB movie reviews: Embedding -> SimpleRNN, LSTM or GRU
// (`--cell`) -> Linear -> sigmoid, binary cross-entropy. Trains with a progress bar and per-epoch validation, prints the test
// accuracy, precision, recall and confusion matrix, and saves the model with its vocabulary.
// `--predict "text"` prints the probability that a review is positive, from the saved model.
// `--write-test-set FOLDER` also writes the encoded test set and the model's outputs on it, with
// which Scripts/check_onnx_sentiment.py checks an `--export-onnx` file in onnxruntime.
import ArgumentParser
import DistributedSampleOptions
import Foundation
import SampleOptions
import Synapse

struct Sentiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentiment", abstract: "Train a recurrent network on IMDB reviews, or score a review with a saved one.")

    @OptionGroup var common: TrainingOptions
    @OptionGroup var cluster: DistributedOptions
    @Option(help: "Epochs at most: training stops when the validation loss stops falling, and keeps the best epoch's weights.") var epochs = 5
    @Option(help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Vocabulary size, including <pad> and <unk>.") var vocabulary = 20_000
    @Option(name: .customLong("length"), help: "Words per review: the last N are kept, shorter reviews are padded (and masked) (default: 200 for the simple cell, 400 for lstm and gru).")
    var lengthSetting: Int?
    @Option(help: "Embedding dimension.") var embedding = 64
    @Option(help: "Word vectors start uniform in -a...a for this a.") var embeddingScale: Float = 0.05
    @Option(help: "Recurrent cell: simple (Elman), lstm or gru.") var cell = "simple"
    @Flag(help: "Read each review both ways (a second cell reads the real words last first); the two final states are concatenated.")
    var bidirectional = false
    @Option(help: "Hidden state size.") var hidden = 64
    @Option(name: .customLong("pooling"), help: "What the classifier reads: last (the state after the last real word), mean or max (over every real word's state).")
    var poolingSetting: String?
    @Option(help: "Simple cell only: recurrent nonlinearity, relu (with identity recurrent weights: an IRNN) or tanh (default relu).")
    var nonlinearity: String?
    @Option(help: "Recurrent weight initialisation: identity or orthogonal (default: identity for the simple cell, orthogonal for lstm and gru).")
    var recurrentInit: String?
    @Option(name: .customLong("lr"), help: "Adam learning rate (default: 0.001).") var lrSetting: Float?
    @Option(name: .customLong("decay"), help: "Multiply the learning rate by this after every epoch (default: 1 for the simple cell, 0.5 for lstm and gru).")
    var decaySetting: Float?
    @Option(name: .customLong("dropout"), help: "Dropout rate on the word vectors, 0 for none (default: 0.3 for lstm and gru, 0 for the simple cell).")
    var dropoutSetting: Float?
    @Option(name: .customLong("state-dropout"), help: "Dropout rate on the recurrent layer's final state, before the classifier, 0 for none (default: 0).")
    var stateDropout: Float = 0
    @Option(help: "Adam's weight decay (L2 penalty on every parameter; default 0).") var weightDecay: Float = 0
    @Option(help: "Clip the global gradient norm to this.") var clip: Float = 1
    @Flag(help: "Flush denormal floats to zero while training (x86 FTZ/DAZ).") var flushDenormals = false
    @Option(help: "Folder for model.safetensors, model.json, vocabulary.json, log.csv, curves.svg and the checkpoint (replaced as a whole).")
    var output = "runs/sentiment"
    @Option(help: "Score this review with the model saved in --output; no training.") var predict: String?
    @Option(help: ArgumentHelp("Also write the encoded test set and the trained model's outputs on it into this folder (input.bin, output.bin, targets.bin: float32; shapes.json), for Scripts/check_onnx_sentiment.py.",
                               valueName: "folder"))
    var writeTestSet: String?

    /// The settings that differ by cell, chosen on the IMDB runs the README reports: the gated
    /// cells gain from longer reviews and a halving learning rate, and the LSTM, which overfits its
    /// word vectors sooner, from dropout on them.
    var length: Int { lengthSetting ?? (cell == "simple" ? 200 : 400) }
    var lr: Float { lrSetting ?? 1e-3 }
    var dropout: Float { dropoutSetting ?? (cell == "simple" ? 0 : 0.3) }
    var decay: Float { decaySetting ?? (cell == "simple" ? 1 : 0.5) }
    var pooling: String { poolingSetting ?? "last" }

    func validate() throws {
        try checkTraining(epochs: epochs, batchSize: batchSize, lr: lrSetting, decay: decaySetting)
        guard ["simple", "lstm", "gru"].contains(cell) else { throw ValidationError("--cell must be simple, lstm or gru, not '\(cell)'") }
        guard pooling == "last" || SequencePooling.Reduction(rawValue: pooling) != nil else {
            throw ValidationError("--pooling must be last, mean or max, not '\(pooling)'")
        }
        guard vocabulary >= 3 else { throw ValidationError("--vocabulary must be at least 3 (<pad>, <unk> and a word), got \(vocabulary)") }
        guard length >= 1, embedding >= 1, hidden >= 1 else {
            throw ValidationError("--length, --embedding and --hidden must be at least 1, got \(length), \(embedding), \(hidden)")
        }
        if let dropoutSetting, !(0..<1).contains(dropoutSetting) { throw ValidationError("--dropout must be in [0, 1), got \(dropoutSetting)") }
        guard (0..<1).contains(stateDropout) else { throw ValidationError("--state-dropout must be in [0, 1), got \(stateDropout)") }
        guard weightDecay >= 0 && weightDecay.isFinite else { throw ValidationError("--weight-decay must be 0 or more, got \(weightDecay)") }
        guard clip > 0 && clip.isFinite else { throw ValidationError("--clip must be a positive number, got \(clip)") }
        if let writeTestSet, writeTestSet.isEmpty { throw ValidationError("--write-test-set takes a folder, got ''") }
    }

    func run() throws {
        let folder = URL(fileURLWithPath: output, isDirectory: true)
        if let predict { return try score(predict, folder: folder) }
        let communicator = cluster.communicator()
        try cluster.run(communicator) { try train(communicator) }
    }

    func train(_ communicator: any Communicator) throws {
        let directory = common.prepare()
        let run = try TrainingRun(output: output, options: common, communicator: communicator)
        var start = Date()
        let imdb = try IMDB.load(from: directory, log: note)
        note("IMDB from \(imdb.source) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s: \(imdb.train.count) training, \(imdb.test.count) test reviews" +
             (imdb.skipped.isEmpty ? "" : ", \(imdb.skipped.count) skipped (first: \(imdb.skipped[0]))"))
        start = Date()
        let trainWords = imdb.train.map { Tokenizer.words($0.text) }
        let testWords = imdb.test.map { Tokenizer.words($0.text) }
        let vocabulary = try Vocabulary(documents: trainWords, size: self.vocabulary)
        let train = try Dataset(inputs: vocabulary.encode(trainWords, length: length),
                                targets: Tensor(shape: [imdb.train.count, 1], values: imdb.train.map { $0.positive ? 1 : 0 }))
        let test = try Dataset(inputs: vocabulary.encode(testWords, length: length),
                               targets: Tensor(shape: [imdb.test.count, 1], values: imdb.test.map { $0.positive ? 1 : 0 }))
        note(String(format: "tokenised and encoded in %.1f s; vocabulary %d words", Date().timeIntervalSince(start), vocabulary.count))

        let random = RandomGenerator(seed: common.seed)
        // Drawn in the order of the layers (embedding, recurrent layer, classifier), as before the
        // cells were an option: the simple cell's default run is the same run.
        let words = try Embedding(vocabulary.count, embedding, paddingIndex: Vocabulary.padding,
                              initializer: .uniform(embeddingScale), random: random, name: "embedding")
        let rnn = try recurrentLayer(random: random)
        var layers: [any Layer] = [words]
        if dropout > 0 { layers.append(try Dropout(rate: dropout, name: "dropout")) }
        layers.append(rnn)
        if let reduction = SequencePooling.Reduction(rawValue: pooling) { layers.append(SequencePooling(reduction, name: "pool")) }
        if stateDropout > 0 { layers.append(try Dropout(rate: stateDropout, name: "state_dropout")) }
        layers.append(try Linear(bidirectional ? 2 * hidden : hidden, 1, random: random, name: "fc"))
        let model = try Sequential(inputShape: [length], layers)
        print(model.summary())
        let optimizer = Adam(learningRate: lr, weightDecay: weightDecay)
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(), optimizer: optimizer, random: random,
                              schedule: ExponentialDecay(initial: lr, decay: decay))
        trainer.clipNorm = clip
        try common.configure(trainer, communicator: communicator)
        trainer.flushDenormals = flushDenormals
        let stopper = EarlyStopping(monitor: "val_loss", patience: 1, restoreBestWeights: true)
        try run.start(trainer, callbacks: [stopper])
        let firstEpoch = trainer.epoch
        start = Date()
        let history = try run.fit(trainer) {
            try trainer.fit(train, epochs: epochs, batchSize: batchSize, validation: .split(0.1, seed: common.seed),
                            callbacks: common.progressCallbacks + [stopper])
        }
        let seconds = Date().timeIntervalSince(start)
        let trained = Double((trainer.epoch - firstEpoch) * (train.count - Int((0.1 * Double(train.count)).rounded())))
        print(String(format: "trained %d epochs in %.1f s (%.0f reviews/s, %.0f tokens/s)", trainer.epoch - firstEpoch, seconds,
                     trained / seconds, trained * Double(length) / seconds))

        try run.save(model, training: optimizer.settings.merging(
            ["loss": .string("binary_cross_entropy"), "epochs": .number(Double(epochs)),
             "batchSize": .number(Double(batchSize)), "seed": .number(Double(common.seed)),
             "length": .number(Double(length)), "truncating": .string("left"), "padding": .string("left")]) { a, _ in a },
                     history: history, curves: "\(rnn.displayTypeName) on IMDB") { staging in
            try vocabulary.save(to: staging.appendingPathComponent("vocabulary.json"))
        }
        print("wrote \(run.weights.path), model.json, vocabulary.json, log.csv and curves.svg in \(run.folder.url.path)")

        let logits = try model.predict(test.inputs, batchSize: 500)
        let predicted = logits.array.map { $0 > 0 ? 1 : 0 }  // > 0 means p > 0.5
        let actual = test.targets.array.map { Int($0) }
        let matrix = try ConfusionMatrix(classes: 2, predicted: predicted, actual: actual)
        if let writeTestSet, communicator.isRoot {
            let correct = zip(predicted, actual).filter { $0 == $1 }.count
            try write(test, logits: logits, correct: correct, to: URL(fileURLWithPath: writeTestSet, isDirectory: true))
        }
        print("classes: 0 = negative, 1 = positive")
        print(matrix)
        print(String(format: "positive class: precision %.2f%%, recall %.2f%%", 100 * matrix.precision(1), 100 * matrix.recall(1)))
        try common.report(testAccuracy: matrix.accuracy)
    }

    /// The recurrent layer `--cell` names, many-to-one over the word vectors, read both ways
    /// with `--bidirectional`.
    func recurrentLayer(random: RandomGenerator) throws -> any Layer {
        let config = try recurrentConfig()
        if bidirectional { return try Bidirectional(config, random: random, name: "rnn") }
        return try config.makeLayer(random: random, name: "rnn")
    }

    func recurrentConfig() throws -> Bidirectional.Wrapped {
        let mode: RecurrentMode = pooling == "last" ? .manyToOne : .manyToMany
        guard let recurrentInit = Initializer(configName: recurrentInit ?? (cell == "simple" ? "identity" : "orthogonal")),
              recurrentInit == .identity || recurrentInit == .orthogonal else {
            throw ValidationError("--recurrent-init must be orthogonal or identity")
        }
        switch cell {
        case "simple":
            guard let nonlinearity = SimpleRNN.Nonlinearity(rawValue: nonlinearity ?? "relu") else {
                throw ValidationError("--nonlinearity must be tanh or relu")
            }
            return .simpleRNN(SimpleRNN.Config(inputFeatures: embedding, hiddenSize: hidden, mode: mode, nonlinearity: nonlinearity,
                                               recurrentInitializer: recurrentInit))
        case "lstm", "gru":
            guard nonlinearity == nil else { throw ValidationError("--nonlinearity applies to --cell simple only") }
            return cell == "lstm"
                ? .lstm(LSTM.Config(inputFeatures: embedding, hiddenSize: hidden, mode: mode, recurrentInitializer: recurrentInit))
                : .gru(GRU.Config(inputFeatures: embedding, hiddenSize: hidden, mode: mode, recurrentInitializer: recurrentInit))
        default:
            throw ValidationError("--cell must be simple, lstm or gru, not '\(cell)'")
        }
    }

    /// `--write-test-set`: the token ids the model read (N, length), its logits (N, 1) and the
    /// labels (N, 1), float32 little-endian row-major, and shapes.json with the shapes and the
    /// number of reviews the model classified correctly.
    func write(_ test: Dataset, logits: Tensor, correct: Int, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func float32(_ tensor: Tensor) -> Data {
            var data = Data(capacity: 4 * tensor.count)
            for value in tensor.array { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            return data
        }
        try AtomicFile.write(float32(test.inputs), to: folder.appendingPathComponent("input.bin"))
        try AtomicFile.write(float32(logits), to: folder.appendingPathComponent("output.bin"))
        try AtomicFile.write(float32(test.targets), to: folder.appendingPathComponent("targets.bin"))
        let shapes: [String: Any] = ["input": test.inputs.shape, "output": logits.shape, "targets": test.targets.shape, "correct": correct]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: shapes, options: [.sortedKeys]),
                             to: folder.appendingPathComponent("shapes.json"))
        note("test set and outputs: \(folder.path)")
    }

    func score(_ text: String, folder: URL) throws {
        // After a crash in the middle of a save, the complete new set may wait beside the folder.
        let weights = ModelFolder.readableWeights(folder.appendingPathComponent("model.safetensors"))
        let model = try Sequential.load(from: weights, registry: .standard)
        let vocabularyURL = weights.deletingLastPathComponent().appendingPathComponent("vocabulary.json")
        let vocabulary = try Vocabulary.load(from: vocabularyURL)
        try vocabulary.check(fits: model, path: vocabularyURL.path)
        guard let length = model.inputShape.first else { throw ValidationError("the saved model takes no sequence") }
        let words = Tokenizer.words(text)
        guard !words.isEmpty else { throw ValidationError("the review has no words to score") }
        let logit = model.forward(vocabulary.encode([words], length: length))[0]
        let known = words.filter { vocabulary.id($0) != Vocabulary.unknown }.count
        print(String(format: "P(positive) = %.4f  (%d words, %d in the vocabulary)", 1 / (1 + exp(-Double(logit))), words.count, known))
    }
}

useOpenBLASVectorKernels()
Sentiment.main()
