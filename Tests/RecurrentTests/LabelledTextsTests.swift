import Dense
import Foundation
import Recurrent
import XCTest

/// The CSV/TSV reader of labelled texts: quoting, embedded newlines, bad rows by number, missing
/// columns, TSV, gzip and the limits.
final class LabelledTextsTests: FolderTestCase {
    func write(_ text: String, _ name: String = "texts.csv") throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testQuotedFieldsHoldDelimitersQuotesAndNewlines() throws {
        let url = try write("id,text,label\r\n"
            + "1,\"Great, really great\",good\r\n"
            + "2,\"He said \"\"no\"\" twice\nand left\",bad\r\n"
            + "3,plain words,good\r\n"
            + "4,\"\",bad\n"
            + "5,\"last, no newline\",\"ok\"")
        let file = try LabelledTexts.read(url)
        XCTAssertEqual(file.columns, ["id", "text", "label"])
        XCTAssertEqual(file.rows, [
            .init(text: "Great, really great", label: "good", row: 1),
            .init(text: "He said \"no\" twice\nand left", label: "bad", row: 2),
            .init(text: "plain words", label: "good", row: 3),
            .init(text: "last, no newline", label: "ok", row: 5),
        ])
        XCTAssertEqual(file.skipped, [.init(row: 4, line: 6, reason: "empty text")], "row 2 spans lines 3 and 4")
        XCTAssertEqual(file.labels, ["bad", "good", "ok"])
    }

    func testBadRowsAreSkippedWithTheirRowAndLineNumbers() throws {
        let url = try write("""
            text,label
            fine,a
            too,many,fields
            one field
            "closed"then more,b

            "   ",b
            spaces in the label,\u{20}\u{20}
            say "hi" inside,b
            also fine,b
            "never closed,a
            x,a

            """)
        let file = try LabelledTexts.read(url)
        XCTAssertEqual(file.rows.map(\.text), ["fine", "say \"hi\" inside", "also fine"])
        XCTAssertEqual(file.rows.map(\.row), [1, 7, 8])
        XCTAssertEqual(file.skipped.map(\.row), [2, 3, 4, 5, 6, 9])
        XCTAssertEqual(file.skipped.map(\.line), [3, 4, 5, 7, 8, 11], "the blank line 6 is no row but counts as a line")
        XCTAssertEqual(file.skipped.map(\.reason), [
            "3 field(s), the header has 2", "1 field(s), the header has 2", "characters after the closing quote of field 1",
            "empty text", "empty label",
            "a quoted field opened on line 11 is never closed (the rest of the file is inside it)",
        ])
        XCTAssertEqual("\(file.skipped[0])", "row 2 (line 3): 3 field(s), the header has 2")
    }

    func testColumnsByNameAndMissingColumnsNameWhatWasFound() throws {
        let url = try write("Sentiment, Review \npositive,A fine film\nnegative,\"Dull, dull\"\n", "imdb.csv")
        let file = try LabelledTexts.read(url, textColumn: "review", labelColumn: "sentiment")
        XCTAssertEqual(file.rows.map(\.text), ["A fine film", "Dull, dull"])
        XCTAssertEqual(file.rows.map(\.label), ["positive", "negative"])
        XCTAssertThrowsError(try LabelledTexts.read(url)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("imdb.csv") && message.contains("no column 'text'")
                          && message.contains("'Sentiment', ' Review '"), message)
        }
        XCTAssertThrowsError(try LabelledTexts.read(url, textColumn: "review", labelColumn: "stars")) { error in
            XCTAssertTrue("\(error)".contains("no column 'stars' (the label column)"), "\(error)")
        }
        let twice = try write("text,label,text\na,b,c\n", "twice.csv")
        XCTAssertThrowsError(try LabelledTexts.read(twice)) { error in
            XCTAssertTrue("\(error)".contains("names 'text' 2 times (columns 1, 3)"), "\(error)")
        }
    }

    func testTSVByExtensionOrDelimiter() throws {
        let text = "label\ttext\tsource\nspam\tWin money, now!\tmail\nham\t\"quoted\ttab\"\tsms\n"
        let tsv = try LabelledTexts.read(try write(text, "messages.tsv"))
        XCTAssertEqual(tsv.rows.map(\.text), ["Win money, now!", "quoted\ttab"])
        XCTAssertEqual(tsv.rows.map(\.label), ["spam", "ham"])
        let asText = try LabelledTexts.read(try write(text, "messages.txt"), delimiter: UInt8(ascii: "\t"))
        XCTAssertEqual(asText.rows, tsv.rows)
        // Read with commas, the same file has one column and no 'text'.
        XCTAssertThrowsError(try LabelledTexts.read(try write(text, "messages.csv"))) { error in
            XCTAssertTrue("\(error)".contains("1 column(s)"), "\(error)")
        }
        XCTAssertEqual(LabelledTexts.delimiter(forPath: "a/B.TSV.gz"), UInt8(ascii: "\t"))
        XCTAssertEqual(LabelledTexts.delimiter(forPath: "a/b.csv.gz"), UInt8(ascii: ","))
    }

    func testGzipAndByteOrderMark() throws {
        let plain = try write("\u{FEFF}text,label\nhello there,greeting\n", "bom.csv")
        XCTAssertEqual(try LabelledTexts.read(plain).rows, [.init(text: "hello there", label: "greeting", row: 1)])
        let gzipped = folder.appendingPathComponent("bom.csv.gz")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", plain.path]
        try gzip.run()
        gzip.waitUntilExit()
        XCTAssertEqual(gzip.terminationStatus, 0)
        XCTAssertEqual(try LabelledTexts.read(gzipped).rows, [.init(text: "hello there", label: "greeting", row: 1)])
    }

    func testLimitsAndEmptyFilesAreErrorsNamingTheFile() throws {
        let long = try write("text,label\n\"" + String(repeating: "x", count: 100) + "\",a\n", "long.csv")
        XCTAssertThrowsError(try LabelledTexts.read(long, limits: .init(fieldBytes: 50))) { error in
            XCTAssertTrue("\(error)".contains("long.csv") && "\(error)".contains("line 2")
                          && "\(error)".contains("longer than the limit of 50 bytes"), "\(error)")
        }
        XCTAssertThrowsError(try LabelledTexts.read(long, limits: .init(fileBytes: 64))) { error in
            XCTAssertTrue("\(error)".contains("long.csv") && "\(error)".contains("more than the limit of 64"), "\(error)")
        }
        let wide = try write(String(repeating: "c,", count: 20) + "text,label\n", "wide.csv")
        XCTAssertThrowsError(try LabelledTexts.read(wide, limits: .init(columns: 8))) { error in
            XCTAssertTrue("\(error)".contains("22 columns, more than the limit of 8"), "\(error)")
        }
        // A data row of many fields is counted, not kept.
        let commas = try write("text,label\n" + String(repeating: ",", count: 100_000) + "\nok,a\n", "commas.csv")
        let file = try LabelledTexts.read(commas)
        XCTAssertEqual(file.skipped.map(\.reason), ["100001 field(s), the header has 2"])
        XCTAssertEqual(file.rows.map(\.text), ["ok"])
        assertRefuses(try write("", "empty.csv")) { _ = try LabelledTexts.read(folder.appendingPathComponent("empty.csv")) }
        assertRefuses(try write("\"text,label\n", "header.csv")) { _ = try LabelledTexts.read(folder.appendingPathComponent("header.csv")) }
        assertRefuses(folder.appendingPathComponent("missing.csv")) { _ = try LabelledTexts.read(folder.appendingPathComponent("missing.csv")) }
        let broken = try write("\u{1f}\u{8b}garbage", "broken.csv.gz")
        assertRefuses(broken) { _ = try LabelledTexts.read(broken) }
    }

    /// Random bytes from the CSV alphabet: every input gives rows or an error, and every row kept
    /// has a text and a label.
    func testRandomInputsNeverTrap() throws {
        let random = RandomGenerator(seed: 23)
        let alphabet = Array("ab,\t\"\n\r x".utf8)
        for _ in 0..<2_000 {
            let bytes = (0..<random.below(60)).map { _ in alphabet[random.below(alphabet.count)] }
            let data = Data("text,label\n".utf8) + Data(bytes)
            guard let file = try? LabelledTexts.parse(data, path: "random.csv") else { continue }
            for row in file.rows {
                XCTAssertTrue(row.text.contains { !$0.isWhitespace } && !row.label.isEmpty)
            }
            XCTAssertEqual(Set(file.rows.map(\.row)).intersection(file.skipped.map(\.row)), [])
        }
    }
}
