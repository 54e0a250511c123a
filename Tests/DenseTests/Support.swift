import Dense
import Foundation
@_exported import TestSupport

/// The PyTorch fixtures written by Scripts/fixtures/make_dense_fixtures.py.
let fixture = Fixture(fixtureURL("dense_golden", "safetensors"))

func fixtureURL(_ name: String, _ ext: String) -> URL {
    Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures")!
}
