import Foundation
import FuzzSupport
import Synapse

/// Gzip.decompress (Dense/Data/Gzip.swift, behind the IDX and IMDB readers): any bytes must give
/// the decompressed data or an error, in bounded memory and time.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    _ = Gzip.isCompressed(data)
    _ = try? Gzip.decompress(data, path: "fuzz.gz")
    return 0
}
