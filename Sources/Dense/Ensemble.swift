/// Several models (each a `Sequential` or a `Graph`) voting on the same inputs.
///
/// `.average` averages the models' class probabilities (softmax of their logits, or sigmoid for
/// a single output); `.majority` takes the class most models predict, ties going to the lowest
/// class index.
public struct Ensemble {
    /// How an ensemble combines its members' predictions.
    public enum Voting: Sendable {
        /// The mean of the members' class probabilities.
        case average
        /// The class most members predict; a tie goes to the lowest class index.
        case majority
    }

    /// The members, at least one, all of the same input and output shape.
    public let models: [any Model]
    /// How the members' predictions combine.
    public let voting: Voting

    /// An ensemble of `models`, combined by `voting` (default `.average`).
    /// - Throws: `SynapseError.invalidArgument` for no models, `SynapseError.shape` when the models
    ///   differ in input or output shape.
    public init(_ models: [any Model], voting: Voting = .average) throws {
        guard let first = models.first else { throw SynapseError.invalidArgument("an ensemble needs at least one model") }
        guard models.allSatisfy({ $0.inputShape == first.inputShape && $0.outputShape == first.outputShape }) else {
            throw SynapseError.shape("ensemble members differ in input or output shape")
        }
        self.models = models
        self.voting = voting
    }

    /// Mean class probabilities (N, C) over the members; throws when `inputs` is not a batch of
    /// the members' samples.
    public func probabilities(_ inputs: Tensor, batchSize: Int = 256) throws -> Tensor {
        var mean: Tensor?
        for model in models {
            let p = try model.predict(inputs, batchSize: batchSize).probabilities()
            if let mean { mean.add(p) } else { mean = p }
        }
        let result = mean!
        result.scale(by: 1 / Float(models.count))
        return result
    }

    /// The predicted class of each sample; throws as `probabilities` does.
    public func predictClasses(_ inputs: Tensor, batchSize: Int = 256) throws -> [Int] {
        switch voting {
        case .average:
            let p = try probabilities(inputs, batchSize: batchSize)
            return p.shape.last == 1 ? p.buffer.map { $0 > 0.5 ? 1 : 0 } : argmaxRows(p)
        case .majority:
            let classes = max(models[0].outputShape.last ?? 1, 2)
            var votes = Array(repeating: Array(repeating: 0, count: classes), count: inputs.batchSize)
            for model in models {
                let logits = try model.predict(inputs, batchSize: batchSize)
                let predicted = logits.shape.last == 1 ? logits.buffer.map { $0 > 0 ? 1 : 0 } : argmaxRows(logits)
                for (i, c) in predicted.enumerated() { votes[i][c] += 1 }
            }
            return votes.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! }
        }
    }
}
