import Dense
import XCTest

final class MetricsTests: XCTestCase {
    func testConfusionMatrixAndDerivedMetrics() throws {
        // actual:    0 0 0 1 1 2
        // predicted: 0 1 0 1 1 1
        let m = try ConfusionMatrix(classes: 3, predicted: [0, 1, 0, 1, 1, 1], actual: [0, 0, 0, 1, 1, 2])
        XCTAssertEqual(m[0, 0], 2)
        XCTAssertEqual(m[0, 1], 1)
        XCTAssertEqual(m[2, 1], 1)
        XCTAssertEqual(m.accuracy, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(m.precision(0), 1)
        XCTAssertEqual(m.recall(0), 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.precision(1), 0.5)
        XCTAssertEqual(m.recall(1), 1)
        XCTAssertEqual(m.f1(1), 2 * 0.5 / 1.5, accuracy: 1e-12)
        XCTAssertEqual(m.precision(2), 0, "never predicted")
        XCTAssertEqual(m.macroRecall, (2.0 / 3 + 1 + 0) / 3, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1, (0.8 + 2.0 / 3 + 0) / 3, accuracy: 1e-12)
        XCTAssertTrue(m.description.contains("macro"))
        let named = try m.table(names: ["cat", "dog", "eel"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(named[1], "          0     1     2", "columns by class number")
        XCTAssertEqual(named[3], "1 dog     0     2     0", "rows by number and name")
    }

    func testConfusionMatrixMistakesAreErrorsThatCountNothing() throws {
        XCTAssertThrowsError(try ConfusionMatrix(classes: 0)) { XCTAssertTrue("\($0)".contains("classes: 0"), "\($0)") }
        var m = try ConfusionMatrix(classes: 2)
        XCTAssertThrowsError(try m.add(predicted: [0, 1], actual: [0])) { XCTAssertTrue("\($0)".contains("2 predictions for 1 labels"), "\($0)") }
        XCTAssertThrowsError(try m.add(predicted: [0, 2], actual: [0, 1])) {
            XCTAssertTrue("\($0)".contains("sample 1") && "\($0)".contains("predicted 2") && "\($0)".contains("0..<2"), "\($0)")
        }
        XCTAssertThrowsError(try m.add(predicted: [0], actual: [-1]))
        XCTAssertEqual(m.total, 0, "a rejected call counts nothing")
        XCTAssertThrowsError(try m.table(names: ["one"])) { XCTAssertTrue("\($0)".contains("1 names for 2 classes"), "\($0)") }
    }

    func testBatchMetrics() {
        let logits = Tensor(shape: [3, 2], values: [2, 1, 0, 3, 5, 5])
        XCTAssertEqual(argmaxRows(logits), [0, 1, 0], "ties go to the first maximum")
        let (correct, count) = Metric.accuracy.accumulate(predictions: logits, targets: Tensor(shape: [3], values: [0, 0, 0]))
        XCTAssertEqual(correct, 2)
        XCTAssertEqual(count, 3)
        let oneHot = Tensor(shape: [3, 2], values: [1, 0, 0, 1, 0, 1])
        XCTAssertEqual(Metric.accuracy.accumulate(predictions: logits, targets: oneHot).sum, 2)
        XCTAssertEqual(Metric.binaryAccuracy.accumulate(predictions: Tensor(shape: [3], values: [-1, 2, 0.5]),
                                                        targets: Tensor(shape: [3], values: [0, 0, 1])).sum, 2)
        XCTAssertEqual(meanAbsoluteError(predictions: Tensor(shape: [2], values: [1, -1]),
                                         targets: Tensor(shape: [2], values: [0.5, 1])), 1.25)
    }

    func testEnsembleAveragesProbabilitiesAndVotes() throws {
        func fixed(_ bias: [Float]) throws -> Sequential {
            let layer = try Linear(1, 3, random: RandomGenerator(seed: 1))
            layer.weight.value.fill(0)
            layer.bias!.value.assign(Tensor(shape: [3], values: bias))
            return try Sequential(inputShape: [1], [layer])
        }
        // Two members lean weakly to class 0, one strongly to class 2.
        let members = [try fixed([1, 0, 0]), try fixed([1, 0, 0]), try fixed([0, 0, 9])]
        let x = Tensor(shape: [1, 1])
        XCTAssertEqual(try Ensemble(members, voting: .majority).predictClasses(x), [0])
        XCTAssertEqual(try Ensemble(members, voting: .average).predictClasses(x), [2])
        let p = try Ensemble(members).probabilities(x)
        XCTAssertEqual(p.array.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertThrowsError(try Ensemble([]))
    }
}
