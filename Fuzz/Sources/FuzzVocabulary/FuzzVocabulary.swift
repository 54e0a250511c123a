import Foundation
import FuzzSupport
import Synapse

/// Vocabulary.load (the sentiment sample's vocabulary.json). An accepted vocabulary must map each
/// of its words back to its own id.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVocabulary(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let url = Fuzz.file("vocabulary.json", Fuzz.data(bytes, size))
    guard let vocabulary = try? Vocabulary.load(from: url) else { return 0 }
    for (id, word) in vocabulary.words.enumerated() where id > Vocabulary.unknown {
        Fuzz.require(vocabulary.id(word) == id, "word '\(word)' at \(id) maps to \(vocabulary.id(word))")
    }
    _ = vocabulary.encode(["the", "film", "was"], length: 4)
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        let documents = ["A wonderful film: moving, funny and beautifully acted.",
                         "The worst film I have seen this year; the plot makes no sense.",
                         "Ça m'a plu, vraiment — un film « magnifique »!"].map(Tokenizer.words)
        try Vocabulary(documents: documents, size: 20).save(to: folder.appendingPathComponent("vocabulary.json"))
    }
    return 0
}
