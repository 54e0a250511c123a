/// A fully connected layer: y = x W^T + b, applied over the last axis.
///
/// Shapes: input (..., inputFeatures), weight (outputFeatures, inputFeatures) as in PyTorch's
/// `nn.Linear`, bias (outputFeatures), output (..., outputFeatures). Every leading dimension is
/// treated as a row, so a batch of sequences (N, T, F) maps each step.
///
/// Forward is one GEMM; backward is two (dW += dY^T X, dX = dY W) plus a column sum for db
/// (`addColumnSums`).
public final class Linear: Layer {
    public static let typeName = "Linear"
    public var name: String
    public let inputFeatures: Int
    public let outputFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    private let initializer: Initializer

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// - Parameters:
    ///   - initializer: fills the weight; the bias starts at zero. Default Glorot uniform (Keras);
    ///     use `.heNormal` or `.heUniform` before ReLU.
    ///   - random: the generator for the initial weights.
    public init(_ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true,
                initializer: Initializer = .glorotUniform, random: RandomGenerator,
                name: String = "") throws {
        try Linear.checkSizes(inputFeatures, outputFeatures)
        self.name = name
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        self.initializer = initializer
        weight = Parameter(name: "weight", value: Tensor(shape: [outputFeatures, inputFeatures]))
        initializer.fill(weight.value, fanIn: inputFeatures, fanOut: outputFeatures, random: random)
        self.bias = bias ? Parameter(name: "bias", value: Tensor(shape: [outputFeatures])) : nil
    }

    public convenience init(options: LayerOptions, random: RandomGenerator) throws {
        let initName = (try? options.string("initializer")) ?? "glorot_uniform"
        guard let initializer = Initializer(configName: initName) else {
            throw SynapseError.invalidArgument("unknown initializer '\(initName)'")
        }
        try self.init(try options.int("inputFeatures", in: 1...LayerLimits.maxDimension),
                      try options.int("outputFeatures", in: 1...LayerLimits.maxDimension),
                      bias: try options.bool("bias"), initializer: initializer, random: random)
    }

    public static func stateShapes(options: LayerOptions) throws -> [String: [Int]]? {
        let (k, n) = (try options.int("inputFeatures", in: 1...LayerLimits.maxDimension),
                      try options.int("outputFeatures", in: 1...LayerLimits.maxDimension))
        try checkSizes(k, n)
        return try options.bool("bias") ? ["weight": [n, k], "bias": [n]] : ["weight": [n, k]]
    }

    private static func checkSizes(_ inputFeatures: Int, _ outputFeatures: Int) throws {
        try LayerLimits.check(inputFeatures, in: 1...LayerLimits.maxDimension, "input features", layer: typeName)
        try LayerLimits.check(outputFeatures, in: 1...LayerLimits.maxDimension, "output features", layer: typeName)
        _ = try LayerLimits.elementCount([outputFeatures, inputFeatures], of: "\(typeName) weight")
    }

    public var options: LayerOptions {
        ["inputFeatures": .number(Double(inputFeatures)), "outputFeatures": .number(Double(outputFeatures)),
         "bias": .bool(bias != nil), "initializer": .string(initializer.configName)]
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard let last = inputShape.last, last == inputFeatures else {
            throw SynapseError.shape(
                "Linear '\(name)' expects \(inputFeatures) input features, got input shape \(inputShape)")
        }
        return inputShape.dropLast() + [outputFeatures]
    }

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

extension Linear {
    /// Same sizes, initializer name, name and values; its own storage and buffers.
    public func clone() throws -> any Layer {
        let copy = try Linear(inputFeatures, outputFeatures, bias: bias != nil, initializer: initializer,
                              random: RandomGenerator(seed: 0))
        copy.copyState(from: self)
        return copy
    }
}
