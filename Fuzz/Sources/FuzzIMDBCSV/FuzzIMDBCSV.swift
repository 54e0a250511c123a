import Foundation
import FuzzSupport
import Synapse

/// IMDB.readCSV (the 50k-review CSV, plain or gzip; LabelledTexts underneath): any bytes must give
/// reviews or an error. Every review kept must be non-empty; rows kept and skipped add up.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMDBCSV(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let url = Fuzz.file("imdb.csv", Fuzz.data(bytes, size))
    guard let splits = try? IMDB.readCSV(url, trainingRows: 2) else { return 0 }
    Fuzz.require(splits.train.count <= 2, "\(splits.train.count) training rows, at most 2 asked for")
    for review in splits.train + splits.test {
        Fuzz.require(review.text.contains { !$0.isWhitespace }, "an empty review was kept")
    }
    return 0
}
