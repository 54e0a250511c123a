import Dense
import Foundation
@_exported import TestSupport

/// The PyTorch fixtures written by Scripts/fixtures/make_recurrent_fixtures.py.
let fixture = Fixture(Bundle.module.url(forResource: "recurrent_golden", withExtension: "safetensors", subdirectory: "Fixtures")!)
