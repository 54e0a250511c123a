import Dense
import Foundation
@_exported import TestSupport

/// The PyTorch fixtures written by Scripts/fixtures/make_conv_fixtures.py.
let fixture = Fixture(Bundle.module.url(forResource: "conv_golden", withExtension: "safetensors", subdirectory: "Fixtures")!)
