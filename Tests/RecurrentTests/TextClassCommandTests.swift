import Dense
import Foundation
import XCTest

/// The `textclass` command end to end on a three-class CSV made here: short sentences whose class
/// is decided by the words they hold. Train, evaluate on a second file, predict.
final class TextClassCommandTests: FolderTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        try SampleCommand("textclass").run(arguments)
    }

    /// On a CPU where OpenBLAS fell back to kernels without AVX2 (`BLAS.suggestedCoreType`), a
    /// sample starts again with OPENBLAS_CORETYPE set, saying so, its arguments intact (the
    /// help it prints); elsewhere, and when the variable is set, it says nothing of the kind.
    func testSampleStartsAgainOnOpenBLASVectorKernelsWhereOpenBLASFellBack() throws {
        let result = try run(["train", "--help"])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertTrue(result.output.contains("USAGE: textclass train"), result.output)
        let restarted = result.errors.contains("starting again with OPENBLAS_CORETYPE=")
        if let core = BLAS.suggestedCoreType {
            XCTAssertTrue(restarted && result.errors.contains("OPENBLAS_CORETYPE=\(core)"), result.errors)
            XCTAssertEqual(result.errors.components(separatedBy: "starting again").count, 2, "started again once: \(result.errors)")
        } else {
            XCTAssertFalse(restarted, result.errors)
        }
    }

    static let topics = [
        "sport": ["goal", "match", "team", "referee", "player", "league"],
        "food": ["bread", "soup", "cheese", "recipe", "oven", "spicy"],
        "weather": ["rain", "storm", "sunny", "wind", "cloud", "forecast"],
    ]
    static let filler = ["the", "a", "was", "today", "very", "and", "we", "saw", "it", "really", "quite", "then", "of", "so"]

    /// `count` rows per class, shuffled: 4-8 filler words with two or three words of the class
    /// among them; every fifth text quoted with a comma in it.
    func makeCSV(_ name: String, count: Int, seed: UInt64, extra: String = "") throws -> URL {
        let random = RandomGenerator(seed: seed)
        var rows: [String] = []
        for (label, words) in Self.topics.sorted(by: { $0.key < $1.key }) {
            for _ in 0..<count {
                var sentence = (0..<(4 + random.below(5))).map { _ in Self.filler[random.below(Self.filler.count)] }
                for _ in 0..<(2 + random.below(2)) {
                    sentence.insert(words[random.below(words.count)], at: random.below(sentence.count + 1))
                }
                let text = sentence.joined(separator: " ")
                rows.append(rows.count % 5 == 0 ? "\"\(text), \"\"indeed\"\"\",\(label)" : "\(text),\(label)")
            }
        }
        var order = Array(rows.indices)
        random.shuffle(&order)
        let url = folder.appendingPathComponent(name)
        try Data(("text,label\n" + order.map { rows[$0] }.joined(separator: "\n") + "\n" + extra).utf8).write(to: url)
        return url
    }

    func testTrainEvaluateAndPredictOnThreeClasses() throws {
        let train = try makeCSV("train.csv", count: 100, seed: 1, extra: "lonely field\n\"   \",food\n")
        let test = try makeCSV("test.csv", count: 40, seed: 2)
        let output = folder.appendingPathComponent("model").path
        let trained = try run(["train", train.path, "--epochs", "8", "--length", "16", "--embedding", "16", "--hidden", "24",
                               "--lr", "0.01", "--batch-size", "16", "--validation-split", "0.2", "--output", output, "--quiet"])
        XCTAssertEqual(trained.status, 0, trained.errors)
        XCTAssertTrue(trained.errors.contains("row 301 (line 302): 1 field(s), the header has 2"), trained.errors)
        XCTAssertTrue(trained.errors.contains("row 302 (line 303): empty text"), trained.errors)
        XCTAssertTrue(trained.errors.contains("2 row(s) skipped"), trained.errors)
        XCTAssertTrue(trained.errors.contains("240 training, 60 validation rows; 3 classes"), trained.errors)
        for file in ["model.safetensors", "model.json", "vocabulary.json", "classes.json", "log.csv", "curves.svg", "checkpoint.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: output + "/" + file), file)
        }
        XCTAssertEqual(try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: output + "/classes.json"))),
                       ["food", "sport", "weather"])
        XCTAssertGreaterThanOrEqual(try accuracy(trained.output), 80, trained.output)

        let evaluated = try run(["evaluate", output, test.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.errors)
        XCTAssertGreaterThanOrEqual(try accuracy(evaluated.output), 80, "chance is 33 %: \(evaluated.output)")
        XCTAssertTrue(evaluated.output.contains("(120 rows)"), evaluated.output)
        for name in ["food", "sport", "weather"] { XCTAssertTrue(evaluated.output.contains(name), "class \(name) named in the table") }

        let texts = ["we saw the referee and the team score a goal", "", "a spicy soup with bread from the oven",
                     "storm and rain today then wind"]
        let predicted = try run(["predict", output + "/model.safetensors"] + texts)
        XCTAssertEqual(predicted.status, 1, "the empty text failed, so the exit status says so")
        XCTAssertTrue(predicted.errors.contains("no words to classify"), predicted.errors)
        let lines = predicted.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.map { $0.first }, ["sport", "food", "weather"])
        XCTAssertEqual(lines.map { $0.last }, [texts[0], texts[2], texts[3]])
        for line in lines { XCTAssertGreaterThan(Double(line[1]) ?? 0, 0.5, "\(line)") }
    }

    /// `--cell gru` and `--cell lstm` train, save a model that evaluate and predict load, and
    /// learn the three classes; an unknown cell is a usage error.
    func testGatedCells() throws {
        let train = try makeCSV("train.csv", count: 100, seed: 1)
        let test = try makeCSV("test.csv", count: 40, seed: 2)
        for cell in ["gru", "lstm"] {
            let output = folder.appendingPathComponent("model-\(cell)").path
            let trained = try run(["train", train.path, "--cell", cell, "--epochs", "8", "--length", "16", "--embedding", "16",
                                   "--hidden", "24", "--lr", "0.01", "--batch-size", "16", "--validation-split", "0.2",
                                   "--output", output, "--quiet"])
            XCTAssertEqual(trained.status, 0, trained.errors)
            let json = try String(contentsOfFile: output + "/model.json", encoding: .utf8)
            XCTAssertTrue(json.contains(cell == "gru" ? "\"GRU\"" : "\"LSTM\""), json)
            let evaluated = try run(["evaluate", output, test.path])
            XCTAssertEqual(evaluated.status, 0, evaluated.errors)
            XCTAssertGreaterThanOrEqual(try accuracy(evaluated.output), 80, "\(cell): chance is 33 %: \(evaluated.output)")
            let predicted = try run(["predict", output + "/model.safetensors", "a spicy soup with bread from the oven"])
            XCTAssertEqual(predicted.status, 0, predicted.errors)
            XCTAssertEqual(predicted.output.split(separator: "\t").first, "food", predicted.output)
        }
        let wrong = try run(["train", train.path, "--cell", "rnn", "--output", folder.appendingPathComponent("x").path])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.errors.contains("--cell must be simple, lstm or gru"), wrong.errors)
    }

    func testValidationFileAndResume() throws {
        let train = try makeCSV("train.tsv", count: 30, seed: 3).path
        let validation = try makeCSV("validation.csv", count: 10, seed: 4, extra: "\"rain, snow and sleet\",hail\n").path
        let tsv = try String(contentsOf: URL(fileURLWithPath: train), encoding: .utf8).replacingOccurrences(of: ",", with: "\t")
        try Data(tsv.utf8).write(to: URL(fileURLWithPath: train))
        let output = folder.appendingPathComponent("model").path
        let options = ["--length", "16", "--embedding", "8", "--hidden", "8", "--batch-size", "16", "--output", output, "--quiet"]
        let first = try run(["train", train, "--validation", validation, "--epochs", "1"] + options)
        XCTAssertEqual(first.status, 0, first.errors)
        XCTAssertTrue(first.errors.contains("90 training, 30 validation rows; 3 classes"), first.errors)
        XCTAssertTrue(first.errors.contains("1 row(s) with labels the training rows do not have, left out (first: row 31, 'hail')"), first.errors)
        let resumed = try run(["train", train, "--validation", validation, "--epochs", "2", "--resume"] + options)
        XCTAssertEqual(resumed.status, 0, resumed.errors)
        XCTAssertTrue(resumed.errors.contains("resuming from \(output)/checkpoint.safetensors: after epoch 1"), resumed.errors)
        let log = try String(contentsOf: URL(fileURLWithPath: output + "/log.csv"), encoding: .utf8)
        XCTAssertEqual(log.split(separator: "\n").count, 3, "a header and two epochs: \(log)")
    }

    func testMissingColumnAndOneClassAreErrors() throws {
        let file = folder.appendingPathComponent("reviews.csv")
        try Data("review,sentiment\nfine film,positive\nbad film,negative\n".utf8).write(to: file)
        let missing = try run(["train", file.path, "--output", folder.appendingPathComponent("m").path, "--quiet"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.errors.contains("no column 'text'") && missing.errors.contains("'review', 'sentiment'"), missing.errors)
        let single = folder.appendingPathComponent("single.tsv")
        try Data("text\tlabel\nsome words\tonly\nmore words\tonly\n".utf8).write(to: single)
        let one = try run(["train", single.path, "--output", folder.appendingPathComponent("o").path, "--quiet"])
        XCTAssertNotEqual(one.status, 0)
        XCTAssertTrue(one.errors.contains("1 label(s) (only)"), one.errors)
    }

    /// The percentage on the `test accuracy: NN.NN%` line.
    func accuracy(_ output: String) throws -> Double {
        let line = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix("test accuracy: ") }, output)
        return try XCTUnwrap(Double(line.dropFirst("test accuracy: ".count).prefix { $0 != "%" }), String(line))
    }
}
