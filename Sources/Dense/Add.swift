/// The elementwise sum of two or more inputs of one shape: y = x1 + x2 + ... (a residual
/// block's merge, PyTorch's `a + b`).
///
/// Backward hands every input the output gradient itself (dy/dxi = 1): no copy.
public final class Add: MergeLayer {
    /// The settings of an `Add` layer: none.
    public struct Config: MergeLayerConfig {
        public static let typeName = "Add"
        public init() {}
        public func validate() throws {}
        public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShapes(inputShapes, layer: Self.typeName) }
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { Add(name: "") }
    }

    public let config = Config()
    public var name: String
    private var output: Tensor?
    private var inputCount = 0

    public init(name: String = "") { self.name = name }

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

    public func backwardInputs(_ outputGradient: Tensor) -> [Tensor] {
        Array(repeating: outputGradient, count: inputCount)
    }
}
