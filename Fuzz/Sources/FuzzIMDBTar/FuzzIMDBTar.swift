import Foundation
import FuzzSupport
import Synapse

/// IMDB.readArchive (aclImdb_v1.tar.gz read without unpacking): the input is the tar archive,
/// gzip'd by the harness (stored blocks), so the mutations hit the tar headers rather than the
/// compressed bits; an input that already is gzip is read as it is too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMDBTar(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    check(Fuzz.file("aclImdb.tar.gz", Fuzz.gzipStored(data)))
    if Gzip.isCompressed(data) { check(Fuzz.file("input.tar.gz", data)) }
    return 0
}

func check(_ url: URL) {
    guard let splits = try? IMDB.readArchive(url) else { return }
    Fuzz.require(splits.train.count + splits.test.count > 0, "an archive without reviews was accepted")
}
