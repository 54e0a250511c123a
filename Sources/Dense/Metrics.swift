import Foundation

/// The per-batch metric reported beside the loss during training and evaluation.
public enum Metric: String, Sendable {
    /// Fraction of rows whose largest logit is the target class (targets: indices or one-hot).
    case accuracy
    /// Fraction of elements with (logit > 0) == (target > 0.5); predictions are logits, as fed
    /// to `BinaryCrossEntropy`.
    case binaryAccuracy = "binary_accuracy"
    /// Mean absolute error over every element.
    case meanAbsoluteError = "mae"

    /// The name in logs and history (`accuracy`, `val_accuracy`, `mae`, ...).
    public var logName: String { self == .meanAbsoluteError ? "mae" : "accuracy" }

    /// The sum of the metric over the batch and how many units it is averaged over.
    public func accumulate(predictions: Tensor, targets: Tensor) -> (sum: Double, count: Int) {
        switch self {
        case .accuracy:
            let width = predictions.shape.last ?? 1
            let rows = predictions.count / width
            let oneHot = targets.shape.count > 1 && targets.count == predictions.count && width > 1
            let (p, t) = (predictions.data, targets.data)
            var correct = 0
            for r in 0..<rows {
                let predicted = argmax(p + r &* width, width)
                let actual = oneHot ? argmax(t + r &* width, width) : Int(t[r])
                if predicted == actual { correct += 1 }
            }
            return (Double(correct), rows)
        case .binaryAccuracy:
            let (z, t) = (predictions.data, targets.data)
            var correct = 0
            for i in 0..<predictions.count where (z[i] > 0) == (t[i] > 0.5) { correct += 1 }
            return (Double(correct), predictions.count)
        case .meanAbsoluteError:
            let (p, t) = (predictions.data, targets.data)
            var sum: Double = 0
            for i in 0..<predictions.count { sum += Double(abs(p[i] - t[i])) }
            return (sum, predictions.count)
        }
    }
}

/// The index of the largest of `width` values; the first one on ties.
@inline(__always) func argmax(_ row: UnsafePointer<Float>, _ width: Int) -> Int {
    var best = 0
    for j in 1..<max(width, 1) where row[j] > row[best] { best = j }
    return best
}

/// The index of the largest value in each row (over the last axis); the first one on ties.
public func argmaxRows(_ tensor: Tensor) -> [Int] {
    let width = tensor.shape.last ?? 1
    let p = tensor.data
    return (0..<(tensor.count / width)).map { argmax(p + $0 &* width, width) }
}

/// Class indices from targets that are indices (N) or one-hot rows (N x width).
public func classLabels(_ targets: Tensor, width: Int) -> [Int] {
    if targets.shape.count > 1 && targets.shape.last == width && width > 1 { return argmaxRows(targets) }
    return targets.buffer.map { Int($0) }
}

/// Mean absolute error over every element.
public func meanAbsoluteError(predictions: Tensor, targets: Tensor) -> Float {
    let (sum, count) = Metric.meanAbsoluteError.accumulate(predictions: predictions, targets: targets)
    return Float(sum / Double(max(count, 1)))
}

/// Counts of (actual, predicted) class pairs, with the metrics derived from them.
///
/// Rows are the actual classes, columns the predicted ones, as scikit-learn prints it.
/// A class that is never predicted has precision 0; one that never occurs has recall 0 (the
/// scikit-learn convention with `zero_division=0`).
public struct ConfusionMatrix: CustomStringConvertible, Sendable {
    /// The number of classes, numbered 0 ..< classes.
    public let classes: Int
    /// counts[actual * classes + predicted]
    public private(set) var counts: [Int]

    /// An empty matrix for `classes` classes.
    ///
    /// - Throws: `SynapseError.invalidArgument` unless `classes` is in 1 ... 65,536 (the matrix
    ///   holds classes² counts).
    public init(classes: Int) throws {
        guard (1...65_536).contains(classes) else {
            throw SynapseError.invalidArgument("ConfusionMatrix(classes: \(classes)): the number of classes must be in 1...65536")
        }
        self.classes = classes
        counts = Array(repeating: 0, count: classes * classes)
    }

    /// A matrix counting the pairs `(actual[i], predicted[i])`.
    ///
    /// - Throws: what `init(classes:)` and `add(predicted:actual:)` throw.
    public init(classes: Int, predicted: [Int], actual: [Int]) throws {
        try self.init(classes: classes)
        try add(predicted: predicted, actual: actual)
    }

    /// Counts more pairs; both arrays have one class index per sample, each in 0 ..< `classes`.
    ///
    /// - Throws: `SynapseError.invalidArgument` when the arrays differ in length or a class is
    ///   outside 0 ..< `classes` (naming the sample); nothing is counted then.
    public mutating func add(predicted: [Int], actual: [Int]) throws {
        guard predicted.count == actual.count else {
            throw SynapseError.invalidArgument("ConfusionMatrix: \(predicted.count) predictions for \(actual.count) labels")
        }
        let range = 0..<classes
        if let i = predicted.indices.first(where: { !range.contains(predicted[$0]) || !range.contains(actual[$0]) }) {
            throw SynapseError.invalidArgument(
                "ConfusionMatrix: sample \(i) has actual class \(actual[i]) and predicted \(predicted[i]); classes are 0..<\(classes)")
        }
        for (p, a) in zip(predicted, actual) {
            counts[a * classes + p] += 1
        }
    }

    /// How many samples of class `actual` were predicted as `predicted`.
    public subscript(actual: Int, predicted: Int) -> Int { counts[actual * classes + predicted] }

    /// All samples counted.
    public var total: Int { counts.reduce(0, +) }
    /// The fraction on the diagonal (0 when empty).
    public var accuracy: Double {
        total == 0 ? 0 : Double((0..<classes).reduce(0) { $0 + self[$1, $1] }) / Double(total)
    }

    /// Of the samples predicted as class `c`, the fraction that are `c`.
    public func precision(_ c: Int) -> Double {
        let predicted = (0..<classes).reduce(0) { $0 + self[$1, c] }
        return predicted == 0 ? 0 : Double(self[c, c]) / Double(predicted)
    }

    /// Of the samples of class `c`, the fraction predicted as `c`.
    public func recall(_ c: Int) -> Double {
        let actual = (0..<classes).reduce(0) { $0 + self[c, $1] }
        return actual == 0 ? 0 : Double(self[c, c]) / Double(actual)
    }

    /// The harmonic mean of class `c`'s precision and recall.
    public func f1(_ c: Int) -> Double {
        let (p, r) = (precision(c), recall(c))
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// The unweighted mean of the classes' precisions, in [0, 1].
    public var macroPrecision: Double { (0..<classes).map(precision).reduce(0, +) / Double(classes) }
    /// The unweighted mean of the classes' recalls, in [0, 1].
    public var macroRecall: Double { (0..<classes).map(recall).reduce(0, +) / Double(classes) }
    /// The unweighted mean of the classes' F1 scores, in [0, 1].
    public var macroF1: Double { (0..<classes).map(f1).reduce(0, +) / Double(classes) }

    /// The matrix, then precision, recall and F1 per class and their macro averages.
    public var description: String { table(numbered: (0..<classes).map(String.init)) }

    /// The matrix and the per-class figures with the classes called by `names`: rows are
    /// labelled "k name", columns by the class number k, so the table stays narrow.
    ///
    /// - Throws: `SynapseError.invalidArgument` unless there is one name per class.
    public func table(names: [String]) throws -> String {
        guard names.count == classes else {
            throw SynapseError.invalidArgument("ConfusionMatrix.table: \(names.count) names for \(classes) classes")
        }
        return table(numbered: names)
    }

    private func table(numbered names: [String]) -> String {
        let numbered = names.enumerated().map { names == (0..<classes).map(String.init) ? $1 : "\($0) \($1)" }
        let label = max(5, numbered.map(\.count).max() ?? 0)
        let width = max(6, String(counts.max() ?? 0).count + 1)
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        var lines = ["actual \\ predicted"]
        lines.append(pad("", label) + (0..<classes).map { pad(String($0), width) }.joined())
        for a in 0..<classes {
            lines.append(pad(numbered[a], label) + (0..<classes).map { pad(String(self[a, $0]), width) }.joined())
        }
        lines.append("")
        lines.append(pad("class", label) + "  precision  recall      f1  support")
        for c in 0..<classes {
            let support = (0..<classes).reduce(0) { $0 + self[c, $1] }
            lines.append(pad(numbered[c], label) + String(format: "  %9.4f  %6.4f  %6.4f  %7d", precision(c), recall(c), f1(c), support))
        }
        lines.append(pad("macro", label) + String(format: "  %9.4f  %6.4f  %6.4f  %7d", macroPrecision, macroRecall, macroF1, total))
        return lines.joined(separator: "\n")
    }
}
