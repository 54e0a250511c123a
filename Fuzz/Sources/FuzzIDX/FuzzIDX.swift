import Foundation
import FuzzSupport
import Synapse

/// IDX.read (raw or gzip, from a file; the MNIST reader's entry point). The input is read as it
/// is (a gzip'd input takes the gzip path), and an input that is not gzip is read a second time
/// wrapped in gzip, so the mutations of the IDX bytes also go through the gzip path. An accepted
/// file's dimensions must multiply, without overflow, to its element count.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    check(Fuzz.file("input.idx", data))
    if !Gzip.isCompressed(data) { check(Fuzz.file("input.idx.gz", Fuzz.gzipStored(data))) }
    return 0
}

func check(_ url: URL) {
    guard let file = try? IDX.read(url) else { return }
    var product = 1
    for d in file.dimensions {
        Fuzz.require(d > 0, "dimension \(d) in \(file.dimensions) accepted")
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        Fuzz.require(!overflow, "dimensions \(file.dimensions) overflow Int, yet the file was accepted")
        product = p
    }
    Fuzz.require(product == file.bytes.count,
                 "dimensions \(file.dimensions) (\(product) elements) accepted with \(file.bytes.count) bytes")
}
