/// One class of a prediction: its index in the model's output and its probability.
public struct ClassScore: Equatable, Sendable {
    /// The class index (the model's output unit; for a single sigmoid output, 0 or 1).
    public let index: Int
    /// The probability, in [0, 1].
    public let probability: Float

    /// A score of `probability` (in [0, 1]) for class `index`.
    public init(index: Int, probability: Float) {
        (self.index, self.probability) = (index, probability)
    }
}

extension Tensor {
    /// Class probabilities from a classifier's logits, one row per sample: the softmax over the
    /// last axis, or, for a single output (a binary classifier trained with
    /// `BinaryCrossEntropy`), its sigmoid, the probability of class 1.
    ///
    ///     let probabilities = try model.predict(images).probabilities()   // (N, C), rows sum to 1
    public func probabilities() -> Tensor {
        let result = Tensor(shape: shape)
        let width = shape.last ?? 1
        if width == 1 {
            sigmoidForward(data, result.data, count)
        } else if width > 0 {
            softmaxForward(data, result.data, rows: count / width, width: width)
        }
        return result
    }

    /// The `k` most probable classes of each row of these probabilities (see `probabilities()`),
    /// most probable first, the lower index first on ties; at most the number of classes. A single
    /// output p counts as two classes: 0 with 1 - p and 1 with p.
    ///
    /// Throws when `k` is below 1 or the tensor has no class axis.
    public func top(_ k: Int) throws -> [[ClassScore]] {
        guard k >= 1 else { throw SynapseError.invalidArgument("top(\(k)): k must be at least 1") }
        guard shape.count >= 1, let width = shape.last, width >= 1 else {
            throw SynapseError.shape("top(\(k)) needs probabilities with a class axis, got shape \(shape)")
        }
        let values = buffer
        return (0..<(count / width)).map { row in
            let scores = width == 1
                ? [ClassScore(index: 0, probability: 1 - values[row]), ClassScore(index: 1, probability: values[row])]
                : (0..<width).map { ClassScore(index: $0, probability: values[row &* width &+ $0]) }
            let ranked = scores.sorted { $0.probability > $1.probability || ($0.probability == $1.probability && $0.index < $1.index) }
            return Array(ranked.prefix(k))
        }
    }
}
