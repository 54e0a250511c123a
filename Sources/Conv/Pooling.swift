import CKernels
import Dense

/// The settings of a pooling layer (`MaxPool2D.Config`, `AvgPool2D.Config`): a kernel sliding
/// over each channel.
public struct PoolingWindow: Codable, Equatable, Sendable {
    /// The window's height and width.
    public var kernelSize: Extent
    /// Defaults to the kernel size (non-overlapping windows).
    public var stride: Extent
    /// Rows above and below, columns left and right added around the input (at most half the
    /// kernel); zero by default.
    public var padding: Extent

    /// The window's height and width as a pair.
    public var kernel: (height: Int, width: Int) { kernelSize.pair }

    /// A window of `kernel` (height, width), moving by `stride` (nil, the default: the kernel size),
    /// with `padding` around the input (default none).
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        let s = stride ?? kernel
        (kernelSize, self.stride, self.padding) = (Extent(kernel.0, kernel.1), Extent(s.0, s.1), Extent(padding.0, padding.1))
    }

    func validate(layer: String) throws {
        let range = 1...LayerLimits.maxDimension
        try kernelSize.check(in: range, "kernelSize", layer: layer)
        try stride.check(in: range, "stride", layer: layer)
        // PyTorch's rule: padding at most half the kernel, so every window sees the image.
        guard padding.height >= 0, padding.width >= 0, 2 * padding.height <= kernelSize.height,
              2 * padding.width <= kernelSize.width else {
            throw SynapseError.invalidArgument(
                "\(layer) 'padding' is [\(padding.height), \(padding.width)], it must be between 0 and half the kernel size")
        }
    }

    /// 2x2 windows, stride 2, no padding: the case the CKernels pooling kernels take.
    var isPlain2x2: Bool {
        kernelSize == Extent(2, 2) && stride == Extent(2, 2) && padding == Extent(0, 0)
    }

    func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 3,
              let oh = windowOutputSize(inputShape[1], kernel: kernelSize.height, stride: stride.height, padding: padding.height),
              let ow = windowOutputSize(inputShape[2], kernel: kernelSize.width, stride: stride.width, padding: padding.width)
        else {
            throw SynapseError.shape("a \(kernelSize.height)x\(kernelSize.width) window does not fit input \(inputShape) (C, H, W)")
        }
        return [inputShape[0], oh, ow]
    }
}

/// A pooling layer's config: the window, under the layer's type name.
public protocol PoolingConfig: LayerConfig {
    /// The window: kernel, stride and padding.
    var window: PoolingWindow { get }
    /// The config of a pooling layer with `window`.
    init(window: PoolingWindow)
}

extension PoolingConfig {
    /// Reads the window (`kernelSize`, `stride`, `padding`, each `[height, width]`).
    public init(from decoder: Decoder) throws { self.init(window: try PoolingWindow(from: decoder)) }
    /// Writes the window's `kernelSize`, `stride` and `padding`.
    public func encode(to encoder: Encoder) throws { try window.encode(to: encoder) }
    /// Throws `SynapseError.invalidArgument` unless the kernel sides and strides are in 1...2^24 and
    /// the padding between 0 and half the kernel.
    public func validate() throws { try window.validate(layer: Self.typeName) }
    /// (C, oH, oW) for an input sample (C, H, W).
    /// - Throws: `SynapseError.shape` for another rank or a window that does not fit.
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try window.outputShape(for: inputShape) }
}

/// What the pooling layers share: a window and its output shape.
public protocol PoolingLayer: Layer where Config: PoolingConfig {
    /// Builds the layer `config` describes, named `name` in its model.
    /// - Throws: `SynapseError.invalidArgument` when the window's settings are out of range.
    init(_ config: Config, name: String) throws
}

extension PoolingLayer {
    /// The window's size, stride and padding.
    public var window: PoolingWindow { config.window }

    /// A square window: `MaxPool2D(2)`, `AvgPool2D(3, stride: 2, padding: 1)`.
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, name: String = "") throws {
        try self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding), name: name)
    }

    /// A window of any height and width.
    ///
    /// - Parameters:
    ///   - kernelSize: The window's height and width.
    ///   - stride: defaults to the kernel size (non-overlapping windows).
    ///   - padding: Rows above and below, columns left and right, added around the input (at most
    ///     half the kernel), as PyTorch's `padding`.
    ///   - name: The layer's name in the model; empty: `<type>_<k>`.
    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), name: String = "") throws {
        try self.init(Config(window: PoolingWindow(kernel: kernelSize, stride: stride, padding: padding)), name: name)
    }

    /// The output shape of one sample in `forward` and `backward`. Invariant: a model checks
    /// every layer's input shape before it runs (Sequential's forward); a layer used on its own
    /// is held to the same rule here.
    func sampleOutputShape(_ inputShape: [Int]) -> [Int] {
        do { return try outputShape(for: inputShape) } catch { preconditionFailure("\(error)") }
    }
}

/// Max pooling over each channel of N x C x H x W batches, as PyTorch's `nn.MaxPool2d`:
/// windows may overlap (stride < kernel); padding counts as -infinity; on ties the first maximum
/// in the window (row by row) wins and receives the gradient.
public final class MaxPool2D: PoolingLayer, AbsorbsPrecedingReLU {
    /// The settings of a `MaxPool2D` layer: its window.
    public struct Config: PoolingConfig {
        /// `MaxPool2D`, the type name in architecture files.
        public static let typeName = "MaxPool2D"
        /// The window: kernel, stride and padding.
        public var window: PoolingWindow
        /// The config of a max pooling layer with `window`.
        public init(window: PoolingWindow) { self.window = window }
        /// A `MaxPool2D` of this window.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { try MaxPool2D(self) }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model (it has no parameters).
    public var name: String
    /// Whether the output is relu(max) for a ReLU before this layer (set by `Sequential`): the
    /// same values, window choices and input gradients as the ReLU's output pooled, since the
    /// ReLU is monotone (a window whose maximum is <= 0 sends no gradient either way).
    public var appliesPrecedingReLU = false
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// Builds the layer `config` describes, named `name` in its model.
    /// - Throws: `SynapseError.invalidArgument` when the window's settings are out of range.
    public init(_ config: Config, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
    }

    /// The maximum of each window of `input` (N, C, H, W) -> (N, C, oH, oW), in the layer's own
    /// buffer; remembers where each maximum was for `backward`.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let shape = sampleOutputShape(input.sampleShape)
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

    /// Sends each output gradient to the input element that was its window's maximum: dX (N, C, H, W).
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
    /// The settings of a `AvgPool2D` layer: its window.
    public struct Config: PoolingConfig {
        /// `AvgPool2D`, the type name in architecture files.
        public static let typeName = "AvgPool2D"
        /// The window: kernel, stride and padding.
        public var window: PoolingWindow
        /// The config of an average pooling layer with `window`.
        public init(window: PoolingWindow) { self.window = window }
        /// An `AvgPool2D` of this window.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { try AvgPool2D(self) }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model (it has no parameters).
    public var name: String
    private var inputShape: [Int] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// Builds the layer `config` describes, named `name` in its model.
    /// - Throws: `SynapseError.invalidArgument` when the window's settings are out of range.
    public init(_ config: Config, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
    }

    /// Calls `body(outputIndex, inputIndex)` for every (output, input) pair of every window.
    @inline(__always)
    private func forEachPair(planes: Int, _ body: (Int, Int) -> Void) {
        let (h, w) = (inputShape[2], inputShape[3])
        let shape = sampleOutputShape(Array(inputShape.dropFirst()))
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

    /// The mean of each window of `input` (N, C, H, W) -> (N, C, oH, oW), padding counted as zeros,
    /// in the layer's own buffer.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        let out = Tensor.reusing(output, shape: [input.batchSize] + sampleOutputShape(input.sampleShape))
        output = out
        out.fill(0)
        let (x, y) = (input.data, out.data)
        let scale = 1 / Float(window.kernel.height * window.kernel.width)
        forEachPair(planes: inputShape[0] * inputShape[1]) { o, i in y[o] += x[i] * scale }
        return out
    }

    /// Spreads each output gradient evenly over its window (kH kW shares): dX (N, C, H, W).
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
    /// A `Flatten` layer has no settings.
    public struct Config: LayerConfig {
        /// `Flatten`, the type name in architecture files.
        public static let typeName = "Flatten"
        /// The config: the layer has no settings.
        public init() {}
        /// Nothing to check: there are no settings.
        public func validate() throws {}
        /// (d1 d2 ...) for an input sample (d1, d2, ...).
        /// - Throws: `SynapseError.shape` for a dimension below 1 or more than 2^28 elements.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            do { return [try LayerLimits.elementCount(inputShape, of: "input")] } catch SynapseError.invalidArgument(let message) {
                throw SynapseError.shape(message)
            }
        }
        /// A `Flatten` layer.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { Flatten() }
    }

    /// The layer's settings (none), as saved in the architecture file.
    public let config = Config()
    /// The layer's name in the model (it has no parameters).
    public var name: String
    private var inputShape: [Int] = []

    /// A flattening layer named `name` in its model.
    public init(name: String = "") { self.name = name }

    /// `input` (N, d1, d2, ...) reshaped to (N, d1 d2 ...): a view, no copy.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        return input.reshaped([input.batchSize, input.sampleCount])
    }

    /// The gradient reshaped back to the input's shape: a view, no copy.
    public func backward(_ outputGradient: Tensor) -> Tensor { outputGradient.reshaped(inputShape) }
}

/// The registry of the Conv module's layer types.
extension LayerRegistry {
    /// The layer types of the Conv module.
    public static var conv: LayerRegistry {
        LayerRegistry([Conv2D.Config.self, MaxPool2D.Config.self, AvgPool2D.Config.self, Flatten.Config.self,
                       GlobalAveragePooling2D.Config.self])
    }
}
