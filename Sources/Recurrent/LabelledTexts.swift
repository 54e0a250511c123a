import Foundation

/// A user's labelled texts from a CSV or TSV file (plain or gzip): one text and one label per
/// row, the two columns chosen by their header names.
///
/// The file is read as RFC 4180 describes it: the first record is the header; fields are separated
/// by the delimiter (`,` or tab); records end with LF or CRLF; a field that starts with `"` is
/// quoted and may hold delimiters, newlines and quotes written twice (`""`). One leniency: a quote
/// inside a field that does not start with one is an ordinary character (`say "hi"` in a TSV).
/// A UTF-8 byte order mark is dropped, blank lines are passed over and bytes that are not UTF-8
/// become U+FFFD.
///
/// A row that cannot be used is reported in `skipped` with its row number (1 = the first record
/// after the header) and its line in the file, and left out: a field count other than the
/// header's, an empty text or label, characters after a closing quote, a quote never closed (which
/// takes the rest of the file with it). The whole file is an error, naming it, when it is larger
/// than `Limits.fileBytes` (before anything is read), inflates to more (gzip), has a field longer
/// than `Limits.fieldBytes` (checked as the field grows: usually a quote never closed), has no
/// header, or lacks a chosen column (the error lists the columns found).
///
///     let file = try LabelledTexts.read(URL(fileURLWithPath: "reviews.csv"), textColumn: "review", labelColumn: "sentiment")
///     file.rows[0].text, file.rows[0].label   // "A fine film", "positive"
///     file.labels                              // ["negative", "positive"]
public struct LabelledTexts: Sendable {
    /// One usable row.
    public struct Row: Equatable, Sendable {
        /// The text column's field, as written (quotes undone).
        public var text: String
        /// The label column's field, without surrounding spaces.
        public var label: String
        /// The record's number: 1 is the first record after the header.
        public var row: Int
        /// A row of `text` labelled `label`, record number `row`.
        public init(text: String, label: String, row: Int) { self.text = text; self.label = label; self.row = row }
    }

    /// A row left out, and why.
    public struct Skip: Equatable, Sendable, CustomStringConvertible {
        /// The record's number (1 = the first after the header).
        public var row: Int
        /// The line of the file the record starts on (1 = the header's first line).
        public var line: Int
        /// What is wrong with the row.
        public var reason: String
        /// Record `row`, starting on `line`, left out for `reason`.
        public init(row: Int, line: Int, reason: String) { self.row = row; self.line = line; self.reason = reason }
        /// `row N (line L): reason`.
        public var description: String { "row \(row) (line \(line)): \(reason)" }
    }

    /// The largest file and field the reader accepts; anything larger is an error before it is
    /// allocated.
    public struct Limits: Sendable {
        /// The file's size on disk, and what a gzip file may inflate to (default 1 GiB).
        public var fileBytes: Int
        /// One field (default 1 MiB: a long review has about 14 kB).
        public var fieldBytes: Int
        /// Columns in the header (default 10,000).
        public var columns: Int
        /// The limits; the defaults suit texts such as reviews or messages.
        public init(fileBytes: Int = 1 << 30, fieldBytes: Int = 1 << 20, columns: Int = 10_000) {
            self.fileBytes = fileBytes
            self.fieldBytes = fieldBytes
            self.columns = columns
        }
    }

    /// The rows kept, in file order.
    public var rows: [Row]
    /// The rows left out, in file order.
    public var skipped: [Skip]
    /// The header's column names, as written.
    public var columns: [String]
    /// The file read.
    public var path: String

    /// The distinct labels of `rows`, sorted (the class names, class k being `labels[k]`).
    public var labels: [String] { Array(Set(rows.map(\.label))).sorted() }

    /// The delimiter a file's name implies: tab for `.tsv` and `.tab` (also before `.gz`), else comma.
    public static func delimiter(forPath path: String) -> UInt8 {
        var name = path.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        return name.hasSuffix(".tsv") || name.hasSuffix(".tab") ? UInt8(ascii: "\t") : UInt8(ascii: ",")
    }

    /// Reads `url`: checks its size, inflates it if it is gzip, then parses it (see the type).
    /// - Parameters:
    ///   - url: the CSV or TSV file, plain or gzip.
    ///   - textColumn: the header name of the text column, matched after trimming spaces, ignoring case.
    ///   - labelColumn: the header name of the label column, matched the same way.
    ///   - delimiter: the field separator; nil takes it from the file name (`delimiter(forPath:)`).
    ///   - limits: the file, field and column bounds checked before anything is allocated.
    public static func read(_ url: URL, textColumn: String = "text", labelColumn: String = "label",
                            delimiter: UInt8? = nil, limits: Limits = Limits()) throws -> LabelledTexts {
        let size: Int
        do {
            size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        guard size <= limits.fileBytes else {
            throw SynapseError.file(path: url.path, problem: "\(size) bytes, more than the limit of \(limits.fileBytes)")
        }
        let raw: Data
        do { raw = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        let content = Gzip.isCompressed(raw) ? try Gzip.decompress(raw, path: url.path, limit: limits.fileBytes) : raw
        return try parse(content, path: url.path, textColumn: textColumn, labelColumn: labelColumn,
                         delimiter: delimiter ?? LabelledTexts.delimiter(forPath: url.path), limits: limits)
    }

    /// Parses the bytes of a CSV or TSV file; `path` names it in errors.
    public static func parse(_ data: Data, path: String, textColumn: String = "text", labelColumn: String = "label",
                             delimiter: UInt8 = UInt8(ascii: ","), limits: Limits = Limits()) throws -> LabelledTexts {
        guard delimiter != UInt8(ascii: "\""), delimiter != 0x0A, delimiter != 0x0D, delimiter < 0x80 else {
            throw SynapseError.invalidArgument("the delimiter must be an ASCII character other than a quote or a line break")
        }
        var records = Records(delimiter: delimiter, fieldLimit: limits.fieldBytes)
        return try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var bytes = buffer[...]
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
            records.start(bytes)
            records.keep = limits.columns
            guard let header = try records.next(path: path) else {
                throw SynapseError.file(path: path, problem: "empty: no header row")
            }
            if let problem = header.problem {
                throw SynapseError.file(path: path, problem: "the header (line \(header.line)) is malformed: \(problem)")
            }
            guard header.count <= limits.columns else {
                throw SynapseError.file(path: path, problem: "the header has \(header.count) columns, more than the limit of \(limits.columns)")
            }
            records.keep = header.count
            let columns = header.fields.map { String(decoding: $0, as: UTF8.self) }
            let names = columns.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            func column(_ name: String, _ option: String) throws -> Int {
                let wanted = name.trimmingCharacters(in: .whitespaces).lowercased()
                let found = names.indices.filter { names[$0] == wanted }
                guard let first = found.first else {
                    throw SynapseError.file(path: path, problem:
                        "no column '\(name)' (\(option)); the header has \(columns.count) column(s): \(columns.map { "'\($0)'" }.joined(separator: ", "))")
                }
                guard found.count == 1 else {
                    throw SynapseError.file(path: path, problem: "the header names '\(name)' \(found.count) times (columns \(found.map { String($0 + 1) }.joined(separator: ", ")))")
                }
                return first
            }
            let textIndex = try column(textColumn, "the text column")
            let labelIndex = try column(labelColumn, "the label column")
            guard textIndex != labelIndex else {
                throw SynapseError.invalidArgument("the text and label columns are both '\(columns[textIndex])'")
            }
            var result = LabelledTexts(rows: [], skipped: [], columns: columns, path: path)
            var number = 0
            while let record = try records.next(path: path) {
                number += 1
                func skip(_ reason: String) { result.skipped.append(Skip(row: number, line: record.line, reason: reason)) }
                if let problem = record.problem { skip(problem); continue }
                guard record.count == columns.count else {
                    skip("\(record.count) field(s), the header has \(columns.count)")
                    continue
                }
                let text = String(decoding: record.fields[textIndex], as: UTF8.self)
                guard text.contains(where: { !$0.isWhitespace }) else { skip("empty text"); continue }
                let label = String(decoding: record.fields[labelIndex], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !label.isEmpty else { skip("empty label"); continue }
                result.rows.append(Row(text: text, label: label, row: number))
            }
            return result
        }
    }
}

// Not SwiftCSV (0.10.0, which IMDB.readCSV used until it was replaced by this reader): a quotation error there ends the whole parse
// without saying which row, a quote never closed passes silently, leading spaces of unquoted fields
// are dropped, and every field of a row is kept however many there are.
extension LabelledTexts {
    /// RFC 4180 records over bytes, one at a time. A record with a problem (characters after a
    /// closing quote, a quote never closed) comes back with `problem` set and the reader moves on
    /// to the next line; a field longer than the limit is an error for the whole file.
    struct Records {
        struct Record {
            /// The first `keep` fields.
            var fields: [[UInt8]]
            /// Every field, kept or not.
            var count = 0
            /// The line the record starts on.
            var line: Int
            var problem: String?
        }

        let delimiter: UInt8
        let fieldLimit: Int
        /// Fields kept per record; the rest are counted only, so a line of a million commas
        /// costs no memory.
        var keep = Int.max
        private var bytes: Slice<UnsafeRawBufferPointer> = UnsafeRawBufferPointer(start: nil, count: 0)[...]
        private var position = 0
        private var line = 1

        init(delimiter: UInt8, fieldLimit: Int) {
            self.delimiter = delimiter
            self.fieldLimit = fieldLimit
        }

        mutating func start(_ bytes: Slice<UnsafeRawBufferPointer>) {
            self.bytes = bytes
            position = bytes.startIndex
            line = 1
        }

        /// The next record, or nil at the end of the data. Blank lines are passed over.
        mutating func next(path: String) throws -> Record? {
            let (quote, newline, cr) = (UInt8(ascii: "\""), UInt8(0x0A), UInt8(0x0D))
            // Blank lines (LF or CRLF alone) are no records.
            while position < bytes.endIndex {
                if bytes[position] == newline { position += 1; line += 1 }
                else if bytes[position] == cr, position + 1 < bytes.endIndex, bytes[position + 1] == newline { position += 2; line += 1 }
                else { break }
            }
            guard position < bytes.endIndex else { return nil }
            var record = Record(fields: [], line: line, problem: nil)
            let keep = self.keep
            var field: [UInt8] = []
            func append(_ byte: UInt8) throws {
                guard field.count < fieldLimit else {
                    throw SynapseError.file(path: path, problem:
                        "the record on line \(record.line) has a field longer than the limit of \(fieldLimit) bytes (a quote never closed?)")
                }
                field.append(byte)
            }
            while true {
                // At the start of a field.
                if position < bytes.endIndex, bytes[position] == quote {
                    let opened = line
                    position += 1
                    var closed = false
                    while position < bytes.endIndex {
                        let byte = bytes[position]
                        position += 1
                        if byte == quote {
                            if position < bytes.endIndex, bytes[position] == quote { try append(quote); position += 1; continue }
                            closed = true
                            break
                        }
                        if byte == newline { line += 1 }
                        try append(byte)
                    }
                    guard closed else {
                        record.problem = "a quoted field opened on line \(opened) is never closed (the rest of the file is inside it)"
                        return record
                    }
                    // After the closing quote: a delimiter, the end of the record, or the end of the data.
                    if position < bytes.endIndex, bytes[position] != delimiter, bytes[position] != newline,
                       !(bytes[position] == cr && position + 1 < bytes.endIndex && bytes[position + 1] == newline) {
                        record.problem = "characters after the closing quote of field \(record.count + 1)"
                        skipLine()
                        return record
                    }
                } else {
                    while position < bytes.endIndex {
                        let byte = bytes[position]
                        if byte == delimiter || byte == newline { break }
                        if byte == cr, position + 1 < bytes.endIndex, bytes[position + 1] == newline { break }
                        try append(byte)
                        position += 1
                    }
                }
                record.count += 1
                if record.fields.count < keep { record.fields.append(field) }
                field.removeAll(keepingCapacity: record.fields.count >= keep)
                if position >= bytes.endIndex { return record }
                if bytes[position] == delimiter { position += 1; continue }
                // The end of the record: LF or CRLF.
                position += bytes[position] == cr ? 2 : 1
                line += 1
                return record
            }
        }

        /// Moves past the rest of the current line (after a malformed record).
        private mutating func skipLine() {
            while position < bytes.endIndex {
                let byte = bytes[position]
                position += 1
                if byte == 0x0A { line += 1; return }
            }
        }
    }
}
