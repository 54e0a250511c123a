// Text classification on your own labelled texts: a CSV or TSV file with a text column and a label
// column (chosen by header name). `train` learns the sentiment sample's network (Embedding ->
// SimpleRNN -> Linear, softmax over the labels found in the file); `evaluate` scores a saved model
// on a file; `predict` classifies texts given on the command line.
import ArgumentParser
import Foundation
import SampleOptions
import Synapse

struct TextClass: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "textclass", abstract: "Train and use text classifiers on CSV or TSV files of labelled texts.",
        subcommands: [Train.self, Evaluate.self, Predict.self])
}

/// How a labelled-text file is read: the columns and the delimiter.
struct FileOptions: ParsableArguments {
    @Option(help: "Header name of the text column (default: text; for evaluate, the one the model was trained with).") var textColumn: String?
    @Option(help: "Header name of the label column (default: label; for evaluate, the one the model was trained with).") var labelColumn: String?
    @Option(help: "Field delimiter: comma, tab, or one ASCII character (default: tab for .tsv and .tab files, else comma).") var delimiter: String?

    /// The delimiter byte, or nil to take it from the file name.
    func delimiterByte() throws -> UInt8? {
        guard let delimiter else { return nil }
        switch delimiter.lowercased() {
        case "comma": return UInt8(ascii: ",")
        case "tab", "\\t", "\t": return UInt8(ascii: "\t")
        case "semicolon": return UInt8(ascii: ";")
        default:
            guard delimiter.utf8.count == 1, let byte = delimiter.utf8.first, byte < 0x80,
                  !["\"", "\n", "\r"].contains(delimiter) else {
                throw ValidationError("--delimiter takes comma, tab, semicolon or one ASCII character other than a quote, got '\(delimiter)'")
            }
            return byte
        }
    }

    /// Reads `path` with these options (`text` and `label` when no option names the columns),
    /// noting the skipped rows: the first few by row number, then their count.
    func read(_ path: String, text: String = "text", label: String = "label") throws -> LabelledTexts {
        let file = try LabelledTexts.read(URL(fileURLWithPath: path), textColumn: textColumn ?? text, labelColumn: labelColumn ?? label,
                                          delimiter: delimiterByte())
        reportSkipped(file.skipped, path: path)
        return file
    }
}

/// Notes the first skipped rows of `path` and how many there were in all.
func reportSkipped(_ skipped: [LabelledTexts.Skip], path: String, shown: Int = 10) {
    guard !skipped.isEmpty else { return }
    for skip in skipped.prefix(shown) { note("skipped: \(path) \(skip)") }
    note("\(path): \(skipped.count) row(s) skipped" + (skipped.count > shown ? " (the first \(shown) shown)" : ""))
}

/// A saved text classifier: the model, its vocabulary and classes (`vocabulary.json` and
/// `classes.json` beside it) and the settings `train` recorded in model.json.
struct SavedClassifier {
    let model: Sequential
    let vocabulary: Vocabulary
    let classes: [String]
    let length: Int
    let textColumn: String, labelColumn: String

    /// Loads MODEL: the `.safetensors` file or the folder that holds `model.safetensors`.
    init(_ path: String) throws {
        var url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            url = url.appendingPathComponent("model.safetensors")
        }
        // After a crash in the middle of a save, the complete new set may wait beside the folder.
        url = ModelFolder.readableWeights(url)
        model = try Sequential.load(from: url, registry: .standard)
        let folder = url.deletingLastPathComponent()
        let vocabularyURL = folder.appendingPathComponent("vocabulary.json")
        vocabulary = try Vocabulary.load(from: vocabularyURL)
        try vocabulary.check(fits: model, path: vocabularyURL.path)
        let classesURL = folder.appendingPathComponent("classes.json")
        do {
            classes = try JSONDecoder().decode([String].self, from: Data(contentsOf: classesURL))
        } catch {
            throw SynapseError.file(path: classesURL.path, problem: "cannot read the class names: \(error.localizedDescription)")
        }
        guard let length = model.inputShape.first, model.outputShape == [classes.count] else {
            throw SynapseError.file(path: url.path, problem:
                "the model gives \(model.outputShape) but classes.json names \(classes.count) classes: they were not saved together")
        }
        self.length = length
        let configURL = Sequential.configURL(forWeights: url)
        let training = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: configURL)).training
        func text(_ key: String, _ fallback: String) -> String { if case .string(let s)? = training[key] { return s } else { return fallback } }
        textColumn = text("text_column", "text")
        labelColumn = text("label_column", "label")
    }

    /// Class probabilities (softmax of the logits) for each document, batch by batch.
    func probabilities(_ documents: [[String]], batchSize: Int = 256) throws -> [[Double]] {
        var result: [[Double]] = []
        for start in stride(from: 0, to: documents.count, by: batchSize) {
            let batch = Array(documents[start..<min(start + batchSize, documents.count)])
            let logits = try model.predict(vocabulary.encode(batch, length: length), batchSize: batchSize)
            for row in 0..<batch.count {
                let values = (0..<classes.count).map { Double(logits[row * classes.count + $0]) }
                let largest = values.max() ?? 0
                let weights = values.map { exp($0 - largest) }
                let total = weights.reduce(0, +)
                result.append(weights.map { $0 / total })
            }
        }
        return result
    }
}

extension TextClass {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train on a CSV or TSV file of labelled texts; validate on a second file or a split of the first.")

        @OptionGroup var common: TrainingOptions
        @OptionGroup var file: FileOptions
        @Argument(help: "The training file: CSV or TSV (or either gzip'd) with a header row.") var path: String
        @Option(help: "Validate on this file (its labels must occur in the training file).") var validation: String?
        @Option(help: "Else hold out this fraction of the training rows (default 0.1).") var validationSplit: Double?
        @Option(help: "Epochs at most: training stops when the validation loss stops falling, and keeps the best epoch's weights.") var epochs = 5
        @Option(help: "Mini-batch size.") var batchSize = 64
        @Option(help: "Vocabulary size, including <pad> and <unk>, from the training rows only.") var vocabulary = 20_000
        @Option(help: "Words per text: the last N are kept, shorter texts are padded (and masked).") var length = 200
        @Option(help: "Embedding dimension.") var embedding = 64
        @Option(help: "Hidden state size.") var hidden = 64
        @Option(help: "Recurrent cell: simple (Elman, ReLU with identity recurrent weights), lstm or gru.") var cell = "simple"
        @Option(help: "Adam learning rate.") var lr: Float = 1e-3
        @Option(help: "Clip the global gradient norm to this.") var clip: Float = 1
        @Option(help: "Folder for model.safetensors, model.json, vocabulary.json, classes.json, log.csv, curves.svg and the checkpoint (replaced as a whole).")
        var output = "runs/textclass"

        func validate() throws {
            try checkTraining(epochs: epochs, batchSize: batchSize, lr: lr)
            if validation != nil && validationSplit != nil { throw ValidationError("give --validation or --validation-split, not both") }
            if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
                throw ValidationError("--validation-split must be between 0 and 1, got \(validationSplit)")
            }
            guard ["simple", "lstm", "gru"].contains(cell) else { throw ValidationError("--cell must be simple, lstm or gru, not '\(cell)'") }
            guard (1...100_000).contains(length) else { throw ValidationError("--length must be 1...100000, got \(length)") }
            guard (3...10_000_000).contains(vocabulary) else { throw ValidationError("--vocabulary must be 3...10000000, got \(vocabulary)") }
            guard (1...65_536).contains(embedding), (1...65_536).contains(hidden) else {
                throw ValidationError("--embedding and --hidden must be 1...65536, got \(embedding) and \(hidden)")
            }
            guard clip > 0 && clip.isFinite else { throw ValidationError("--clip must be a positive number, got \(clip)") }
            _ = try file.delimiterByte()
        }

        func run() throws {
            _ = common.prepare()
            let run = try TrainingRun(output: output, options: common)
            let training = try file.read(path)
            var rows = training.rows
            var held: [LabelledTexts.Row]
            if let validation {
                held = try file.read(validation).rows
            } else {
                let fraction = validationSplit ?? 0.1
                // As Dataset.split draws it: the first round(f * N) of a seeded permutation are held out.
                let order = RandomGenerator(seed: common.seed).permutation(rows.count)
                let count = Int((fraction * Double(rows.count)).rounded())
                held = order[..<count].sorted().map { rows[$0] }
                rows = order[count...].sorted().map { rows[$0] }
            }
            let classes = Array(Set(rows.map(\.label))).sorted()
            guard classes.count >= 2 else {
                throw SynapseError.file(path: path, problem:
                    "the training rows have \(classes.count) label(s)\(classes.isEmpty ? "" : " (\(classes[0]))"): a classifier needs two or more")
            }
            guard classes.count <= 10_000 else {
                throw SynapseError.file(path: path, problem: "\(classes.count) distinct labels, more than 10,000: is --label-column the label?")
            }
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
            let unknown = held.filter { index[$0.label] == nil }
            if !unknown.isEmpty {
                note("validation: \(unknown.count) row(s) with labels the training rows do not have, left out (first: row \(unknown[0].row), '\(unknown[0].label)')")
                held.removeAll { index[$0.label] == nil }
            }
            guard !rows.isEmpty, !held.isEmpty else {
                throw SynapseError.file(path: validation ?? path, problem: "\(rows.count) training and \(held.count) validation rows: both need at least one")
            }
            let trainWords = rows.map { Tokenizer.words($0.text) }
            let heldWords = held.map { Tokenizer.words($0.text) }
            let vocabulary = try Vocabulary(documents: trainWords, size: self.vocabulary)
            func dataset(_ words: [[String]], _ rows: [LabelledTexts.Row]) throws -> Dataset {
                try Dataset(inputs: vocabulary.encode(words, length: length),
                            targets: Tensor(shape: [rows.count], values: rows.map { Float(index[$0.label]!) }))
            }
            let train = try dataset(trainWords, rows), test = try dataset(heldWords, held)
            var counts = [Int](repeating: 0, count: classes.count)
            for row in rows { counts[index[row.label]!] += 1 }
            note("\(rows.count) training, \(held.count) validation rows; \(classes.count) classes (" +
                 zip(classes, counts).map { "\($0): \($1)" }.joined(separator: ", ") + "); vocabulary \(vocabulary.count) words")

            let random = RandomGenerator(seed: common.seed)
            // The recurrent layer `--cell` names: SimpleRNN as in `sentiment`, or an LSTM or GRU
            // (orthogonal recurrent weights), many-to-one.
            let recurrent: any Layer
            switch cell {
            case "lstm": recurrent = try LSTM(embedding, hidden, random: random, name: "rnn")
            case "gru": recurrent = try GRU(embedding, hidden, random: random, name: "rnn")
            default: recurrent = try SimpleRNN(embedding, hidden, nonlinearity: .relu, recurrentInitializer: .identity, random: random, name: "rnn")
            }
            let model = try Sequential(inputShape: [length], [
                Embedding(vocabulary.count, embedding, paddingIndex: Vocabulary.padding,   // (N, length) ids -> (N, length, embedding)
                          initializer: .uniform(0.05), random: random, name: "embedding"),
                recurrent,                                                                  // -> (N, hidden), the last real step
                Linear(hidden, classes.count, random: random, name: "fc"),                  // -> (N, classes) logits
            ])
            print(model.summary())
            let optimizer = Adam(learningRate: lr)
            let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: optimizer, random: random)
            trainer.clipNorm = clip
            try common.configure(trainer)
            let stopper = EarlyStopping(monitor: "val_loss", patience: 1, restoreBestWeights: true)
            try run.start(trainer, callbacks: [stopper])
            let (start, firstEpoch) = (Date(), trainer.epoch)
            let history = try run.fit(trainer) {
                try trainer.fit(train, epochs: epochs, batchSize: batchSize, validation: .data(test),
                                callbacks: common.progressCallbacks + [stopper])
            }
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "trained %d epochs in %.1f s (%.0f texts/s, validation included)", trainer.epoch - firstEpoch, seconds,
                         Double((trainer.epoch - firstEpoch) * train.count) / seconds))
            let settings = optimizer.settings.merging(
                ["loss": .string("cross_entropy"), "epochs": .number(Double(epochs)), "batchSize": .number(Double(batchSize)),
                 "seed": .number(Double(common.seed)), "length": .number(Double(length)), "truncating": .string("left"),
                 "padding": .string("left"), "text_column": .string(file.textColumn ?? "text"),
                 "label_column": .string(file.labelColumn ?? "label")]) { a, _ in a }
            try run.save(model, training: settings, history: history, curves: "SimpleRNN on \(path)") { staging in
                try vocabulary.save(to: staging.appendingPathComponent("vocabulary.json"))
                try AtomicFile.write(try JSONEncoder().encode(classes), to: staging.appendingPathComponent("classes.json"))
            }
            print("wrote \(run.weights.path), model.json, vocabulary.json, classes.json, log.csv and curves.svg in \(run.folder.url.path)")
            let predicted = argmaxRows(try model.predict(test.inputs, batchSize: 256))
            let matrix = try ConfusionMatrix(classes: classes.count, predicted: predicted, actual: test.targets.array.map { Int($0) })
            print(try matrix.table(names: classes))
            try common.report(testAccuracy: matrix.accuracy)
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Score a saved model on a CSV or TSV file of labelled texts.")
        @Argument(help: "The model's .safetensors, or its folder (vocabulary.json and classes.json beside it).") var model: String
        @Argument(help: "A CSV or TSV file with the model's text and label columns.") var path: String
        @OptionGroup var file: FileOptions
        @Option(help: "OpenBLAS threads.") var threads = 1
        @Option(help: "Exit with failure when the accuracy (percent) ends below this (for CI).") var requireAccuracy: Double?

        func validate() throws {
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256, got \(threads)") }
            if let requireAccuracy, !(0...100).contains(requireAccuracy) {
                throw ValidationError("--require-accuracy is a percentage, 0...100, got \(requireAccuracy)")
            }
            _ = try file.delimiterByte()
        }

        func run() throws {
            BLAS.threads = threads
            let saved = try SavedClassifier(model)
            let texts = try file.read(path, text: saved.textColumn, label: saved.labelColumn)
            let index = Dictionary(uniqueKeysWithValues: saved.classes.enumerated().map { ($1, $0) })
            let known = texts.rows.filter { index[$0.label] != nil }
            if known.count < texts.rows.count {
                let first = texts.rows.first { index[$0.label] == nil }!
                note("\(texts.rows.count - known.count) row(s) with labels the model does not know, left out (first: row \(first.row), '\(first.label)')")
            }
            guard !known.isEmpty else { throw SynapseError.file(path: path, problem: "no row with one of the model's labels (\(saved.classes.joined(separator: ", ")))") }
            let probabilities = try saved.probabilities(known.map { Tokenizer.words($0.text) })
            let predicted = probabilities.map { p in p.indices.max { p[$0] < p[$1] }! }
            let matrix = try ConfusionMatrix(classes: saved.classes.count, predicted: predicted, actual: known.map { index[$0.label]! })
            print(try matrix.table(names: saved.classes))
            print(String(format: "test accuracy: %.2f%% (%d rows)", 100 * matrix.accuracy, known.count))
            if let requireAccuracy, 100 * matrix.accuracy < requireAccuracy {
                note(String(format: "accuracy %.2f%% is below the required %.2f%%", 100 * matrix.accuracy, requireAccuracy))
                throw ExitCode.failure
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify texts: one line per text, class<TAB>probability (the top k classes), then the text.")
        @Argument(help: "The model's .safetensors, or its folder.") var model: String
        @Argument(help: "Texts to classify.") var texts: [String]
        @Option(help: "Print the k most probable classes per text.") var top = 1

        func validate() throws {
            guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        }

        func run() throws {
            let saved = try SavedClassifier(model)
            var failed = 0
            for text in texts {
                let words = Tokenizer.words(text)
                guard !words.isEmpty else {
                    failed += 1
                    note("'\(text)': no words to classify")
                    continue
                }
                let p = try saved.probabilities([words])[0]
                let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(top)
                let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
                print((ranked.flatMap { [saved.classes[$0], String(format: "%.4f", p[$0])] } + [oneLine]).joined(separator: "\t"))
            }
            if failed > 0 {
                note("\(failed) of \(texts.count) text(s) could not be classified")
                throw ExitCode.failure
            }
        }
    }
}

useOpenBLASVectorKernels()
TextClass.main()
