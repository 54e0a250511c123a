import Dense
import XCTest

final class TensorTests: XCTestCase {
    func testWriteThroughARowSliceIsSeenInTheParent() {
        let parent = Tensor(shape: [4, 2, 3], values: (0..<24).map(Float.init))
        let slice = parent.rows(1..<3)
        XCTAssertEqual(slice.shape, [2, 2, 3])
        XCTAssertEqual(slice.offset, 6)
        XCTAssertTrue(slice.storage === parent.storage)
        XCTAssertEqual(slice.array, (6..<18).map(Float.init))
        slice[0] = -1
        slice.data[11] = -2
        XCTAssertEqual(parent[6], -1)
        XCTAssertEqual(parent[17], -2)
        parent[12] = 100
        XCTAssertEqual(slice[6], 100, "the slice sees the parent's writes")
        XCTAssertEqual(parent.rows(4..<4).count, 0)
    }

    func testReshapedViewsAlias() {
        let t = Tensor(shape: [2, 6], values: (0..<12).map(Float.init))
        let view = t.rows(1..<2).reshaped([2, 3])
        XCTAssertEqual(view.shape, [2, 3])
        XCTAssertEqual(view.data, t.data + 6)
        view[4] = 42
        XCTAssertEqual(t[10], 42)
        let flat = t.reshaped([12])
        flat[0] = 7
        XCTAssertEqual(t[0], 7)
        XCTAssertEqual(t.view(at: 3, shape: [3]).array, [3, 4, 5])
    }

    /// A deep copy of a view holds only the view's values, in storage of its own.
    func testCopyOfAViewIsIndependent() {
        let t = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        let copy = t.rows(1..<3).copy()
        XCTAssertEqual(copy.offset, 0)
        XCTAssertEqual(copy.array, [3, 4, 5, 6])
        copy[0] = 0
        XCTAssertEqual(t[2], 3)
    }

    /// `reusing` keeps a buffer's own storage and offset when the new shape fits.
    func testReusingKeepsTheStorageWhenItFits() {
        let buffer = Tensor(shape: [4, 4])
        let smaller = Tensor.reusing(buffer, shape: [2, 3])
        XCTAssertTrue(smaller.storage === buffer.storage)
        let larger = Tensor.reusing(buffer, shape: [5, 4])
        XCTAssertFalse(larger.storage === buffer.storage)
    }

    func testPredictOnViewsEqualsForwardOnTheWholeBatch() throws {
        let random = RandomGenerator(seed: 3)
        let model = try Sequential(inputShape: [5], [Linear(5, 4, random: random), Activation(.tanh), Linear(4, 2, random: random)])
        let x = randomTensor([10, 5], random)
        let before = x.array
        let chunked = try model.predict(x, batchSize: 3)
        XCTAssertEqual(x.array, before, "the inputs are read, not written")
        assertClose(chunked, model.forward(x).copy(), relative: 1e-6, absolute: 1e-7, "predict")
    }
}
