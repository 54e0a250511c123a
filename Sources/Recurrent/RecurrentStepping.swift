import Dense

/// A recurrent layer that also runs one step at a time outside training (text generation):
/// `SimpleRNN`, `LSTM`, `GRU`.
///
/// The whole state of a row is `stateWidth` floats, the output h (`hiddenSize`) first and the
/// cell's memory after it (the LSTM's c); a generator keeps that whole row from step to step and
/// reads h from its start.
public protocol RecurrentStepping: AnyObject {
    /// F, the width of an input row.
    var inputFeatures: Int { get }
    /// H, the width of the output.
    var hiddenSize: Int { get }
    /// S, the width of the whole state row (H, or 2H for the LSTM).
    var stateWidth: Int { get }
    /// One step for x (N, F) and the whole state (N, S), written into `result` (N, S), which may
    /// be `state` itself.
    func step(input x: Tensor, state: Tensor, into result: Tensor)
}

extension RecurrentStepping {
    /// The output h (N, H) of a whole state (N, S), as a copy (the state itself when S == H).
    public func output(of state: Tensor) -> Tensor {
        let (n, h, s) = (state.batchSize, hiddenSize, stateWidth)
        guard s != h else { return state }
        let out = Tensor(shape: [n, h])
        for row in 0..<n { (out.data + row * h).update(from: state.data + row * s, count: h) }
        return out
    }
}
