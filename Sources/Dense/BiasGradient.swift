/// The bias gradient of a layer whose bias is added to every row of its output (`Linear`,
/// `SimpleRNN`): db[j] += sum_r dy[r, j] over a rows x columns matrix dY, row by row.
///
/// Written once here for every layer; the rows are added straight into `bias` in order, so the
/// result does not depend on the caller.
@inline(__always)
public func addColumnSums(of dy: UnsafePointer<Float>, rows: Int, columns: Int, into bias: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let row = dy + r &* columns
        for j in 0..<columns { bias[j] += row[j] }
    }
}

/// The bias gradient of a layer whose bias is added per output channel, with the gradient laid
/// out channel-major (`Conv2D`'s O x (N oH oW) matrix): db[c] += sum_p dy[c, p], each row summed
/// first, then added.
@inline(__always)
public func addRowSums(of dy: UnsafePointer<Float>, rows: Int, columns: Int, into bias: UnsafeMutablePointer<Float>) {
    for c in 0..<rows {
        let row = dy + c &* columns
        var sum: Float = 0
        for p in 0..<columns { sum += row[p] }
        bias[c] += sum
    }
}
