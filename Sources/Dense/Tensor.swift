import Foundation

/// One 64-byte-aligned block of Float32 values, freed when the last tensor using it goes away.
///
/// Reference semantics on purpose: tensors that share a storage see each other's writes, and hot
/// loops never pay for copy-on-write checks.
public final class TensorStorage: @unchecked Sendable {
    /// The first value; 64-byte aligned, valid for `capacity` values (at least one).
    public let pointer: UnsafeMutablePointer<Float>
    /// How many Float32 values the storage holds.
    public let capacity: Int

    /// A zero-filled storage of `capacity` values (a trap when memory runs out, as an array's would).
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

/// A dense, row-major, contiguous Float32 tensor: a window of `count` values in a storage,
/// starting `offset` values in, seen with a shape.
///
/// Layouts are fixed across Synapse: a batch of vectors is N x F, a batch of images N x C x H x W,
/// a batch of sequences N x T x F. Copying a `Tensor` copies the reference, not the values; use
/// `copy()` for a deep copy.
///
/// **Views.** `reshaped(_:)`, `rows(_:)` (a range along the first axis) and `view(at:shape:)`
/// return tensors over the same storage: a write through any of them is seen by all. There is no
/// copy-on-write, so hot loops take `data` once and pay no uniqueness checks or reference
/// counting per element.
///
/// **Ownership.** Whoever made a storage decides who writes it:
/// - A layer's returned tensors (`forward`'s output, `backward`'s input gradient) are the layer's
///   own buffers, reused from call to call: valid until that layer's next `forward` (or
///   `backward`), read-only to everyone else. Copy what you keep.
/// - A model's parameter values are views into its parameter block (see `Sequential`): only an
///   optimizer step, a weight load or an initialiser writes them, never a forward or backward
///   pass, so replicas on other threads read them at the same time. Gradients are views into the
///   gradient block; backward passes add into them.
/// - A storage lives as long as any view of it: a view keeps its storage alive.
public struct Tensor: @unchecked Sendable {
    /// The values this tensor is a window of, shared with every view of it.
    public let storage: TensorStorage
    /// Where the first element lies in `storage`, in elements.
    public let offset: Int
    /// The dimensions, outermost first (row-major): `[N, C, H, W]` for a batch of images.
    public let shape: [Int]
    /// The number of elements: the product of `shape` (1 for a scalar's `[]`).
    public let count: Int

    /// Zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.init(storage: TensorStorage(capacity: count), offset: 0, shape: shape, count: count)
    }

    /// A tensor of the given shape with every element `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        data.update(repeating: value, count: count)
    }

    /// A tensor of the given shape holding `values` in row-major order; `values.count` must be
    /// the shape's element count.
    ///
    ///     let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])   // rows [1, 2, 3] and [4, 5, 6]
    public init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count,
                     "\(values.count) values do not fill shape \(shape) (\(count) elements)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    private init(storage: TensorStorage, offset: Int, shape: [Int], count: Int) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = count
    }

    static func elementCount(_ shape: [Int]) -> Int {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        return shape.reduce(1, *)
    }

    /// The first element; valid for `count` elements.
    @inline(__always) public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// The values as a buffer pointer (shares the storage).
    @inline(__always) public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// The values copied into an array.
    public var array: [Float] { Array(buffer) }

    /// The same storage seen with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let newCount = Tensor.elementCount(newShape)
        precondition(newCount == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape, count: newCount)
    }

    /// The rows `range` of the first axis, as a view: (range.count, sample shape), sharing the
    /// storage (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of the first axis of \(shape)")
        let size = sampleCount
        return Tensor(storage: storage, offset: offset + range.lowerBound * size,
                      shape: [range.count] + shape.dropFirst(), count: range.count * size)
    }

    /// The `elementCount(shape)` values from `start` (counted from this tensor's first element)
    /// seen with `shape`, as a view sharing the storage.
    public func view(at start: Int, shape: [Int]) -> Tensor {
        let needed = Tensor.elementCount(shape)
        precondition(start >= 0 && start + needed <= count,
                     "a view of \(shape) at \(start) does not fit in \(self.shape)")
        return Tensor(storage: storage, offset: offset + start, shape: shape, count: needed)
    }

    /// A tensor of `shape` that reuses `existing`'s storage when it is large enough, so that
    /// layers allocate once per batch shape and never in the steady state. `existing` must be the
    /// caller's own buffer (from an earlier call), never a view of someone else's tensor.
    public static func reusing(_ existing: Tensor?, shape: [Int]) -> Tensor {
        let needed = elementCount(shape)
        if let existing, existing.storage.capacity - existing.offset >= needed {
            return Tensor(storage: existing.storage, offset: existing.offset, shape: shape, count: needed)
        }
        return Tensor(shape: shape)
    }

    /// True when both tensors cover the same elements of the same storage.
    public func isSameView(as other: Tensor) -> Bool {
        storage === other.storage && offset == other.offset && count == other.count
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

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Adds `other`'s values elementwise; the element counts must agree. One pass, sixteen lanes
    /// at a time (a gradient block summed into another is one call).
    public func add(_ other: Tensor) {
        precondition(other.count == count, "cannot add \(other.shape) to \(shape)")
        let (a, b, n) = (data, other.data, count)
        typealias Lanes = SIMD16<Float>
        var i = 0
        while i &+ Lanes.scalarCount <= n {
            (Lanes(load: a + i) + Lanes(load: b + i)).store(to: a + i)
            i &+= Lanes.scalarCount
        }
        while i < n { a[i] += b[i]; i &+= 1 }
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

    /// The element at `index` in row-major order (0 ..< `count`), read or written in place: a
    /// write is seen by every view of the storage. For loops over many elements, use `data`.
    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count); return data[index] }
        nonmutating set { precondition(index >= 0 && index < count); data[index] = newValue }
    }
}

extension Tensor: CustomStringConvertible {
    /// The shape and the first eight values, e.g. `Tensor([2, 3]: [1, 2, 3, 4, 5, 6])`.
    public var description: String {
        let shown = buffer.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}

extension SIMD16 where Scalar == Float {
    /// Sixteen floats from `pointer` (no alignment needed).
    @inline(__always) init(load pointer: UnsafePointer<Float>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always) func store(to pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD16<Float>.self)
    }
}
