import Dense

/// The mean of every channel over its whole plane: (N, C, H, W) -> (N, C), as PyTorch's
/// `nn.AdaptiveAvgPool2d(1)` followed by `flatten(1)`, Keras's `GlobalAveragePooling2D`.
///
///     y[n, c] = 1 / (H W) sum_{i, j} x[n, c, i, j]
///
/// Backward spreads each gradient evenly: dx[n, c, i, j] = dy[n, c] / (H W).
public final class GlobalAveragePooling2D: Layer {
    /// A `GlobalAveragePooling2D` layer has no settings.
    public struct Config: LayerConfig {
        /// `GlobalAveragePooling2D`, the type name in architecture files.
        public static let typeName = "GlobalAveragePooling2D"
        /// The config: the layer has no settings.
        public init() {}
        /// Nothing to check: there are no settings.
        public func validate() throws {}
        /// (C) for an input sample (C, H, W).
        /// - Throws: `SynapseError.shape` for an input sample of another rank.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            guard inputShape.count == 3 else {
                throw SynapseError.shape("expects (C, H, W) per sample, got \(inputShape)")
            }
            return [inputShape[0]]
        }
        /// A `GlobalAveragePooling2D` layer.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { GlobalAveragePooling2D() }
    }

    /// The layer's settings (none), as saved in the architecture file.
    public let config = Config()
    /// The layer's name in the model (it has no parameters).
    public var name: String
    private var inputShape: [Int] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// A global average pooling layer named `name` in its model.
    public init(name: String = "") { self.name = name }

    /// Averages each channel of `input` (N, C, H, W) into (N, C), in the layer's own buffer.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.shape.count == 4, "GlobalAveragePooling2D '\(name)': input \(input.shape) is not (N, C, H, W)")
        inputShape = input.shape
        let planes = input.shape[0] * input.shape[1], size = input.shape[2] * input.shape[3]
        let out = Tensor.reusing(output, shape: [input.shape[0], input.shape[1]])
        output = out
        let (x, y) = (input.data, out.data)
        let scale = 1 / Float(size)
        for p in 0..<planes {
            let plane = x + p &* size
            var sum: Float = 0
            for i in 0..<size { sum += plane[i] }
            y[p] = sum * scale
        }
        return out
    }

    /// Spreads each channel's gradient (N, C) evenly over its H x W plane: dX (N, C, H, W).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        let dx = Tensor.reusing(inputGradient, shape: inputShape)
        inputGradient = dx
        let planes = inputShape[0] * inputShape[1], size = inputShape[2] * inputShape[3]
        let (dy, d) = (outputGradient.data, dx.data)
        let scale = 1 / Float(size)
        for p in 0..<planes { (d + p &* size).update(repeating: dy[p] * scale, count: size) }
        return dx
    }
}
