/// Scales all gradients so that their global L2 norm is at most `maxNorm`, as PyTorch's
/// `clip_grad_norm_`. Returns the norm before clipping. One pass over the gradient block (and
/// one scaling pass) when `parameters` are a model's block.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var sumSquares: Double = 0
    let block = ParameterBlock.common(parameters)
    if let block {
        sumSquares = sumOfSquares(block.gradients.data, count: block.count)
    } else {
        for p in parameters { sumSquares = sumOfSquares(p.gradient.data, count: p.gradient.count, from: sumSquares) }
    }
    let norm = Float(sumSquares.squareRoot())
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        if let block {
            block.gradients.scale(by: coefficient)
        } else {
            for p in parameters { p.gradient.scale(by: coefficient) }
        }
    }
    return norm
}

/// The sum of x_i^2 (squared in Float, summed in Double, in order), continuing from `start`.
private func sumOfSquares(_ x: UnsafeMutablePointer<Float>, count: Int, from start: Double = 0) -> Double {
    var sum = start
    for i in 0..<count { sum += Double(x[i] * x[i]) }
    return sum
}
