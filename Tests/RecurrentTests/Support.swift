import Dense
import Recurrent
import Foundation
@_exported import TestSupport

/// The PyTorch fixtures written by Scripts/fixtures/make_recurrent_fixtures.py.
let fixture = Fixture(Bundle.module.url(forResource: "recurrent_golden", withExtension: "safetensors", subdirectory: "Fixtures")!)

nonisolated(unsafe) private var loadedIMDB: IMDB.Splits?

/// The real IMDB reviews under `SYNAPSE_DATA`, read once per test run (or the test is skipped;
/// see `dataRoot`).
func realIMDB(file: StaticString = #filePath, line: UInt = #line) throws -> IMDB.Splits {
    let root = try dataRoot(holding: "imdb", file: file, line: line)
    if let loadedIMDB { return loadedIMDB }
    let splits = try IMDB.load(from: DataDirectory(root: root))
    loadedIMDB = splits
    return splits
}
