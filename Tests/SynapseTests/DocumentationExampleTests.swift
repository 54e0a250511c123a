import Foundation
import XCTest

/// The DocC articles' Swift code cannot rot: every line of every ```swift block in
/// Sources/Synapse/Documentation.docc appears, in order and without a gap, in one of the
/// compiled and run files below (blank lines and indentation aside). Changing an example in a
/// test or in Examples/Consumer without its article, or the other way round, fails here.
final class DocumentationExampleTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The files the articles quote: each is compiled, and run by a test or by CI.
    static let sources = [
        "Tests/SynapseTests/TourTests.swift",
        "Tests/RecurrentTests/ReadmeTests.swift",
        "Tests/SynapseTests/CustomLayerTests.swift",
        "Tests/DistributedCheck/main.swift",
        "Examples/Consumer/Sources/Consumer/main.swift",
    ]

    /// Non-blank lines with their indentation removed.
    static func lines(_ text: Substring) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// The ```swift blocks of a Markdown text.
    static func swiftBlocks(_ text: String) -> [[String]] {
        var blocks: [[String]] = [], current: [Substring]? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil, trimmed == "```swift" {
                current = []
            } else if current != nil, trimmed == "```" {
                blocks.append(lines(current!.joined(separator: "\n")[...]))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    static func contains(_ haystack: [String], _ needle: [String]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    func testEveryArticleExampleIsCompiledCode() throws {
        let catalogue = Self.root.appendingPathComponent("Sources/Synapse/Documentation.docc")
        let sources = try Self.sources.map { path -> [String] in
            Self.lines(try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)[...])
        }
        let articles = try FileManager.default.contentsOfDirectory(atPath: catalogue.path).filter { $0.hasSuffix(".md") }.sorted()
        XCTAssertGreaterThanOrEqual(articles.count, 7, "the landing page and six articles")
        var blocks = 0
        for article in articles {
            let text = try String(contentsOf: catalogue.appendingPathComponent(article), encoding: .utf8)
            for block in Self.swiftBlocks(text) {
                blocks += 1
                XCTAssertTrue(sources.contains { Self.contains($0, block) },
                              "\(article): the block starting '\(block.first ?? "")' is in none of \(Self.sources)")
            }
        }
        XCTAssertGreaterThanOrEqual(blocks, 12, "the articles' Swift examples were found")
    }

    func testTheCheckRejectsCodeThatIsNotThere() {
        let source = ["let a = 1", "let b = a + 1", "print(b)"]
        XCTAssertTrue(Self.contains(source, ["let b = a + 1", "print(b)"]))
        XCTAssertFalse(Self.contains(source, ["let a = 1", "print(b)"]), "a gap is not a match")
        XCTAssertFalse(Self.contains(source, ["let b = a + 2"]))
        XCTAssertEqual(Self.swiftBlocks("text\n```swift\n  let x = 1\n\n```\n```\nnot swift\n```"), [["let x = 1"]])
    }
}
