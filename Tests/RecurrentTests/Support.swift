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

/// The LSTM and GRU fixtures written by Scripts/fixtures/make_recurrent_fixtures.py
/// (`<lstm|gru>.<case>.<tensor>`).
let gatedFixture = Fixture(Bundle.module.url(forResource: "gated_golden", withExtension: "safetensors", subdirectory: "Fixtures")!)

/// What the LSTM and GRU tests drive alike.
protocol GatedLayer: Layer, SequenceMasking, RecurrentStepping {
    var initialState: Tensor? { get set }
    var initialStateGradient: Tensor? { get }
}

extension LSTM: GatedLayer {}
extension GRU: GatedLayer {}

/// The gated layers' parameter names, in their order (PyTorch's).
let gatedParameterNames = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]

/// Takes the fixture case's weights into `layer`.
func loadGatedWeights(_ layer: some GatedLayer, _ prefix: String) {
    for (p, name) in zip(layer.parameters, gatedParameterNames) { p.value.assign(gatedFixture("\(prefix).\(name)")) }
}

/// Forward and every gradient (input, each parameter) of a fixture case, within 1e-4 of
/// PyTorch's. The sums have at most a few dozen terms of order one, so float32 rounding (about
/// 1e-6) and `rationalTanh` (a few ulp) stay far inside it.
func assertGatedMatchesPyTorch(_ layer: some GatedLayer, _ prefix: String, mask: Tensor? = nil,
                               file: StaticString = #filePath, line: UInt = #line) {
    layer.inputMask = mask
    for p in layer.parameters { p.zeroGradient() }
    assertClose(layer.forward(gatedFixture("\(prefix).x"), training: true), gatedFixture("\(prefix).y"),
                relative: 0, absolute: 1e-4, "\(prefix) output", file: file, line: line)
    assertClose(layer.backward(gatedFixture("\(prefix).dy")), gatedFixture("\(prefix).dx"),
                relative: 0, absolute: 1e-4, "\(prefix) input gradient", file: file, line: line)
    for (p, name) in zip(layer.parameters, gatedParameterNames) {
        assertClose(p.gradient, gatedFixture("\(prefix).d\(name)"), relative: 0, absolute: 1e-4, "\(prefix) d\(name)",
                    file: file, line: line)
    }
}

/// `x` (N, T, C) with each row's first `lengths[i]` steps moved to the end of the row (left
/// padding), the steps before them zero; and its mask.
func leftPadded(_ x: Tensor, lengths: [Int]) -> (x: Tensor, mask: Tensor) {
    let (n, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    let moved = Tensor(shape: x.shape), mask = Tensor(shape: [n, t])
    for i in 0..<n {
        for s in 0..<lengths[i] {
            let to = t - lengths[i] + s
            mask[i * t + to] = 1
            for j in 0..<c { moved[(i * t + to) * c + j] = x[(i * t + s) * c + j] }
        }
    }
    return (moved, mask)
}

/// Two stacked layers against PyTorch's `num_layers=2` (fixture `<prefix>.l0.*`, `<prefix>.l1.*`):
/// the first many-to-many into the second, each with the mask (when the case has one), chained as
/// `Sequential` chains them; the output, the input gradient and every parameter gradient of both
/// within 1e-4.
func assertStackedMatchesPyTorch<L: GatedLayer>(_ prefix: String, masked: Bool, many: Bool,
                                                make: (_ inputFeatures: Int, _ mode: RecurrentMode) throws -> L,
                                                file: StaticString = #filePath, line: UInt = #line) throws {
    let x = gatedFixture("\(prefix).x")
    let (f, h) = (x.shape[2], gatedFixture("\(prefix).l0.weight_hh").shape[1])
    let first = try make(f, .manyToMany), second = try make(h, many ? .manyToMany : .manyToOne)
    loadGatedWeights(first, "\(prefix).l0")
    loadGatedWeights(second, "\(prefix).l1")
    let mask = masked ? gatedFixture("\(prefix).mask") : nil
    first.inputMask = mask
    second.inputMask = first.outputMask
    let y = second.forward(first.forward(x, training: true), training: true)
    assertClose(y, gatedFixture("\(prefix).y"), relative: 0, absolute: 1e-4, "\(prefix) output", file: file, line: line)
    let dx = first.backward(second.backward(gatedFixture("\(prefix).dy")))
    assertClose(dx, gatedFixture("\(prefix).dx"), relative: 0, absolute: 1e-4, "\(prefix) input gradient", file: file, line: line)
    for (k, layer) in [first, second].enumerated() {
        for (p, name) in zip(layer.parameters, gatedParameterNames) {
            assertClose(p.gradient, gatedFixture("\(prefix).l\(k).d\(name)"), relative: 0, absolute: 1e-4,
                        "\(prefix) layer \(k) d\(name)", file: file, line: line)
        }
    }
}
