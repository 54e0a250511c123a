import Foundation

/// Splits review text into words: lower-case, HTML tags (`<br />`) removed, split on anything
/// that is not a letter, keeping apostrophes inside words ("don't" stays one word; the quotes of
/// 'quoted' go). Letters outside ASCII are kept as word characters.
///
///     Tokenizer.words("It's <br /><br />GREAT, isn't it?")  // ["it's", "great", "isn't", "it"]
public enum Tokenizer {
    /// The words of `text`, lower-case, in order.
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var word: [UInt8] = []
        var nonASCII = false
        func finish() {
            while word.last == UInt8(ascii: "'") { word.removeLast() }
            let start = word.firstIndex { $0 != UInt8(ascii: "'") } ?? word.count
            if start < word.count {
                let s = String(decoding: word[start...], as: UTF8.self)
                words.append(nonASCII ? s.lowercased() : s)
            }
            word.removeAll(keepingCapacity: true)
            nonASCII = false
        }
        var inTag = false
        for byte in text.utf8 {
            if inTag {
                if byte == UInt8(ascii: ">") { inTag = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "<"):
                finish()
                inTag = true
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "'"):
                word.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                word.append(byte + 32)
            case 0x80...:
                // A byte of a multi-byte UTF-8 character: letters like é stay in the word.
                word.append(byte)
                nonASCII = true
            default:
                finish()
            }
        }
        finish()
        return words
    }
}

/// Word ids: the most frequent words of a training set, with reserved ids 0 (`<pad>`) and 1
/// (`<unk>`, any word outside the vocabulary).
///
/// Built from the training split only, so nothing about the test set leaks in; saved beside the
/// model (`vocabulary.json`) so a prediction encodes text exactly as training did.
public struct Vocabulary: Codable, Equatable, Sendable {
    /// The id of `<pad>`, the padding token (0).
    public static let padding = 0
    /// The id of `<unk>`, any word outside the vocabulary (1).
    public static let unknown = 1

    /// Words by id; ids 0 and 1 are `<pad>` and `<unk>`.
    public let words: [String]
    private let ids: [String: Int]

    /// A vocabulary of `words`, by id.
    /// - Throws: `SynapseError.invalidArgument` unless `words` starts with `<pad>` and `<unk>` and
    ///   lists no word twice.
    public init(words: [String]) throws {
        guard words.count >= 2, words[0] == "<pad>", words[1] == "<unk>" else {
            throw SynapseError.invalidArgument("a vocabulary starts with <pad> and <unk>")
        }
        var ids: [String: Int] = [:]
        for (id, word) in words.enumerated() where id >= 2 {
            guard ids.updateValue(id, forKey: word) == nil else {
                throw SynapseError.invalidArgument("the vocabulary lists '\(word)' twice")
            }
        }
        self.words = words
        self.ids = ids
    }

    /// The `size - 2` most frequent words of `documents` (ties broken alphabetically), after the
    /// two reserved ids.
    public init(documents: [[String]], size: Int) throws {
        guard size > 2 else { throw SynapseError.invalidArgument("a vocabulary needs room for more than <pad> and <unk>") }
        var counts: [String: Int] = [:]
        for document in documents { for word in document { counts[word, default: 0] += 1 } }
        let ranked = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        try self.init(words: ["<pad>", "<unk>"] + ranked.prefix(size - 2).map(\.key))
    }

    /// The number of ids, the two reserved ones included: an `Embedding`'s `vocabularySize`.
    public var count: Int { words.count }

    /// The id of `word`, or `Vocabulary.unknown` (1) when it is not in the vocabulary.
    public func id(_ word: String) -> Int { ids[word] ?? Vocabulary.unknown }

    /// Which end of a text `encode` truncates or pads.
    public enum Side: String, Codable, Sendable {
        /// The start of the text.
        case left
        /// The end of the text.
        case right
    }

    /// Exactly `length` ids for `words`: a longer text keeps its last `length` words
    /// (`truncating: .left`, the default: reviews tend to end with the verdict) or its first;
    /// a shorter one is padded with 0 on the left (default) or right.
    public func encode(_ words: [String], length: Int, truncating: Side = .left, padding: Side = .left) -> [Int] {
        var ids = words.map(id)
        if ids.count > length {
            ids = truncating == .left ? Array(ids.suffix(length)) : Array(ids.prefix(length))
        }
        let pad = [Int](repeating: Vocabulary.padding, count: length - ids.count)
        return padding == .left ? pad + ids : ids + pad
    }

    enum CodingKeys: String, CodingKey { case words }

    /// Reads `{"words": [...]}`.
    /// - Throws: `SynapseError.invalidArgument` when the words do not start with `<pad>` and `<unk>`
    ///   or list a word twice.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(words: try container.decode([String].self, forKey: .words))
    }

    /// Writes `{"words": [...]}`, in id order.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(words, forKey: .words)
    }

    /// Writes the vocabulary as JSON, atomically.
    public func save(to url: URL) throws {
        try AtomicFile.write(try JSONEncoder().encode(self), to: url)
    }

    /// Reads a vocabulary `save(to:)` wrote.
    /// - Throws: `SynapseError.file` naming the path when the file cannot be read or is not a
    ///   vocabulary (not JSON, reserved ids missing, a word listed twice).
    public static func load(from url: URL) throws -> Vocabulary {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read the vocabulary: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(Vocabulary.self, from: data) } catch let error as SynapseError {
            throw SynapseError.file(path: url.path, problem: "\(error)")
        } catch {
            throw SynapseError.file(path: url.path, problem: "not a vocabulary file: \(error)")
        }
    }
}

extension Vocabulary {
    /// Token ids of many documents as one (documents, length) tensor for an `Embedding`.
    public func encode(_ documents: [[String]], length: Int, truncating: Side = .left, padding: Side = .left) -> Tensor {
        let ids = Tensor(shape: [documents.count, length])
        for (row, words) in documents.enumerated() {
            let encoded = encode(words, length: length, truncating: truncating, padding: padding)
            for (j, id) in encoded.enumerated() { ids.data[row * length + j] = Float(id) }
        }
        return ids
    }
}

extension Vocabulary {
    /// Checks that `model` can take this vocabulary's token ids: it takes sequences (one id per
    /// step) and starts with an `Embedding` that has a row for every word. Without this check a
    /// vocabulary larger than the model's embedding stops the process in `forward`. The error
    /// names `path`, the vocabulary's file.
    public func check(fits model: Sequential, path: String) throws {
        guard model.inputShape.count == 1, let embedding = model.layers.first as? Embedding else {
            throw SynapseError.file(path: path, problem:
                "the model does not take token ids: it takes samples of shape \(model.inputShape) and does not start with an Embedding")
        }
        guard count <= embedding.vocabularySize else {
            throw SynapseError.file(path: path, problem:
                "the vocabulary has \(count) words, the model's embedding '\(embedding.name)' only \(embedding.vocabularySize): they were not saved together")
        }
    }
}
