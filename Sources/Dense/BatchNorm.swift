import CKernels
/// Batch normalisation (Ioffe and Szegedy, 2015) over features (N x F) or channels (N x C x H x W).
///
///     y = gamma * (x - mean) / sqrt(var + eps) + beta
///
/// In training, mean and (biased) variance come from the batch, per feature or channel, and the
/// running statistics move towards them: running = (1 - momentum) running + momentum batch, with
/// the unbiased variance, as PyTorch's `BatchNorm1d`/`BatchNorm2d` do. In evaluation the running
/// statistics are used. Parameter names match PyTorch: `weight` (gamma), `bias` (beta),
/// `running_mean`, `running_var`.
public final class BatchNorm: Layer {
    /// The settings of a `BatchNorm` layer.
    public struct Config: LayerConfig {
        /// `BatchNorm`, the type name in architecture files.
        public static let typeName = "BatchNorm"
        /// F for N x F input, C for N x C x H x W input.
        public var features: Int
        /// How far the running statistics move towards each batch's, in [0, 1].
        public var momentum: Float
        /// Added to the variance, > 0.
        public var epsilon: Float

        /// A config for `features` features or channels; the defaults are PyTorch's.
        public init(features: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
            (self.features, self.momentum, self.epsilon) = (features, momentum, epsilon)
        }

        /// Throws `SynapseError.invalidArgument` unless `features` is in 1...2^24, `momentum` in [0, 1]
        /// and `epsilon` positive and finite.
        public func validate() throws {
            try LayerLimits.check(features, in: 1...LayerLimits.maxDimension, "features", layer: Self.typeName)
            try LayerLimits.check(momentum, in: 0...1, "momentum", layer: Self.typeName)
            guard epsilon > 0, epsilon.isFinite else {
                throw SynapseError.invalidArgument("BatchNorm 'epsilon' is \(epsilon), it must be positive and finite")
            }
        }

        /// `weight` and `bias`, each (features).
        public var parameterShapes: [(name: String, shape: [Int])] { [("weight", [features]), ("bias", [features])] }
        /// `running_mean` and `running_var`, each (features).
        public var bufferShapes: [(name: String, shape: [Int])] { [("running_mean", [features]), ("running_var", [features])] }

        /// The input shape, which must be (features) or (features, H, W).
        /// - Throws: `SynapseError.shape` for any other input shape.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            guard inputShape.count == 1 || inputShape.count == 3, inputShape[0] == features else {
                throw SynapseError.shape("expects (\(features)) or (\(features), H, W) per sample, got \(inputShape)")
            }
            return inputShape
        }

        /// A `BatchNorm` in `storage` (gamma 1, beta 0; it draws nothing from `random`).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try BatchNorm(self, storage: storage)
        }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model; its parameters are `<name>.weight`, `<name>.bias`.
    public var name: String
    /// The features (N x F input) or channels (N x C x H x W input) normalised.
    public var features: Int { config.features }
    /// The running statistics' update weight, as PyTorch's: running = (1 - m) running + m batch.
    public var momentum: Float { config.momentum }
    /// Added to the variance before its square root.
    public var epsilon: Float { config.epsilon }
    /// gamma, one scale per feature or channel (F): `<name>.weight`, initially 1.
    public let weight: Parameter
    /// beta, one shift per feature or channel (F): `<name>.bias`, initially 0.
    public let bias: Parameter
    /// The running mean per feature or channel (F), used in evaluation: the buffer
    /// `<name>.running_mean`, initially 0, saved but not trained.
    public let runningMean: Parameter
    /// The running (unbiased) variance per feature or channel (F), used in evaluation: the buffer
    /// `<name>.running_var`, initially 1, saved but not trained.
    public let runningVariance: Parameter

    private var normalized: Tensor?
    private var inverseStd: Tensor
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var lastWasTraining = false

    /// Builds the layer `config` describes: gamma 1, beta 0, running mean 0, running variance 1.
    public init(_ config: Config, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        let features = config.features
        weight = storage.parameter("weight", [features], initialValue: 1)
        bias = storage.parameter("bias", [features])
        runningMean = storage.buffer("running_mean", [features])
        runningVariance = storage.buffer("running_var", [features], initialValue: 1)
        inverseStd = Tensor(shape: [features])
    }

    /// A batch normalisation layer with weight 1, bias 0 and running statistics 0 and 1.
    ///
    /// - Parameters:
    ///   - features: F for N x F input, C for N x C x H x W input.
    ///   - momentum: The running statistics' update weight (PyTorch's default 0.1).
    ///   - epsilon: Added to the variance before its square root (PyTorch's default 1e-5).
    ///   - name: The layer's name in the model; empty: `batchnorm_<k>`.
    public convenience init(features: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, name: String = "") throws {
        try self.init(Config(features: features, momentum: momentum, epsilon: epsilon), name: name)
    }

    /// `weight` (gamma) and `bias` (beta).
    public var parameters: [Parameter] { [weight, bias] }
    /// `runningMean` and `runningVariance`.
    public var buffers: [Parameter] { [runningMean, runningVariance] }

    /// Normalises `input` (N x F or N x C x H x W) with the batch's statistics in training (and
    /// updates the running ones), with the running statistics otherwise.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.shape.count >= 2 && input.shape[1] == features,
                     "BatchNorm '\(name)': input \(input.shape) has no \(features) features in dimension 1")
        let (n, c) = (input.shape[0], features)
        let spatial = input.count / (n * c)
        let count = n * spatial
        let out = Tensor.reusing(output, shape: input.shape)
        let xhat = Tensor.reusing(normalized, shape: input.shape)
        (output, normalized) = (out, xhat)
        lastWasTraining = training
        let (x, y, h) = (input.data, out.data, xhat.data)
        let (gamma, beta, inv) = (weight.value.data, bias.value.data, inverseStd.data)
        let (rm, rv) = (runningMean.value.data, runningVariance.value.data)
        let kernels = synapse_kernels().pointee
        let stride = c &* spatial
        for ch in 0..<c {
            var mean: Float, variance: Float
            if training {
                var m: Double = 0, squares: Double = 0
                kernels.batchnorm_moments(x + ch &* spatial, n, stride, spatial, &m, &squares)
                mean = Float(m)
                variance = Float(squares / Double(count))
                let unbiased = count > 1 ? Float(squares / Double(count - 1)) : variance
                rm[ch] = (1 - momentum) * rm[ch] + momentum * mean
                rv[ch] = (1 - momentum) * rv[ch] + momentum * unbiased
            } else {
                (mean, variance) = (rm[ch], rv[ch])
            }
            let invStd = 1 / (variance + epsilon).squareRoot()
            inv[ch] = invStd
            let o = ch &* spatial
            kernels.batchnorm_normalize(x + o, y + o, h + o, n, stride, spatial, mean, invStd, gamma[ch], beta[ch])
        }
        return out
    }

    /// Training mode: dx = gamma * invStd / M * (M dy - sum(dy) - xhat sum(dy xhat)), with M the
    /// number of values per channel. Evaluation mode: dx = gamma * invStd * dy.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let normalized else { preconditionFailure("BatchNorm '\(name)': backward before forward") }
        let (n, c) = (normalized.shape[0], features)
        let spatial = normalized.count / (n * c)
        let count = Float(n * spatial)
        let dx = Tensor.reusing(inputGradient, shape: normalized.shape)
        inputGradient = dx
        let (dy, h, d) = (outputGradient.data, normalized.data, dx.data)
        let (gamma, inv) = (weight.value.data, inverseStd.data)
        let (dGamma, dBeta) = (weight.gradient.data, bias.gradient.data)
        let kernels = synapse_kernels().pointee
        let stride = c &* spatial
        for ch in 0..<c {
            let o = ch &* spatial
            var sums: (dy: Double, dyH: Double) = (0, 0)
            kernels.batchnorm_gradient_sums(dy + o, h + o, n, stride, spatial, &sums.dy, &sums.dyH)
            let (sumDy, sumDyH) = (Float(sums.dy), Float(sums.dyH))
            dGamma[ch] += sumDyH
            dBeta[ch] += sumDy
            let scale = gamma[ch] * inv[ch]
            if lastWasTraining {
                kernels.batchnorm_input_gradient(dy + o, h + o, d + o, n, stride, spatial, scale / count, count, sumDy, sumDyH)
            } else {
                for s in 0..<n {
                    let p = o &+ s &* stride
                    for i in 0..<spatial { d[p + i] = scale * dy[p + i] }
                }
            }
        }
        return dx
    }
}
