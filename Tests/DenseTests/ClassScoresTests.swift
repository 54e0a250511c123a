@testable import Dense
import Foundation
import XCTest

/// Probabilities and the top classes from a classifier's logits.
final class ClassScoresTests: XCTestCase {
    func testSoftmaxRowsSumToOneAndTopRanksThem() throws {
        let logits = Tensor(shape: [2, 4], values: [1, 3, 2, 3, /* */ -1, 0, 5, 0.5])
        let p = logits.probabilities()
        for row in 0..<2 {
            XCTAssertEqual((0..<4).reduce(Float(0)) { $0 + p[row * 4 + $1] }, 1, accuracy: 1e-6)
        }
        let top = try p.top(3)
        // Ties go to the lower index.
        XCTAssertEqual(top[0].map(\.index), [1, 3, 2])
        XCTAssertEqual(top[1].map(\.index), [2, 3, 1])
        XCTAssertEqual(top[0][0].probability, expf(3) / (expf(1) + 2 * expf(3) + expf(2)), accuracy: 1e-6)
        XCTAssertEqual(try p.top(10)[0].count, 4, "at most the number of classes")
    }

    func testASingleOutputIsTwoClasses() throws {
        let p = Tensor(shape: [2, 1], values: [2, -1]).probabilities()
        XCTAssertEqual(p[0], 1 / (1 + expf(-2)), accuracy: 1e-6)
        let top = try p.top(2)
        XCTAssertEqual(top[0].map(\.index), [1, 0])
        XCTAssertEqual(top[1].map(\.index), [0, 1])
        XCTAssertEqual(top[1][0].probability, 1 - 1 / (1 + expf(1)), accuracy: 1e-6)
    }

    func testBadArgumentsThrow() {
        let p = Tensor(shape: [1, 3], values: [0.2, 0.3, 0.5])
        XCTAssertThrowsError(try p.top(0))
        XCTAssertThrowsError(try Tensor(shape: [], values: [1]).top(1))
    }
}

/// A seeded random subset keeps the classes mixed, where the first n of a sorted set do not.
final class SubsetTests: XCTestCase {
    func testASubsetIsRandomSeededAndInOrder() throws {
        // 1,000 samples sorted by class, as a folder lists them: 500 of class 0, then 500 of class 1.
        let data = try Dataset(inputs: Tensor(shape: [1000, 1], values: (0..<1000).map(Float.init)),
                               targets: Tensor(shape: [1000], values: (0..<1000).map { $0 < 500 ? 0 : 1 }))
        let subset = try data.subset(count: 100, seed: 4)
        XCTAssertEqual(subset.count, 100)
        let picked = (subset as! Dataset).inputs.array
        XCTAssertEqual(picked, picked.sorted(), "kept in the source's order")
        XCTAssertEqual(Set(picked).count, 100, "without replacement")
        let ones = (subset as! Dataset).targets.array.filter { $0 == 1 }.count
        XCTAssertTrue((30...70).contains(ones), "both classes: \(ones) of 100 are class 1")
        XCTAssertEqual((try data.subset(count: 100, seed: 4) as! Dataset).inputs.array, picked, "the same seed, the same subset")
        XCTAssertThrowsError(try data.subset(count: 0, seed: 1))
        XCTAssertThrowsError(try data.subset(count: 1001, seed: 1))
    }
}
