import Dense
import Foundation
import Recurrent
import XCTest

final class TokenizerTests: XCTestCase {
    func testTokenizerLowersStripsTagsAndKeepsApostrophes() {
        XCTAssertEqual(Tokenizer.words("It's <br /><br />GREAT, isn't it?"), ["it's", "great", "isn't", "it"])
        XCTAssertEqual(Tokenizer.words("'quoted' words -- and 10/10 stars!"), ["quoted", "words", "and", "stars"])
        XCTAssertEqual(Tokenizer.words("Café CRÈME<i>x</i>y"), ["café", "crème", "x", "y"])
        XCTAssertEqual(Tokenizer.words(""), [])
        XCTAssertEqual(Tokenizer.words("<unterminated tag"), [])
    }
}

final class VocabularyTests: FolderTestCase {
    func testVocabularyKeepsTheMostFrequentWordsAfterTheReservedIds() throws {
        let documents = [["b", "a", "c", "a"], ["a", "b", "d"], ["c"]]
        let vocabulary = try Vocabulary(documents: documents, size: 4)
        // a: 3; b, c: 2 (alphabetical tie-break); d: 1.
        XCTAssertEqual(vocabulary.words, ["<pad>", "<unk>", "a", "b"])
        XCTAssertEqual(vocabulary.id("a"), 2)
        XCTAssertEqual(vocabulary.id("c"), Vocabulary.unknown)
    }

    func testEncodeTruncatesAndPadsOnEitherSide() throws {
        let vocabulary = try Vocabulary(words: ["<pad>", "<unk>", "x", "y", "z"])
        let words = ["x", "y", "z", "q"]
        XCTAssertEqual(vocabulary.encode(words, length: 2), [4, 1])
        XCTAssertEqual(vocabulary.encode(words, length: 2, truncating: .right), [2, 3])
        XCTAssertEqual(vocabulary.encode(["x"], length: 3), [0, 0, 2])
        XCTAssertEqual(vocabulary.encode(["x"], length: 3, padding: .right), [2, 0, 0])
        XCTAssertEqual(vocabulary.encode([["x", "z"], []], length: 2).array, [2, 4, 0, 0])
    }

    func testVocabularySavesAndRejectsBadFiles() throws {
        let vocabulary = try Vocabulary(documents: [["one", "two", "two"]], size: 10)
        let url = folder.appendingPathComponent("vocabulary.json")
        try vocabulary.save(to: url)
        XCTAssertEqual(try Vocabulary.load(from: url), vocabulary)
        for (name, contents) in [("bad.json", "{\"words\": [\"a\", \"b\"]}"), ("twice.json", "{\"words\": [\"<pad>\", \"<unk>\", \"a\", \"a\"]}"),
                                 ("junk.json", "not json")] {
            let bad = folder.appendingPathComponent(name)
            try Data(contents.utf8).write(to: bad)
            XCTAssertThrowsError(try Vocabulary.load(from: bad)) { XCTAssertTrue("\($0)".contains(name), "\($0)") }
        }
        XCTAssertThrowsError(try Vocabulary.load(from: folder.appendingPathComponent("missing.json")))
    }
}

extension VocabularyTests {
    /// A vocabulary with more words than the model's embedding has rows used to stop the process
    /// in `Embedding.forward` (`sentiment --predict`); now the check names the vocabulary file.
    func testVocabularyLargerThanTheEmbeddingIsAnErrorNamingTheFile() throws {
        let random = RandomGenerator(seed: 1)
        let model = try Sequential(inputShape: [5], [Embedding(4, 2, paddingIndex: 0, random: random, name: "embedding")])
        let small = try Vocabulary(words: ["<pad>", "<unk>", "a", "b"])
        XCTAssertNoThrow(try small.check(fits: model, path: "vocabulary.json"))
        let large = try Vocabulary(words: ["<pad>", "<unk>", "a", "b", "c", "d"])
        XCTAssertThrowsError(try large.check(fits: model, path: "runs/s/vocabulary.json")) { error in
            XCTAssertTrue("\(error)".contains("runs/s/vocabulary.json") && "\(error)".contains("6 words")
                          && "\(error)".contains("'embedding' only 4"), "\(error)")
        }
        let notText = try Sequential(inputShape: [5], [Linear(5, 1, random: random)])
        XCTAssertThrowsError(try small.check(fits: notText, path: "v.json")) { error in
            XCTAssertTrue("\(error)".contains("v.json") && "\(error)".contains("does not take token ids"), "\(error)")
        }
    }
}

final class IMDBTests: FolderTestCase {
    func write(_ text: String, _ name: String = "reviews.csv") throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testCSVWithQuotesCommasAndNewlines() throws {
        let url = try write("""
            review,sentiment
            "Great, really great.<br />Go see it",positive
            "He said ""no"" twice
            and left",negative
            Plain review,positive
            "Last, one",negative

            """)
        let splits = try IMDB.readCSV(url, trainingRows: 2)
        XCTAssertEqual(splits.train, [IMDB.Review(text: "Great, really great.<br />Go see it", positive: true),
                                      IMDB.Review(text: "He said \"no\" twice\nand left", positive: false)])
        XCTAssertEqual(splits.test, [IMDB.Review(text: "Plain review", positive: true),
                                     IMDB.Review(text: "Last, one", positive: false)])
        XCTAssertEqual(splits.skipped, [])
    }

    func testBadRowsAreSkippedCountedAndNamed() throws {
        let url = try write("""
            review,sentiment
            fine,positive
            ,negative
            "   ",positive
            odd label,maybe
            too,many,fields
            one field
            also fine,negative

            """)
        let splits = try IMDB.readCSV(url, trainingRows: 3)
        XCTAssertEqual(splits.train.map(\.text), ["fine"])
        XCTAssertEqual(splits.test.map(\.text), ["also fine"])  // row 7: the boundary does not shift
        XCTAssertEqual(splits.skipped.map(\.location), [2, 3, 4, 5, 6].map { "\(url.path) row \($0)" })
        XCTAssertEqual(splits.skipped.map(\.reason), [
            "empty text", "empty text", "unknown label 'maybe' (positive or negative)",
            "3 field(s), the header has 2", "1 field(s), the header has 2"])
    }

    func testFilesThatAreNotTheCSVAreErrorsNamingThem() throws {
        let header = try write("text,label\nx,positive\n", "header.csv")
        XCTAssertThrowsError(try IMDB.readCSV(header)) { XCTAssertTrue("\($0)".contains("header.csv") && "\($0)".contains("review,sentiment"), "\($0)") }
        let damaged = try write("review,sentiment\nx,positive\n", "damaged.csv")
        XCTAssertThrowsError(try IMDB.readCSV(damaged, expectedMD5: "0123")) { XCTAssertTrue("\($0)".contains("damaged.csv"), "\($0)") }
        let gzip = try write("\u{1f}\u{8b}garbage", "broken.csv.gz")
        XCTAssertThrowsError(try IMDB.readCSV(gzip)) { XCTAssertTrue("\($0)".contains("broken.csv.gz"), "\($0)") }
        XCTAssertThrowsError(try IMDB.readCSV(folder.appendingPathComponent("missing.csv")))
    }

    func testArchiveAndTreeGiveTheSameReviews() throws {
        let archive = Bundle.module.url(forResource: "tiny_aclImdb", withExtension: "tar.gz", subdirectory: "Fixtures")!
        let fromArchive = try IMDB.readArchive(archive)
        XCTAssertEqual(fromArchive.train, [IMDB.Review(text: "A <br />wonderful film, \"truly\" great.", positive: true),
                                           IMDB.Review(text: "Dull, and far too long.", positive: false)])
        XCTAssertEqual(fromArchive.test, [IMDB.Review(text: "Loved it.", positive: true),
                                          IMDB.Review(text: "Hated it, sorry.", positive: false)])
        XCTAssertEqual(fromArchive.skipped.map(\.reason), ["empty review"])

        let root = folder.appendingPathComponent("aclImdb")
        for review in [("train/pos/0_9.txt", fromArchive.train[0].text), ("train/neg/1_2.txt", fromArchive.train[1].text),
                       ("test/pos/2_8.txt", fromArchive.test[0].text), ("test/neg/3_1.txt", fromArchive.test[1].text)] {
            let url = root.appendingPathComponent(review.0)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(review.1.utf8).write(to: url)
        }
        let fromTree = try IMDB.readTree(root)
        XCTAssertEqual(fromTree.train, fromArchive.train)
        XCTAssertEqual(fromTree.test, fromArchive.test)

        // The loader looks in <data>/imdb/ for the tree first, then the archive.
        let data = DataDirectory(root: folder.appendingPathComponent("data"))
        let imdb = data.folder("imdb")
        try FileManager.default.createDirectory(at: imdb, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: archive, to: imdb.appendingPathComponent("aclImdb_v1.tar.gz"))
        XCTAssertTrue(try IMDB.load(from: data).source.hasSuffix("aclImdb_v1.tar.gz"))
        try FileManager.default.moveItem(at: root, to: imdb.appendingPathComponent("aclImdb"))
        let loaded = try IMDB.load(from: data)
        XCTAssertTrue(loaded.source.hasSuffix("aclImdb"))
        XCTAssertEqual(loaded.train, fromArchive.train)
    }

    /// A gzip'd tar archive of (name, size field, contents) entries; the size field is written
    /// as given, so it can be damaged.
    func archive(_ entries: [(name: String, size: String, data: Data)], _ fileName: String) throws -> URL {
        var tar = Data()
        for entry in entries {
            var header = [UInt8](repeating: 0, count: 512)
            for (i, byte) in entry.name.utf8.enumerated() { header[i] = byte }
            for (i, byte) in entry.size.utf8.prefix(12).enumerated() { header[124 + i] = byte }
            header[156] = UInt8(ascii: "0")
            tar.append(contentsOf: header)
            tar.append(entry.data)
            tar.append(Data(count: (512 - entry.data.count % 512) % 512))
        }
        tar.append(Data(count: 1024))
        let url = folder.appendingPathComponent(fileName)
        try tar.write(to: url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-n", "-f", url.path]
        try process.run()
        process.waitUntilExit()
        return URL(fileURLWithPath: url.path + ".gz")
    }

    /// Damaged tar sizes: negative on a review (used to trap), negative on another entry (used to
    /// hang: the read position never moved), not octal, or beyond the archive's end.
    func testDamagedTarSizesAreErrorsNamingTheArchive() throws {
        let review = Data("Loved it.".utf8)
        let good = (name: "aclImdb/train/pos/0_9.txt", size: "00000000011 ", data: review)
        XCTAssertEqual(try IMDB.readArchive(try archive([good], "good.tar")).train.count, 1)
        let cases: [(String, [(name: String, size: String, data: Data)])] = [
            ("negative-review", [(name: "aclImdb/train/pos/1_9.txt", size: "-0000000010", data: review)]),
            ("negative-other", [(name: "aclImdb/README", size: "-0000002000", data: review), good]),
            ("not-octal", [(name: "aclImdb/README", size: "00000000019", data: review), good]),
            ("letters", [(name: "aclImdb/README", size: "0x00000000a", data: review), good]),
            ("beyond-the-end", [good, (name: "aclImdb/train/neg/2_1.txt", size: "77777777777", data: review)]),
            ("empty-size", [(name: "aclImdb/README", size: "", data: review), good]),
        ]
        for (name, entries) in cases {
            let url = try archive(entries, "\(name).tar")
            XCTAssertThrowsError(try IMDB.readArchive(url), name) { error in
                XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("broken tar header"), "\(name): \(error)")
            }
        }
    }

    func testOverlongCSVFieldIsAnErrorNamingTheFile() throws {
        let long = String(repeating: "word ", count: 40)  // 200 bytes
        let url = try write("review,sentiment\nshort,positive\n\"\(long)\",negative\n", "long.csv")
        XCTAssertEqual(try IMDB.readCSV(url, maxFieldBytes: 200).train.count, 2)
        XCTAssertThrowsError(try IMDB.readCSV(url, maxFieldBytes: 199)) { error in
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("line 3 has a field longer than the limit of 199 bytes"), "\(error)")
        }
    }

    func testTruncatedArchiveIsAnError() throws {
        let url = try write("\u{1f}\u{8b}\u{8}\u{0}", "aclImdb_v1.tar.gz")
        XCTAssertThrowsError(try IMDB.readArchive(url)) { XCTAssertTrue("\($0)".contains("aclImdb_v1.tar.gz"), "\($0)") }
    }

    /// The shared copy of the 50k-review CSV: 25,000 / 25,000, nothing skipped, both labels.
    func testRealIMDBCSV() throws {
        let splits = try realIMDB()
        XCTAssertEqual(splits.train.count, 25_000)
        XCTAssertEqual(splits.test.count, 25_000)
        XCTAssertEqual(splits.skipped, [])
        let positive = splits.train.filter(\.positive).count + splits.test.filter(\.positive).count
        XCTAssertEqual(positive, 25_000)
        XCTAssertTrue(splits.train[0].text.count > 50)
    }
}
