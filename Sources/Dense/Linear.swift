/// A fully connected layer: y = x W^T + b, applied over the last axis.
///
/// Shapes: input (..., inputFeatures), weight (outputFeatures, inputFeatures) as in PyTorch's
/// `nn.Linear`, bias (outputFeatures), output (..., outputFeatures). Every leading dimension is
/// treated as a row, so a batch of sequences (N, T, F) maps each step.
///
/// Forward is one GEMM; backward is two (dW += dY^T X, dX = dY W) plus a column sum for db
/// (`addColumnSums`).
public final class Linear: Layer {
    /// The settings of a `Linear` layer.
    public struct Config: LayerConfig {
        /// `Linear`, the type name in architecture files.
        public static let typeName = "Linear"
        /// The size of the input's last axis, in 1...2^24.
        public var inputFeatures: Int
        /// The size of the output's last axis, in 1...2^24.
        public var outputFeatures: Int
        /// Whether the layer adds a bias (default true).
        public var bias: Bool
        /// Fills the weight; the bias starts at zero. Glorot uniform (Keras's default) unless
        /// told otherwise; use `.heNormal` or `.heUniform` before ReLU.
        public var initializer: Initializer

        /// A config mapping `inputFeatures` to `outputFeatures` features, with a bias unless `bias` is
        /// false, the weight filled by `initializer` (default Glorot uniform).
        public init(inputFeatures: Int, outputFeatures: Int, bias: Bool = true, initializer: Initializer = .glorotUniform) {
            (self.inputFeatures, self.outputFeatures, self.bias, self.initializer) = (inputFeatures, outputFeatures, bias, initializer)
        }

        enum CodingKeys: String, CodingKey { case inputFeatures, outputFeatures, bias, initializer }

        /// Reads the settings; a file without `"initializer"` gets Glorot uniform.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(inputFeatures: try c.decode(Int.self, forKey: .inputFeatures),
                      outputFeatures: try c.decode(Int.self, forKey: .outputFeatures),
                      bias: try c.decode(Bool.self, forKey: .bias),
                      initializer: try c.decodeIfPresent(Initializer.self, forKey: .initializer) ?? .glorotUniform)
        }

        /// Throws `SynapseError.invalidArgument` unless both feature counts are in 1...2^24 and the weight
        /// has at most 2^28 elements.
        public func validate() throws {
            try LayerLimits.check(inputFeatures, in: 1...LayerLimits.maxDimension, "inputFeatures", layer: Self.typeName)
            try LayerLimits.check(outputFeatures, in: 1...LayerLimits.maxDimension, "outputFeatures", layer: Self.typeName)
            _ = try LayerLimits.elementCount([outputFeatures, inputFeatures], of: "\(Self.typeName) weight")
        }

        /// `weight` (outputFeatures, inputFeatures) and, with a bias, `bias` (outputFeatures).
        public var parameterShapes: [(name: String, shape: [Int])] {
            [("weight", [outputFeatures, inputFeatures])] + (bias ? [("bias", [outputFeatures])] : [])
        }

        /// The input shape with its last axis `outputFeatures`.
        /// - Throws: `SynapseError.shape` unless the input's last axis is `inputFeatures`.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            guard let last = inputShape.last, last == inputFeatures else {
                throw SynapseError.shape("expects \(inputFeatures) input features, got input shape \(inputShape)")
            }
            return inputShape.dropLast() + [outputFeatures]
        }

        /// A `Linear` in `storage`, its weight drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try Linear(self, random: random, storage: storage)
        }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model; its parameters are `<name>.weight`, `<name>.bias`.
    public var name: String
    /// F_in, the size of the input's last axis.
    public var inputFeatures: Int { config.inputFeatures }
    /// F_out, the size of the output's last axis.
    public var outputFeatures: Int { config.outputFeatures }
    /// W, (F_out, F_in) as PyTorch's `nn.Linear.weight`.
    public let weight: Parameter
    /// b, (F_out); nil for a layer built with `bias: false`.
    public let bias: Parameter?

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// Builds the layer `config` describes; with `random`, the weight is drawn from its
    /// initializer (fanIn = inputFeatures, fanOut = outputFeatures), else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        weight = storage.parameter("weight", [config.outputFeatures, config.inputFeatures])
        if let random {
            config.initializer.fill(weight.value, fanIn: config.inputFeatures, fanOut: config.outputFeatures, random: random)
        }
        bias = config.bias ? storage.parameter("bias", [config.outputFeatures]) : nil
    }

    /// A fully connected layer, y = x W^T + b over the last axis.
    ///
    /// - Parameters:
    ///   - inputFeatures: F_in, the size of the input's last axis.
    ///   - outputFeatures: F_out, the size of the output's last axis.
    ///   - bias: Whether the layer adds b.
    ///   - initializer: fills the weight; the bias starts at zero. Default Glorot uniform (Keras);
    ///     use `.heNormal` or `.heUniform` before ReLU.
    ///   - random: the generator for the initial weights.
    ///   - name: The layer's name in the model; empty: `linear_<k>`.
    public convenience init(_ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true,
                            initializer: Initializer = .glorotUniform, random: RandomGenerator,
                            name: String = "") throws {
        try self.init(Config(inputFeatures: inputFeatures, outputFeatures: outputFeatures, bias: bias,
                             initializer: initializer), random: random, name: name)
    }

    /// `weight`, then `bias` if there is one.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// x W^T + b over the last axis of `input` (..., inputFeatures) -> (..., outputFeatures), in the
    /// layer's own buffer: one GEMM.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.shape.last == inputFeatures,
                     "Linear '\(name)': input \(input.shape) does not end in \(inputFeatures)")
        let rows = input.count / inputFeatures
        let out = Tensor.reusing(output, shape: input.shape.dropLast() + [outputFeatures])
        output = out
        self.input = input
        let (n, y) = (outputFeatures, out.data)
        if let bias {
            let b = bias.value.data
            for r in 0..<rows { (y + r &* n).update(from: b, count: n) }
        }
        BLAS.gemm(transposeB: true, m: rows, n: n, k: inputFeatures,
                  input.data, weight.value.data, beta: bias == nil ? 0 : 1, y)
        return out
    }

    /// Adds dW = dY^T X and db (column sums of dY) into the parameter gradients and returns
    /// dX = dY W, of the input's shape.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        accumulateParameterGradients(outputGradient)
        guard let input else { preconditionFailure("Linear '\(name)': backward before forward") }
        // dX (rows x k) = dY (rows x n) * W (n x k)
        let dx = Tensor.reusing(inputGradient, shape: input.shape)
        inputGradient = dx
        BLAS.gemm(m: input.count / inputFeatures, n: inputFeatures, k: outputFeatures,
                  outputGradient.data, weight.value.data, dx.data)
        return dx
    }

    /// Adds dW and db and skips dX, which the first layer of a model does not need.
    public func backwardParameters(_ outputGradient: Tensor) { accumulateParameterGradients(outputGradient) }

    private func accumulateParameterGradients(_ outputGradient: Tensor) {
        guard let input else { preconditionFailure("Linear '\(name)': backward before forward") }
        let rows = input.count / inputFeatures
        let (n, k) = (outputFeatures, inputFeatures)
        let dy = outputGradient.data
        // dW (n x k) += dY^T (n x rows) * X (rows x k)
        BLAS.gemm(transposeA: true, m: n, n: k, k: rows, dy, input.data, beta: 1, weight.gradient.data)
        if let bias { addColumnSums(of: dy, rows: rows, columns: n, into: bias.gradient.data) }
    }
}
