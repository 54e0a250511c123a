import Foundation
import FuzzSupport
import Synapse

/// LabelledTexts.read (a user's CSV or TSV of labelled texts, plain or gzip), as a .csv and as a
/// .tsv file, with a small field limit: any bytes must give rows or an error. Every row kept has
/// a text with a non-space character and a label; kept and skipped rows never share a number,
/// and numbers rise in file order.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLabelledTexts(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    for name in ["texts.csv", "texts.tsv"] {
        let url = Fuzz.file(name, data)
        guard let file = try? LabelledTexts.read(url, limits: .init(fileBytes: 1 << 20, fieldBytes: 4096, columns: 64)) else { continue }
        for row in file.rows {
            Fuzz.require(row.text.contains { !$0.isWhitespace }, "row \(row.row): an empty text was kept")
            Fuzz.require(!row.label.isEmpty, "row \(row.row): an empty label was kept")
        }
        let numbers = file.rows.map(\.row), skipped = file.skipped.map(\.row)
        Fuzz.require(zip(numbers, numbers.dropFirst()).allSatisfy { $0 < $1 }, "row numbers out of order")
        Fuzz.require(zip(skipped, skipped.dropFirst()).allSatisfy { $0 < $1 }, "skipped row numbers out of order")
        Fuzz.require(Set(numbers).isDisjoint(with: skipped), "a row both kept and skipped")
        Fuzz.require(file.columns.count <= 64, "\(file.columns.count) columns, over the limit of 64")
    }
    return 0
}
