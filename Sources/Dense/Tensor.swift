import Foundation

/// One 64-byte-aligned block of Float32 values, freed when the last tensor using it goes away.
///
/// Reference semantics on purpose: tensors that share a storage see each other's writes, and hot
/// loops never pay for copy-on-write checks.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity >= 0, "negative tensor capacity \(capacity)")
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(capacity, 1) * MemoryLayout<Float>.stride) == 0, let raw else {
            fatalError("out of memory allocating a tensor of \(capacity) floats")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
        pointer.initialize(repeating: 0, count: max(capacity, 1))
        self.capacity = capacity
    }

    deinit { free(pointer) }
}

/// A dense, row-major, contiguous Float32 tensor: a storage plus a shape.
///
/// Layouts are fixed across Synapse: a batch of vectors is N x F, a batch of images N x C x H x W,
/// a batch of sequences N x T x F. Copying a `Tensor` copies the reference, not the values; use
/// `copy()` for a deep copy.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    public let shape: [Int]
    public let count: Int

    /// Zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.init(storage: TensorStorage(capacity: count), shape: shape, count: count)
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        data.update(repeating: value, count: count)
    }

    public init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count,
                     "\(values.count) values do not fill shape \(shape) (\(count) elements)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    private init(storage: TensorStorage, shape: [Int], count: Int) {
        self.storage = storage
        self.shape = shape
        self.count = count
    }

    static func elementCount(_ shape: [Int]) -> Int {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        return shape.reduce(1, *)
    }

    /// The first element; valid for `count` elements.
    @inline(__always) public var data: UnsafeMutablePointer<Float> { storage.pointer }

    /// The values as a buffer pointer (shares the storage).
    @inline(__always) public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: storage.pointer, count: count)
    }

    /// The values copied into an array.
    public var array: [Float] { Array(buffer) }

    /// The same storage seen with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let newCount = Tensor.elementCount(newShape)
        precondition(newCount == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, shape: newShape, count: newCount)
    }

    /// A tensor of `shape` that reuses `existing`'s storage when it is large enough, so that
    /// layers allocate once per batch shape and never in the steady state.
    public static func reusing(_ existing: Tensor?, shape: [Int]) -> Tensor {
        let needed = elementCount(shape)
        if let existing, existing.storage.capacity >= needed {
            return Tensor(storage: existing.storage, shape: shape, count: needed)
        }
        return Tensor(shape: shape)
    }

    /// A deep copy with its own storage.
    public func copy() -> Tensor {
        let result = Tensor(shape: shape)
        result.data.update(from: data, count: count)
        return result
    }

    /// Copies `other`'s values into this tensor; the element counts must agree.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "cannot assign \(other.shape) to \(shape)")
        data.update(from: other.data, count: count)
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Adds `other`'s values elementwise; the element counts must agree.
    public func add(_ other: Tensor) {
        precondition(other.count == count, "cannot add \(other.shape) to \(shape)")
        let (a, b) = (data, other.data)
        for i in 0..<count { a[i] += b[i] }
    }

    /// Multiplies every value by `factor`.
    public func scale(by factor: Float) {
        let a = data
        for i in 0..<count { a[i] *= factor }
    }

    /// Size of the first (batch) dimension.
    public var batchSize: Int { shape.first ?? 1 }

    /// Shape of one sample: the shape without its first dimension.
    public var sampleShape: [Int] { Array(shape.dropFirst()) }

    /// Element count of one sample.
    public var sampleCount: Int { shape.count > 0 && shape[0] > 0 ? count / shape[0] : 0 }

    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count); return data[index] }
        nonmutating set { precondition(index >= 0 && index < count); data[index] = newValue }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = buffer.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}
