/// The elementwise sum of two or more inputs of one shape: y = x1 + x2 + ... (a residual
/// block's merge, PyTorch's `a + b`).
///
/// Backward hands every input the output gradient itself (dy/dxi = 1): no copy.
public final class Add: MergeLayer {
    /// The settings of an `Add` layer: none.
    public struct Config: MergeLayerConfig {
        /// `Add`, the type name in architecture files.
        public static let typeName = "Add"
        /// The config: `Add` has no settings.
        public init() {}
        /// Nothing to check: there are no settings.
        public func validate() throws {}
        /// The shape the inputs share.
        /// - Throws: `SynapseError.shape` for fewer than two inputs or inputs of different shapes.
        public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShapes(inputShapes, layer: Self.typeName) }
        /// An `Add` layer.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { Add(name: "") }
    }

    /// The layer's settings (none), as saved in the architecture file.
    public let config = Config()
    /// The layer's name in the model (it has no parameters).
    public var name: String
    private var output: Tensor?
    private var inputCount = 0

    /// A sum of two or more inputs of one shape, named `name` in its model.
    public init(name: String = "") { self.name = name }

    /// The elementwise sum of `inputs` (at least one, all of one shape), in the layer's own buffer.
    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        precondition(!inputs.isEmpty && inputs.allSatisfy { $0.shape == inputs[0].shape },
                     "Add '\(name)': inputs of shapes \(inputs.map(\.shape))")
        let out = Tensor.reusing(output, shape: inputs[0].shape)
        output = out
        out.assign(inputs[0])
        for x in inputs.dropFirst() { out.add(x) }
        inputCount = inputs.count
        return out
    }

    /// The output gradient for every input (the same tensor, `inputs.count` times).
    public func backwardInputs(_ outputGradient: Tensor) -> [Tensor] {
        Array(repeating: outputGradient, count: inputCount)
    }
}
