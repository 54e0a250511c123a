import CKernels
import Dense

/// How much zero padding a convolution or pooling window gets on each side.
public enum Padding: Equatable, Sendable {
    /// No padding.
    case valid
    /// (k - 1) / 2 on each side, so that stride 1 keeps the size; odd kernels only.
    case same
    /// Explicit padding (height, width).
    case explicit(Int, Int)

    func amounts(kernelHeight: Int, kernelWidth: Int) throws -> (Int, Int) {
        switch self {
        case .valid: return (0, 0)
        case .explicit(let h, let w): return (h, w)
        case .same:
            guard kernelHeight % 2 == 1, kernelWidth % 2 == 1 else {
                throw SynapseError.invalidArgument("'same' padding needs odd kernel sizes, got \(kernelHeight)x\(kernelWidth)")
            }
            return ((kernelHeight - 1) / 2, (kernelWidth - 1) / 2)
        }
    }
}

/// A height and a width (a kernel, a stride, a padding), saved as `[height, width]`.
public struct Extent: Codable, Equatable, Sendable {
    /// The extent along the image's rows (H).
    public var height: Int
    /// The extent along the image's columns (W).
    public var width: Int

    /// An extent of `height` rows and `width` columns.
    public init(_ height: Int, _ width: Int) { (self.height, self.width) = (height, width) }

    /// Reads `[height, width]`.
    /// - Throws: A `DecodingError` unless the value is a list of two whole numbers.
    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        guard c.count == 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "must be a list of 2 whole numbers (height, width)"))
        }
        (height, width) = (try c.decode(Int.self), try c.decode(Int.self))
    }

    /// Writes `[height, width]`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(height)
        try c.encode(width)
    }

    /// Throws unless both sides lie in `range`, naming the layer and the setting.
    func check(in range: ClosedRange<Int>, _ setting: String, layer: String) throws {
        guard range.contains(height), range.contains(width) else {
            throw SynapseError.invalidArgument(
                "\(layer) '\(setting)' is [\(height), \(width)], each must be in \(range.lowerBound)...\(range.upperBound)")
        }
    }

    var pair: (height: Int, width: Int) { (height, width) }
}

/// A 2-D convolution (cross-correlation, as in PyTorch's `nn.Conv2d`) over N x C x H x W batches.
///
///     y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x[n, c, i sh - ph + u, j sw - pw + v]
///
/// Shapes: input (N, C, H, W), weight (O, C, kH, kW), bias (O), output (N, O, oH, oW) with
/// oH = floor((H + 2 ph - kH) / sh) + 1 (see `windowOutputSize`).
///
/// Computed as im2col + GEMM: the images of a batch are unfolded side by side into one column
/// matrix (C kH kW rows, N oH oW columns) and multiplied by the weight in one `cblas_sgemm`.
/// Backward is two more GEMMs (dW += dY col^T, dCol = W^T dY) and col2im. Batches whose column
/// matrix would exceed `columnBudget` floats are processed in chunks of images (one GEMM each).
///
/// Small layers are computed directly instead (the CKernels `conv_forward` and
/// `conv_weight_gradient` kernels, with no column matrix and no GEMM packing), by a rule on the
/// shapes, not by timing: stride 1, padding smaller than the kernel, and at most 16 input and 16
/// output channels (the input gradient is a direct convolution of the padded output gradient
/// with the flipped kernel, whose output channels are the input channels). Those are the layers
/// where im2col's copying and OpenBLAS's packing of tiny matrices outweigh the GEMM: LeNet-5's
/// 1 -> 6 and 6 -> 16. Layers with up to 8 outputs are vectorised over 16 pixels of the padded
/// image's grid, wider ones over their 16 output channels (see Sources/CKernels). Wider layers
/// keep im2col + GEMM, whose packed kernels win once the channels fill the vectors. (What each
/// path costs: README, "Measurements behind the design".)
public final class Conv2D: Layer {
    /// The settings of a `Conv2D` layer.
    public struct Config: LayerConfig {
        /// `Conv2D`, the type name in architecture files.
        public static let typeName = "Conv2D"
        /// C, the input's channels, in 1...2^24.
        public var inputChannels: Int
        /// O, the output's channels (the number of filters), in 1...2^24.
        public var outputChannels: Int
        /// The filter's height and width (kH, kW).
        public var kernelSize: Extent
        /// The step between windows along the height and the width (sh, sw); 1 by default.
        public var stride: Extent
        /// Zeros added on each side (explicit amounts; `Padding.same` is resolved when the config
        /// is made).
        public var padding: Extent
        /// Whether the layer adds one bias per output channel (default true).
        public var bias: Bool
        /// Fills the weight (fanIn = C kH kW, fanOut = O kH kW); the bias starts at 0. He uniform
        /// unless told otherwise, for ReLU networks.
        public var initializer: Initializer

        /// A config for `inputChannels` -> `outputChannels` channels with a `kernelSize` filter (height,
        /// width), `stride` (default 1 x 1) and `padding` (default `.valid`), with a bias unless `bias` is
        /// false, the weight filled by `initializer` (default He uniform).
        /// - Throws: `SynapseError.invalidArgument` for `.same` padding with an even kernel side.
        public init(inputChannels: Int, outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                    padding: Padding = .valid, bias: Bool = true, initializer: Initializer = .heUniform) throws {
            let pad = try padding.amounts(kernelHeight: kernelSize.0, kernelWidth: kernelSize.1)
            (self.inputChannels, self.outputChannels) = (inputChannels, outputChannels)
            (self.kernelSize, self.stride, self.padding) = (Extent(kernelSize.0, kernelSize.1), Extent(stride.0, stride.1), Extent(pad.0, pad.1))
            (self.bias, self.initializer) = (bias, initializer)
        }

        enum CodingKeys: String, CodingKey { case inputChannels, outputChannels, kernelSize, stride, padding, bias, initializer }

        /// Reads the settings (kernel size, stride and padding as `[height, width]`); a file without
        /// `"initializer"` gets He uniform.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            inputChannels = try c.decode(Int.self, forKey: .inputChannels)
            outputChannels = try c.decode(Int.self, forKey: .outputChannels)
            kernelSize = try c.decode(Extent.self, forKey: .kernelSize)
            stride = try c.decode(Extent.self, forKey: .stride)
            padding = try c.decode(Extent.self, forKey: .padding)
            bias = try c.decode(Bool.self, forKey: .bias)
            initializer = try c.decodeIfPresent(Initializer.self, forKey: .initializer) ?? .heUniform
        }

        /// Throws `SynapseError.invalidArgument` unless the channel counts, kernel sides and strides are in
        /// 1...2^24, the padding in 0...2^24, and the weight has at most 2^28 elements.
        public func validate() throws {
            let (range, layer) = (1...LayerLimits.maxDimension, Self.typeName)
            try LayerLimits.check(inputChannels, in: range, "inputChannels", layer: layer)
            try LayerLimits.check(outputChannels, in: range, "outputChannels", layer: layer)
            try kernelSize.check(in: range, "kernelSize", layer: layer)
            try stride.check(in: range, "stride", layer: layer)
            try padding.check(in: 0...LayerLimits.maxDimension, "padding", layer: layer)
            _ = try LayerLimits.elementCount([outputChannels, inputChannels, kernelSize.height, kernelSize.width],
                                             of: "\(layer) weight")
        }

        /// `weight` (O, C, kH, kW) and, with a bias, `bias` (O).
        public var parameterShapes: [(name: String, shape: [Int])] {
            [("weight", [outputChannels, inputChannels, kernelSize.height, kernelSize.width])]
                + (bias ? [("bias", [outputChannels])] : [])
        }

        /// The geometry of the convolution on input samples of `inputShape` (C, H, W).
        public func geometry(for inputShape: [Int]) throws -> WindowGeometry {
            guard inputShape.count == 3, inputShape[0] == inputChannels else {
                throw SynapseError.shape("expects (\(inputChannels), H, W) per sample, got \(inputShape)")
            }
            guard let oh = windowOutputSize(inputShape[1], kernel: kernelSize.height, stride: stride.height, padding: padding.height),
                  let ow = windowOutputSize(inputShape[2], kernel: kernelSize.width, stride: stride.width, padding: padding.width)
            else {
                throw SynapseError.shape("a \(kernelSize.height)x\(kernelSize.width) kernel with padding "
                                         + "\(padding.height),\(padding.width) does not fit a \(inputShape[1])x\(inputShape[2]) input")
            }
            return WindowGeometry(channels: inputChannels, height: inputShape[1], width: inputShape[2],
                                  kernelHeight: kernelSize.height, kernelWidth: kernelSize.width,
                                  strideHeight: stride.height, strideWidth: stride.width,
                                  paddingHeight: padding.height, paddingWidth: padding.width,
                                  outputHeight: oh, outputWidth: ow)
        }

        /// (O, oH, oW) for an input sample (C, H, W).
        /// - Throws: `SynapseError.shape` for another channel count or rank, or a kernel that does not fit.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            let g = try geometry(for: inputShape)
            return [outputChannels, g.outputHeight, g.outputWidth]
        }

        /// A `Conv2D` in `storage`, its weight drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try Conv2D(self, random: random, storage: storage)
        }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model; its parameters are `<name>.weight`, `<name>.bias`.
    public var name: String
    /// C_in, the input's channels.
    public var inputChannels: Int { config.inputChannels }
    /// C_out, the output's channels (one filter each).
    public var outputChannels: Int { config.outputChannels }
    /// The filters' height and width.
    public var kernelSize: (height: Int, width: Int) { config.kernelSize.pair }
    /// The step between windows, down and across.
    public var stride: (height: Int, width: Int) { config.stride.pair }
    /// Zeros added above and below, left and right (`.same` resolved to numbers).
    public var padding: (height: Int, width: Int) { config.padding.pair }
    /// The filters, (C_out, C_in, kH, kW) as PyTorch's `nn.Conv2d.weight`.
    public let weight: Parameter
    /// One bias per output channel, (C_out); nil for a layer built with `bias: false`.
    public let bias: Parameter?

    /// The largest column matrix built at once, in floats (1 MiB). Larger batches go through in
    /// chunks of images, so each chunk's columns are still in cache when the GEMM reads them.
    /// Chosen with conv-benchmark (README, "Measurements behind the design").
    public static let columnBudget = 1 << 18

    /// How the convolution is computed.
    public enum Algorithm: Sendable {
        /// Directly for the small shapes `usesDirectPath(for:)` describes, Winograd F(2x2, 3x3)
        /// for those `usesWinogradPath(for:)` describes, im2col + GEMM otherwise.
        case automatic
        /// Always im2col + GEMM (the reference the fast paths are tested against).
        case im2colGEMM
        /// Winograd F(2x2, 3x3) for every 3x3, stride-1 shape, including those `.automatic`
        /// computes directly (for tests and benchmarks); im2col + GEMM otherwise.
        case winograd
    }

    /// Tile rows of a Winograd chunk: as many as keep its transformed input and products
    /// (16 (C + O) floats a tile) within this many floats (256 KiB, half the L2 cache of the
    /// machine it was measured on), so the 16 products read them from cache.
    public static let winogradBudget = 1 << 16

    /// `.automatic` unless a test asks for the reference path.
    public var algorithm = Algorithm.automatic

    // Direct path buffers: transposed (and flipped) weights, padded images.
    private var transposedWeight: Tensor?
    private var flippedWeight: Tensor?
    private var scratch: Tensor?
    // Winograd buffers: the transformed filters and their gradient (16 x O x C each).
    private var transformedWeight: Tensor?
    private var transformedWeightGradient: Tensor?

    /// The path of the last forward: direct, Winograd or im2col + GEMM.
    private enum Path { case direct, winograd, im2col }
    private var path = Path.im2col

    private var geometry: WindowGeometry?
    private var input: Tensor?
    private var columns: Tensor?
    private var columnsCoverBatch = false
    private var product: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// Builds the layer `config` describes; with `random`, the weight is drawn from its
    /// initializer, else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        let (o, c, k) = (config.outputChannels, config.inputChannels, config.kernelSize)
        weight = storage.parameter("weight", [o, c, k.height, k.width])
        if let random {
            let area = k.height * k.width
            config.initializer.fill(weight.value, fanIn: c * area, fanOut: o * area, random: random)
        }
        bias = config.bias ? storage.parameter("bias", [o]) : nil
    }

    /// A 2-D convolution over N x C x H x W input.
    ///
    /// - Parameters:
    ///   - inputChannels: C, the input's channels.
    ///   - outputChannels: O, the number of filters.
    ///   - kernelSize: The filters' height and width.
    ///   - stride: The step between windows, down and across.
    ///   - padding: `.valid` (none), `.same` (the output keeps the input's size at stride 1) or
    ///     explicit zeros per side.
    ///   - bias: Whether the layer adds one bias per output channel.
    ///   - initializer: fills the weight (fanIn = C kH kW, fanOut = O kH kW); bias starts at 0.
    ///     Default He uniform, for ReLU networks.
    ///   - random: The generator for the initial weights.
    ///   - name: The layer's name in the model; empty: `conv2d_<k>`.
    public convenience init(inputChannels: Int, outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                            padding: Padding = .valid, bias: Bool = true, initializer: Initializer = .heUniform,
                            random: RandomGenerator, name: String = "") throws {
        try self.init(Config(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: kernelSize,
                             stride: stride, padding: padding, bias: bias, initializer: initializer),
                      random: random, name: name)
    }

    /// A convolution with a square kernel and equal strides: `Conv2D(1, 6, kernelSize: 5, random: rng)`
    /// for LeNet's first layer. The arguments are those of
    /// `init(inputChannels:outputChannels:kernelSize:stride:padding:bias:initializer:random:name:)`.
    /// - Throws: `SynapseError.invalidArgument` for a setting out of range or `.same` padding with an
    ///   even kernel.
    public convenience init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Padding = .valid, bias: Bool = true, initializer: Initializer = .heUniform,
                            random: RandomGenerator, name: String = "") throws {
        try self.init(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: (kernelSize, kernelSize),
                      stride: (stride, stride), padding: padding, bias: bias, initializer: initializer,
                      random: random, name: name)
    }

    /// `weight`, then `bias` if there is one.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    func geometry(for inputShape: [Int]) throws -> WindowGeometry {
        do { return try config.geometry(for: inputShape) } catch SynapseError.shape(let message) {
            throw SynapseError.shape("Conv2D '\(name)' \(message)")
        }
    }

    /// Whether inputs of geometry `g` go through the direct kernels: stride 1, padding below the
    /// kernel size, at most 16 input and 16 output channels, and `algorithm` `.automatic`.
    public func usesDirectPath(for g: WindowGeometry) -> Bool {
        algorithm == .automatic && g.strideHeight == 1 && g.strideWidth == 1
            && g.paddingHeight < g.kernelHeight && g.paddingWidth < g.kernelWidth
            && g.channels <= 16 && outputChannels <= 16
    }

    /// Whether inputs of geometry `g` go through Winograd F(2x2, 3x3): a 3x3 kernel at stride 1
    /// (any padding), 8-256 input and output channels, and not the direct path; with `algorithm`
    /// `.winograd`, every 3x3 stride-1 shape.
    public func usesWinogradPath(for g: WindowGeometry) -> Bool {
        let fits = g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
        switch algorithm {
        case .im2colGEMM: return false
        case .winograd: return fits
        case .automatic:
            return fits && (8...256).contains(g.channels) && (8...256).contains(outputChannels) && !usesDirectPath(for: g)
        }
    }

    private func winogradShape(_ g: WindowGeometry, batch: Int) -> SynapseWinogradShape {
        SynapseWinogradShape(n: batch, c: g.channels, h: g.height, w: g.width, o: outputChannels,
                             ph: g.paddingHeight, pw: g.paddingWidth, oh: g.outputHeight, ow: g.outputWidth)
    }

    /// (tile rows of the batch, tiles a row, tile rows a chunk).
    private func winogradChunks(_ g: WindowGeometry, batch: Int) -> (rows: Int, tiles: Int, chunk: Int) {
        let tiles = (g.outputWidth + 1) / 2, rows = batch * ((g.outputHeight + 1) / 2)
        let perRow = 16 * tiles * (g.channels + outputChannels)
        return (rows, tiles, max(1, min(rows, Conv2D.winogradBudget / perRow)))
    }

    /// Winograd F(2x2, 3x3) forward, chunk by chunk of tile rows: input transform, 16 products
    /// M[xi] (O x tiles) = U[xi] (O x C) V[xi] (C x tiles), output transform (see Sources/CKernels).
    private func winogradForward(_ input: Tensor, _ g: WindowGeometry) -> Tensor {
        let n = input.batchSize
        var s = winogradShape(g, batch: n)
        let (o, c) = (outputChannels, g.channels)
        let (rows, tiles, chunk) = winogradChunks(g, batch: n)
        let width = chunk * tiles
        let out = Tensor.reusing(output, shape: [n, o, g.outputHeight, g.outputWidth])
        let u = Tensor.reusing(transformedWeight, shape: [16 * o * c])
        let v = Tensor.reusing(columns, shape: [16 * c * width])
        let m = Tensor.reusing(product, shape: [16 * o * width])
        (output, transformedWeight, columns, product, self.input) = (out, u, v, m, input)
        synapse_winograd_filter(weight.value.data, o, c, u.data)
        let kernels = synapse_kernels().pointee
        for r0 in Swift.stride(from: 0, to: rows, by: chunk) {
            let r1 = min(rows, r0 + chunk), count = (r1 - r0) * tiles
            kernels.winograd_input(&s, input.data, r0, r1, v.data, width)
            for xi in 0..<16 {
                BLAS.gemm(m: o, n: count, k: c, u.data + xi * o * c, v.data + xi * c * width, ldb: width,
                          m.data + xi * o * width, ldc: width)
            }
            kernels.winograd_output(&s, m.data, width, r0, r1, bias?.value.data, out.data)
        }
        columnsCoverBatch = chunk == rows
        return out
    }

    /// The adjoint of `winogradForward`, chunk by chunk: dM = A dY A^T; dU[xi] += dM[xi] V[xi]^T;
    /// dV[xi] = U[xi]^T dM[xi] (over the transformed input, recomputed unless it covers the batch);
    /// dx += B dV B^T; after the last chunk dW += G^T dU G.
    private func winogradBackward(_ outputGradient: Tensor, inputGradient wanted: Bool) -> Tensor? {
        guard let input, let g = geometry, let v = columns, let m = product, let u = transformedWeight else {
            preconditionFailure("Conv2D '\(name)': backward before forward")
        }
        let n = input.batchSize
        var s = winogradShape(g, batch: n)
        let (o, c) = (outputChannels, g.channels)
        let (rows, tiles, chunk) = winogradChunks(g, batch: n)
        let width = chunk * tiles
        let du = Tensor.reusing(transformedWeightGradient, shape: [16 * o * c])
        transformedWeightGradient = du
        let dx = wanted ? Tensor.reusing(inputGradient, shape: input.shape) : nil
        if let dx { inputGradient = dx; dx.fill(0) }
        synapse_winograd_filter(weight.value.data, o, c, u.data)
        let kernels = synapse_kernels().pointee
        for r0 in Swift.stride(from: 0, to: rows, by: chunk) {
            let r1 = min(rows, r0 + chunk), count = (r1 - r0) * tiles
            if !columnsCoverBatch { kernels.winograd_input(&s, input.data, r0, r1, v.data, width) }
            kernels.winograd_output_gradient(&s, outputGradient.data, r0, r1, m.data, width)
            for xi in 0..<16 {
                // dU[xi] (O x C) += dM[xi] (O x count) V[xi]^T (count x C)
                BLAS.gemm(transposeB: true, m: o, n: c, k: count, m.data + xi * o * width, lda: width,
                          v.data + xi * c * width, ldb: width, beta: r0 == 0 ? 0 : 1, du.data + xi * o * c)
            }
            guard let dx else { continue }
            for xi in 0..<16 {
                // dV[xi] (C x count) = U[xi]^T (C x O) dM[xi] (O x count), over the transformed input.
                BLAS.gemm(transposeA: true, m: c, n: count, k: o, u.data + xi * o * c, m.data + xi * o * width,
                          ldb: width, v.data + xi * c * width, ldc: width)
            }
            kernels.winograd_input_gradient(&s, v.data, width, r0, r1, dx.data)
            // The transformed input now holds gradients; another backward needs it again.
            columnsCoverBatch = false
        }
        synapse_winograd_filter_gradient(du.data, o, c, weight.gradient.data)
        if let bias {
            let area = g.outputArea
            for i in 0..<n {
                addRowSums(of: outputGradient.data + i * o * area, rows: o, columns: area, into: bias.gradient.data)
            }
        }
        return dx
    }

    private func directShape(_ g: WindowGeometry, batch: Int) -> SynapseConvShape {
        SynapseConvShape(n: batch, c: g.channels, h: g.height, w: g.width, o: outputChannels,
                         kh: g.kernelHeight, kw: g.kernelWidth, ph: g.paddingHeight, pw: g.paddingWidth,
                         oh: g.outputHeight, ow: g.outputWidth)
    }

    private func directForward(_ input: Tensor, _ g: WindowGeometry) -> Tensor {
        let n = input.batchSize
        var s = directShape(g, batch: n)
        let out = Tensor.reusing(output, shape: [n, outputChannels, g.outputHeight, g.outputWidth])
        let wt = Tensor.reusing(transposedWeight, shape: [g.patchSize * synapse_conv_lanes(outputChannels)])
        let work = Tensor.reusing(scratch, shape: [max(synapse_conv_forward_scratch(&s), 1)])
        (output, transposedWeight, scratch, self.input) = (out, wt, work, input)
        synapse_conv_transpose(weight.value.data, s.o, s.c, s.kh, s.kw, wt.data)
        synapse_kernels().pointee.conv_forward(&s, input.data, wt.data, bias?.value.data, out.data, work.data)
        return out
    }

    private func directBackward(_ outputGradient: Tensor, inputGradient wanted: Bool) -> Tensor? {
        guard let input, let g = geometry else { preconditionFailure("Conv2D '\(name)': backward before forward") }
        var s = directShape(g, batch: input.batchSize)
        var t = synapse_conv_input_gradient_shape(&s)
        let size = max(synapse_conv_weight_scratch(&s), wanted ? synapse_conv_forward_scratch(&t) : 0)
        let work = Tensor.reusing(scratch, shape: [size])
        scratch = work
        let kernels = synapse_kernels().pointee
        kernels.conv_weight_gradient(&s, input.data, outputGradient.data, weight.gradient.data, bias?.gradient.data,
                                     work.data)
        guard wanted else { return nil }
        let dx = Tensor.reusing(inputGradient, shape: input.shape)
        let wf = Tensor.reusing(flippedWeight, shape: [outputChannels * g.kernelHeight * g.kernelWidth
                                                        * synapse_conv_lanes(g.channels)])
        (inputGradient, flippedWeight) = (dx, wf)
        synapse_conv_flip(weight.value.data, s.o, s.c, s.kh, s.kw, wf.data)
        kernels.conv_forward(&t, outputGradient.data, wf.data, nil, dx.data, work.data)
        return dx
    }

    /// Images per GEMM: the whole batch when its column matrix fits the budget.
    private func chunkSize(_ g: WindowGeometry, batch: Int) -> Int {
        max(1, min(batch, Conv2D.columnBudget / max(g.patchSize * g.outputArea, 1)))
    }

    /// Convolves `input` (N, C, H, W) into (N, O, oH, oW), in the layer's own buffer: im2col + GEMM,
    /// or the direct kernels for small layers.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let sample = input.sampleShape
        if geometry.map({ [$0.channels, $0.height, $0.width] != sample }) ?? true {
            // Invariant: a model checks every layer's input shape before it runs (Sequential's
            // forward); a layer used on its own is held to the same rule here.
            do { geometry = try geometry(for: sample) } catch {
                preconditionFailure("\(error) (input batch \(input.shape))")
            }
        }
        let g = geometry!
        path = usesDirectPath(for: g) ? .direct : usesWinogradPath(for: g) ? .winograd : .im2col
        switch path {
        case .direct: return directForward(input, g)
        case .winograd: return winogradForward(input, g)
        case .im2col: break
        }
        let n = input.batchSize
        let (o, area, patch) = (outputChannels, g.outputArea, g.patchSize)
        let chunk = chunkSize(g, batch: n)
        let out = Tensor.reusing(output, shape: [n, o, g.outputHeight, g.outputWidth])
        let cols = Tensor.reusing(columns, shape: [patch, chunk * area])
        let y = Tensor.reusing(product, shape: [o, chunk * area])
        (output, columns, product, self.input) = (out, cols, y, input)
        columnsCoverBatch = chunk == n
        let inputSize = input.sampleCount
        for start in Swift.stride(from: 0, to: n, by: chunk) {
            let count = min(chunk, n - start)
            let width = count * area
            for i in 0..<count {
                im2col(input.data + (start + i) * inputSize, g, into: cols.data + i * area, rowStride: width)
            }
            // y (O x count*area) = W (O x patch) * cols (patch x count*area)
            BLAS.gemm(m: o, n: width, k: patch, weight.value.data, cols.data, y.data)
            // Scatter to N x O x oH x oW, adding the bias.
            for i in 0..<count {
                let destination = out.data + (start + i) * o * area
                for c in 0..<o {
                    let d = destination + c * area, s = y.data + c * width + i * area
                    let b = bias?.value.data[c] ?? 0
                    for p in 0..<area { d[p] = s[p] + b }
                }
            }
        }
        return out
    }

    /// Adds dW and db into the parameter gradients and returns dX (N, C, H, W).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, inputGradient: true)!
    }

    /// Adds dW and db and skips dX (no col2im), which the first layer of a model does not need.
    public func backwardParameters(_ outputGradient: Tensor) {
        _ = backward(outputGradient, inputGradient: false)
    }

    private func backward(_ outputGradient: Tensor, inputGradient wanted: Bool) -> Tensor? {
        switch path {
        case .direct: return directBackward(outputGradient, inputGradient: wanted)
        case .winograd: return winogradBackward(outputGradient, inputGradient: wanted)
        case .im2col: break
        }
        guard let input, let g = geometry, let cols = columns, let y = product else {
            preconditionFailure("Conv2D '\(name)': backward before forward")
        }
        let n = input.batchSize
        let (o, area, patch) = (outputChannels, g.outputArea, g.patchSize)
        let chunk = chunkSize(g, batch: n)
        let dx = wanted ? Tensor.reusing(inputGradient, shape: input.shape) : nil
        if let dx { inputGradient = dx; dx.fill(0) }
        let inputSize = input.sampleCount
        let dy = outputGradient.data
        for start in Swift.stride(from: 0, to: n, by: chunk) {
            let count = min(chunk, n - start)
            let width = count * area
            if !columnsCoverBatch {
                for i in 0..<count {
                    im2col(input.data + (start + i) * inputSize, g, into: cols.data + i * area, rowStride: width)
                }
            }
            // Gather dY into O x count*area (reusing the forward product buffer), summing db.
            for i in 0..<count {
                let source = dy + (start + i) * o * area
                for c in 0..<o {
                    (y.data + c * width + i * area).update(from: source + c * area, count: area)
                }
            }
            if let bias { addRowSums(of: y.data, rows: o, columns: width, into: bias.gradient.data) }
            // dW (O x patch) += dY (O x width) * cols^T (width x patch)
            BLAS.gemm(transposeB: true, m: o, n: patch, k: width, y.data, cols.data, beta: 1, weight.gradient.data)
            guard let dx else { continue }
            // dCols (patch x width) = W^T (patch x O) * dY (O x width), written over the columns.
            BLAS.gemm(transposeA: true, m: patch, n: width, k: o, weight.value.data, y.data, cols.data)
            for i in 0..<count {
                col2im(cols.data + i * area, rowStride: width, g, into: dx.data + (start + i) * inputSize)
            }
            // The columns now hold gradients; another backward needs the forward columns again.
            columnsCoverBatch = false
        }
        return dx
    }
}

extension Conv2D {
    /// The same algorithm.
    public func adoptState(of source: any Layer) {
        if let source = source as? Conv2D { algorithm = source.algorithm }
    }
}
