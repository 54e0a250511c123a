import CKernels
import Dense

/// The geometry shared by the pooling layers: a kernel sliding over each channel.
public struct PoolingWindow: Sendable {
    public let kernel: (height: Int, width: Int)
    public let stride: (height: Int, width: Int)
    public let padding: (height: Int, width: Int)

    var options: LayerOptions {
        ["kernelSize": .numbers([Double(kernel.height), Double(kernel.width)]),
         "stride": .numbers([Double(stride.height), Double(stride.width)]),
         "padding": .numbers([Double(padding.height), Double(padding.width)])]
    }

    init(kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)) throws {
        let s = stride ?? kernel
        let range = 1...LayerLimits.maxDimension
        guard range.contains(kernel.0), range.contains(kernel.1), range.contains(s.0), range.contains(s.1) else {
            throw SynapseError.invalidArgument(
                "pooling needs kernel size and stride in \(range.lowerBound)...\(range.upperBound), got \(kernel) and \(s)")
        }
        // PyTorch's rule: padding at most half the kernel, so every window sees the image.
        guard padding.0 >= 0, padding.1 >= 0, 2 * padding.0 <= kernel.0, 2 * padding.1 <= kernel.1 else {
            throw SynapseError.invalidArgument("pooling padding must be between 0 and half the kernel size")
        }
        (self.kernel, self.stride, self.padding) = (kernel, s, padding)
    }

    init(options: LayerOptions) throws {
        let k = try options.ints("kernelSize", count: 2, in: 1...LayerLimits.maxDimension)
        let s = try options.ints("stride", count: 2, in: 1...LayerLimits.maxDimension)
        let p = try options.ints("padding", count: 2, in: 0...LayerLimits.maxDimension)
        try self.init(kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: (p[0], p[1]))
    }

    /// 2x2 windows, stride 2, no padding: the case the CKernels pooling kernels take.
    var isPlain2x2: Bool {
        kernel == (2, 2) && stride == (2, 2) && padding == (0, 0)
    }

    func outputShape(for inputShape: [Int], layer: String) throws -> [Int] {
        guard inputShape.count == 3,
              let oh = windowOutputSize(inputShape[1], kernel: kernel.height, stride: stride.height, padding: padding.height),
              let ow = windowOutputSize(inputShape[2], kernel: kernel.width, stride: stride.width, padding: padding.width)
        else {
            throw SynapseError.shape("\(layer): a \(kernel.height)x\(kernel.width) window does not fit input \(inputShape) (C, H, W)")
        }
        return [inputShape[0], oh, ow]
    }
}

/// What the pooling layers share: a window, its saved options and its output shape.
public protocol PoolingLayer: Layer {
    var window: PoolingWindow { get }
    init(kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int), name: String) throws
}

extension PoolingLayer {
    /// A square window: `MaxPool2D(2)`, `AvgPool2D(3, stride: 2, padding: 1)`.
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, name: String = "") throws {
        try self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding), name: name)
    }

    public var options: LayerOptions { window.options }

    public static func stateShapes(options: LayerOptions) throws -> [String: [Int]]? {
        _ = try PoolingWindow(options: options)
        return [:]
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try window.outputShape(for: inputShape, layer: "\(Self.typeName) '\(name)'")
    }
}

/// Max pooling over each channel of N x C x H x W batches, as PyTorch's `nn.MaxPool2d`:
/// windows may overlap (stride < kernel); padding counts as -infinity; on ties the first maximum
/// in the window (row by row) wins and receives the gradient.
public final class MaxPool2D: PoolingLayer, AbsorbsPrecedingReLU {
    public static let typeName = "MaxPool2D"
    public var name: String
    public let window: PoolingWindow
    /// Whether the output is relu(max) for a ReLU before this layer (set by `Sequential`): the
    /// same values, window choices and input gradients as the ReLU's output pooled, since the
    /// ReLU is monotone (a window whose maximum is <= 0 sends no gradient either way).
    public var appliesPrecedingReLU = false
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// - Parameter stride: defaults to the kernel size (non-overlapping windows).
    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), name: String = "") throws {
        window = try PoolingWindow(kernel: kernelSize, stride: stride, padding: padding)
        self.name = name
    }

    public init(options: LayerOptions, random: RandomGenerator) throws {
        window = try PoolingWindow(options: options)
        name = ""
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let shape = try! outputShape(for: input.sampleShape)
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = (shape[1], shape[2])
        let out = Tensor.reusing(output, shape: [n] + shape)
        output = out
        inputShape = input.shape
        if argmax.count != out.count { argmax = [Int32](repeating: 0, count: out.count) }
        let (kh, kw, sh, sw, ph, pw) = (window.kernel.height, window.kernel.width, window.stride.height,
                                        window.stride.width, window.padding.height, window.padding.width)
        let (x, y) = (input.data, out.data)
        defer { if appliesPrecedingReLU { synapse_kernels().pointee.relu_forward(y, y, out.count) } }
        if window.isPlain2x2 {
            forward2x2(x, y, planes: n * c, height: h, width: w, outputHeight: oh, outputWidth: ow)
            return out
        }
        argmax.withUnsafeMutableBufferPointer { index in
            for plane in 0..<(n * c) {
                let xp = x + plane &* h &* w
                let base = plane &* oh &* ow
                for i in 0..<oh {
                    let y0 = i &* sh &- ph
                    let rows = max(y0, 0)..<min(y0 &+ kh, h)
                    for j in 0..<ow {
                        let x0 = j &* sw &- pw
                        let columns = max(x0, 0)..<min(x0 &+ kw, w)
                        var best = -Float.infinity
                        var bestIndex = rows.lowerBound &* w &+ columns.lowerBound
                        for r in rows {
                            for q in columns where xp[r &* w &+ q] > best || xp[r &* w &+ q].isNaN {
                                best = xp[r &* w &+ q]
                                bestIndex = r &* w &+ q
                            }
                        }
                        y[base &+ i &* ow &+ j] = best
                        index[base &+ i &* ow &+ j] = Int32(bestIndex)
                    }
                }
            }
        }
        return out
    }

    /// The common 2x2, stride 2, unpadded case, on the CKernels `maxpool2x2` kernel (vectorised
    /// for the CPU, the same scan order and selects as the general loop).
    private func forward2x2(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                            height h: Int, width w: Int, outputHeight oh: Int, outputWidth ow: Int) {
        argmax.withUnsafeMutableBufferPointer { index in
            synapse_kernels().pointee.maxpool2x2(x, y, index.baseAddress!, planes, h, w, oh, ow)
        }
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let dx = Tensor.reusing(inputGradient, shape: inputShape)
        inputGradient = dx
        let planeIn = inputShape[2] * inputShape[3]
        let planeOut = outputGradient.count / (inputShape[0] * inputShape[1])
        let (dy, d) = (outputGradient.data, dx.data)
        // With the ReLU applied here, a window whose output is not > 0 sends nothing, as the
        // ReLU's backward would have zeroed it (the same select as relu_backward).
        let y = appliesPrecedingReLU ? output?.data : nil
        if window.isPlain2x2 {
            argmax.withUnsafeBufferPointer { index in
                synapse_kernels().pointee.maxpool2x2_backward(dy, y, index.baseAddress!, d, inputShape[0] * inputShape[1],
                                                              inputShape[2], inputShape[3], outputGradient.shape[2],
                                                              outputGradient.shape[3])
            }
            return dx
        }
        dx.fill(0)
        argmax.withUnsafeBufferPointer { index in
            for plane in 0..<(inputShape[0] * inputShape[1]) {
                let (din, base) = (d + plane &* planeIn, plane &* planeOut)
                if let y {
                    for k in 0..<planeOut where y[base &+ k] > 0 { din[Int(index[base &+ k])] += dy[base &+ k] }
                } else {
                    for k in 0..<planeOut { din[Int(index[base &+ k])] += dy[base &+ k] }
                }
            }
        }
        return dx
    }
}

/// Average pooling over each channel, as PyTorch's `nn.AvgPool2d` with its defaults: padding
/// counts as zeros and is included in the divisor (kH kW).
public final class AvgPool2D: PoolingLayer {
    public static let typeName = "AvgPool2D"
    public var name: String
    public let window: PoolingWindow
    private var inputShape: [Int] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), name: String = "") throws {
        window = try PoolingWindow(kernel: kernelSize, stride: stride, padding: padding)
        self.name = name
    }

    public init(options: LayerOptions, random: RandomGenerator) throws {
        window = try PoolingWindow(options: options)
        name = ""
    }

    /// Calls `body(outputIndex, inputIndex)` for every (output, input) pair of every window.
    @inline(__always)
    private func forEachPair(planes: Int, _ body: (Int, Int) -> Void) {
        let (h, w) = (inputShape[2], inputShape[3])
        let shape = try! outputShape(for: Array(inputShape.dropFirst()))
        let (oh, ow) = (shape[1], shape[2])
        let (kh, kw, sh, sw, ph, pw) = (window.kernel.height, window.kernel.width, window.stride.height,
                                        window.stride.width, window.padding.height, window.padding.width)
        for plane in 0..<planes {
            for i in 0..<oh {
                let y0 = i * sh - ph
                for j in 0..<ow {
                    let x0 = j * sw - pw
                    let o = (plane * oh + i) * ow + j
                    for r in max(y0, 0)..<min(y0 + kh, h) {
                        for q in max(x0, 0)..<min(x0 + kw, w) { body(o, (plane * h + r) * w + q) }
                    }
                }
            }
        }
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        let out = Tensor.reusing(output, shape: [input.batchSize] + (try! outputShape(for: input.sampleShape)))
        output = out
        out.fill(0)
        let (x, y) = (input.data, out.data)
        let scale = 1 / Float(window.kernel.height * window.kernel.width)
        forEachPair(planes: inputShape[0] * inputShape[1]) { o, i in y[o] += x[i] * scale }
        return out
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let dx = Tensor.reusing(inputGradient, shape: inputShape)
        inputGradient = dx
        dx.fill(0)
        let (dy, d) = (outputGradient.data, dx.data)
        let scale = 1 / Float(window.kernel.height * window.kernel.width)
        forEachPair(planes: inputShape[0] * inputShape[1]) { o, i in d[i] += dy[o] * scale }
        return dx
    }
}

/// Flattens each sample to a vector: (N, d1, d2, ...) -> (N, d1 d2 ...), as PyTorch's
/// `nn.Flatten()`. A view: no copy.
public final class Flatten: Layer {
    public static let typeName = "Flatten"
    public var name: String
    private var inputShape: [Int] = []

    public init(name: String = "") { self.name = name }
    public init(options: LayerOptions, random: RandomGenerator) throws { name = "" }
    public static func stateShapes(options: LayerOptions) throws -> [String: [Int]]? { [:] }
    public var options: LayerOptions { [:] }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        [try LayerLimits.elementCount(inputShape, of: "Flatten '\(name)' input")]
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        return input.reshaped([input.batchSize, input.sampleCount])
    }

    public func backward(_ outputGradient: Tensor) -> Tensor { outputGradient.reshaped(inputShape) }
}

extension MaxPool2D {
    public func clone() throws -> any Layer {
        try MaxPool2D(kernelSize: window.kernel, stride: window.stride, padding: window.padding, name: name)
    }
}

extension AvgPool2D {
    public func clone() throws -> any Layer {
        try AvgPool2D(kernelSize: window.kernel, stride: window.stride, padding: window.padding, name: name)
    }
}

extension Flatten {
    public func clone() throws -> any Layer { Flatten(name: name) }
}

extension LayerRegistry {
    /// The layer types of the Conv module.
    public static var conv: LayerRegistry {
        LayerRegistry([Conv2D.self, MaxPool2D.self, AvgPool2D.self, Flatten.self])
    }
}
