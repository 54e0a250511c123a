import Foundation

/// A training objective: the mean loss over a batch and its gradient with respect to the
/// predictions (what the model's last layer produced).
public protocol Loss {
    /// The loss's name in architecture files, checkpoints and logs (`mse`, `cross_entropy`, ...).
    var name: String { get }
    /// The metric reported beside the loss during training.
    var defaultMetric: Metric { get }
    /// Returns the mean loss and writes dLoss/dPredictions into `gradient` (same shape). The
    /// targets must have passed `check(targets:outputShape:)`.
    func compute(predictions: Tensor, targets: Tensor, gradient: Tensor) -> Float
    /// Throws a `SynapseError` naming the problem unless `targets` (a batch: N first) fit
    /// predictions of `outputShape` per sample: the trainer calls it on every batch before the
    /// loss runs, so a bad label is an error, never a trap. Accepts anything by default.
    func check(targets: Tensor, outputShape: [Int]) throws
}

extension Loss {
    public func check(targets: Tensor, outputShape: [Int]) throws {}

    /// Targets with as many values per sample as an output (MSE's, binary cross-entropy's).
    func checkSameSize(_ targets: Tensor, _ outputShape: [Int]) throws {
        let per = outputShape.reduce(1, *)
        guard targets.shape.count >= 1, targets.count == targets.batchSize * per else {
            throw SynapseError.shape("\(name): targets of shape \(targets.shape) do not fit outputs of \(outputShape) per sample "
                                     + "(a batch of N needs N x \(per) target values)")
        }
    }
}

/// Mean squared error over every element: mean((p - t)^2), as PyTorch's `MSELoss()`.
public struct MeanSquaredError: Loss {
    /// Mean squared error (it has no settings).
    public init() {}
    /// `mse`.
    public var name: String { "mse" }
    public var defaultMetric: Metric { .meanAbsoluteError }
    public func check(targets: Tensor, outputShape: [Int]) throws { try checkSameSize(targets, outputShape) }

    public func compute(predictions: Tensor, targets: Tensor, gradient: Tensor) -> Float {
        precondition(predictions.count == targets.count,
                     "MSE: predictions \(predictions.shape) and targets \(targets.shape) differ in size")
        let (p, t, g, n) = (predictions.data, targets.data, gradient.data, predictions.count)
        let scale = 2 / Float(n)
        var sum: Float = 0
        for i in 0..<n {
            let d = p[i] - t[i]
            sum += d * d
            g[i] = scale * d
        }
        return sum / Float(n)
    }
}

/// Softmax followed by cross-entropy, fused and stable, from logits (N x C).
///
/// Targets are either class indices (shape N, values 0..<C stored as Float), or probabilities /
/// one-hot rows (shape N x C). Loss: mean over the batch of -sum_c t_c log softmax(z)_c; gradient
/// (softmax(z) - t) / N. Equals PyTorch's `CrossEntropyLoss()` on logits.
public struct SoftmaxCrossEntropy: Loss {
    /// Softmax cross-entropy on logits (it has no settings).
    public init() {}
    /// `cross_entropy`.
    public var name: String { "cross_entropy" }
    public var defaultMetric: Metric { .accuracy }

    /// For logits of C classes per row (outputs (C) per sample, or (T, C) for a sequence): a
    /// class index in 0..<C per row (N, N x 1 or N x T), or a row of C probabilities per row
    /// (N x C, N x T x C), as `compute` reads them.
    public func check(targets: Tensor, outputShape: [Int]) throws {
        let classes = outputShape.last ?? 1
        let rows = targets.batchSize * outputShape.dropLast().reduce(1, *)
        if targets.shape.count > 1 && targets.count == rows * classes && targets.count != rows { return }
        guard targets.count == rows else {
            throw SynapseError.shape("cross-entropy: targets of shape \(targets.shape) are neither a class index per row "
                                     + "(\(rows) of them) nor \(classes) probabilities per row for outputs of \(outputShape) per sample")
        }
        let t = targets.data
        for i in 0..<rows where !(t[i] >= 0 && t[i] < Float(classes) && t[i] == t[i].rounded()) {
            throw SynapseError.invalidArgument("cross-entropy: label \(t[i]) (target \(i) of the batch) is not a class "
                                               + "index of the model's \(classes) classes (0..<\(classes))")
        }
    }

    public func compute(predictions: Tensor, targets: Tensor, gradient: Tensor) -> Float {
        let width = predictions.shape.last ?? 1
        let rows = predictions.count / width
        let oneHot = targets.count == predictions.count && targets.shape.count > 1
        precondition(oneHot || targets.count == rows,
                     "cross-entropy: targets \(targets.shape) fit neither N = \(rows) labels nor \(predictions.shape)")
        let (z, t, g) = (predictions.data, targets.data, gradient.data)
        let invRows = 1 / Float(rows)
        var total: Double = 0
        for r in 0..<rows {
            let zr = z + r &* width, gr = g + r &* width
            let logSum = softmaxRow(zr, gr, width: width)  // gr = softmax(zr)
            if oneHot {
                let tr = t + r &* width
                for j in 0..<width {
                    total -= Double(tr[j] * (zr[j] - logSum))
                    gr[j] = (gr[j] - tr[j]) * invRows
                }
            } else {
                let label = Int(t[r])
                precondition(label >= 0 && label < width, "cross-entropy: label \(t[r]) outside 0..<\(width)")
                total -= Double(zr[label] - logSum)
                for j in 0..<width { gr[j] *= invRows }
                gr[label] -= invRows
            }
        }
        return Float(total / Double(rows))
    }
}

/// Binary cross-entropy from logits, stable: mean of max(z, 0) - z t + log(1 + exp(-|z|)) over
/// every element; gradient (sigmoid(z) - t) / n. Equals PyTorch's `BCEWithLogitsLoss()`.
public struct BinaryCrossEntropy: Loss {
    /// Binary cross-entropy on logits (it has no settings).
    public init() {}
    /// `binary_cross_entropy`.
    public var name: String { "binary_cross_entropy" }
    public var defaultMetric: Metric { .binaryAccuracy }
    public func check(targets: Tensor, outputShape: [Int]) throws { try checkSameSize(targets, outputShape) }

    public func compute(predictions: Tensor, targets: Tensor, gradient: Tensor) -> Float {
        precondition(predictions.count == targets.count,
                     "binary cross-entropy: predictions \(predictions.shape) and targets \(targets.shape) differ in size")
        let (z, t, g, n) = (predictions.data, targets.data, gradient.data, predictions.count)
        let invN = 1 / Float(n)
        var total: Double = 0
        for i in 0..<n {
            let zi = z[i]
            total += Double(max(zi, 0) - zi * t[i] + log1pf(expf(-abs(zi))))
            g[i] = (1 / (1 + expf(-zi)) - t[i]) * invN
        }
        return Float(total / Double(n))
    }
}
