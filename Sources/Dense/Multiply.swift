/// The elementwise product of two or more inputs of one shape: y = x1 * x2 * ... (a gate).
///
/// Backward: dL/dxi = dL/dy * prod_{j != i} xj, one buffer per input, owned by the layer.
public final class Multiply: MergeLayer {
    /// The settings of a `Multiply` layer: none.
    public struct Config: MergeLayerConfig {
        /// `Multiply`, the type name in architecture files.
        public static let typeName = "Multiply"
        /// The config: `Multiply` has no settings.
        public init() {}
        /// Nothing to check: there are no settings.
        public func validate() throws {}
        /// The shape the inputs share.
        /// - Throws: `SynapseError.shape` for fewer than two inputs or inputs of different shapes.
        public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShapes(inputShapes, layer: Self.typeName) }
        /// A `Multiply` layer.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { Multiply(name: "") }
    }

    /// The layer's settings (none), as saved in the architecture file.
    public let config = Config()
    /// The layer's name in the model (it has no parameters).
    public var name: String
    private var inputs: [Tensor] = []
    private var output: Tensor?
    private var gradients: [Tensor] = []

    /// A product of two or more inputs of one shape, named `name` in its model.
    public init(name: String = "") { self.name = name }

    /// The elementwise product of `inputs` (at least one, all of one shape), in the layer's own buffer.
    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        precondition(!inputs.isEmpty && inputs.allSatisfy { $0.shape == inputs[0].shape },
                     "Multiply '\(name)': inputs of shapes \(inputs.map(\.shape))")
        let out = Tensor.reusing(output, shape: inputs[0].shape)
        output = out
        out.assign(inputs[0])
        let (y, n) = (out.data, out.count)
        for x in inputs.dropFirst() {
            let p = x.data
            for i in 0..<n { y[i] *= p[i] }
        }
        self.inputs = inputs
        return out
    }

    /// For each input, the output gradient times the product of the other inputs, in buffers of the
    /// layer's own.
    public func backwardInputs(_ outputGradient: Tensor) -> [Tensor] {
        precondition(!inputs.isEmpty, "Multiply '\(name)': backward before forward")
        let n = outputGradient.count
        for k in inputs.indices {
            let dx = Tensor.reusing(k < gradients.count ? gradients[k] : nil, shape: inputs[k].shape)
            if k < gradients.count { gradients[k] = dx } else { gradients.append(dx) }
            dx.assign(outputGradient)
            let d = dx.data
            for (j, x) in inputs.enumerated() where j != k {
                let p = x.data
                for i in 0..<n { d[i] *= p[i] }
            }
        }
        return Array(gradients.prefix(inputs.count))
    }
}
