/// Joins two or more inputs along one axis of the sample (PyTorch's `torch.cat(dim: axis + 1)`,
/// Keras's `Concatenate`): the inputs agree on every other axis.
///
/// Shapes: inputs (N, ..., di, ...) with di at `axis`, output (N, ..., d1 + d2 + ..., ...). The
/// axis counts the sample's axes, the batch axis excluded: 0 is the channels of an image (C, H,
/// W), -1 the last axis (the features of a vector). Forward and backward are block copies.
public final class Concatenate: MergeLayer {
    /// The settings of a `Concatenate` layer.
    public struct Config: MergeLayerConfig {
        /// `Concatenate`, the type name in architecture files.
        public static let typeName = "Concatenate"
        /// The sample axis to join along: 0 the first after the batch axis, negative from the end.
        public var axis: Int

        /// A config joining along `axis` of the sample (default -1, the last).
        public init(axis: Int = -1) { self.axis = axis }

        /// Throws `SynapseError.invalidArgument` unless `axis` is in -16...15.
        public func validate() throws {
            try LayerLimits.check(axis, in: -16...15, "axis", layer: Self.typeName)
        }

        /// The axis as an index into a sample shape of `rank` axes, if it lies inside.
        func resolvedAxis(rank: Int) -> Int? {
            let a = axis < 0 ? axis + rank : axis
            return (0..<rank).contains(a) ? a : nil
        }

        /// The inputs' common shape with the axis's extents summed.
        /// - Throws: `SynapseError.shape` for fewer than two inputs, an axis outside the first input's
        ///   shape, inputs of different ranks or disagreeing on another axis, or an output too large.
        public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
            guard inputShapes.count >= 2, let first = inputShapes.first else {
                throw SynapseError.shape("Concatenate takes at least 2 inputs, got \(inputShapes.count)")
            }
            guard let a = resolvedAxis(rank: first.count) else {
                throw SynapseError.shape("Concatenate axis \(axis) is outside input 1's shape \(first)")
            }
            var out = first
            for (k, shape) in inputShapes.enumerated().dropFirst() {
                var other = shape, mine = first
                guard shape.count == first.count else {
                    throw SynapseError.shape("Concatenate along axis \(axis): input 1 has shape \(first), input \(k + 1) has \(shape) (another rank)")
                }
                other[a] = 0
                mine[a] = 0
                guard other == mine else {
                    throw SynapseError.shape("Concatenate along axis \(axis): input 1 has shape \(first), input \(k + 1) has \(shape); all other axes must agree")
                }
                out[a] += shape[a]
            }
            _ = try LayerLimits.elementCount(out, of: "Concatenate output")
            return out
        }

        /// A `Concatenate` layer along `axis`.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { try Concatenate(self) }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model (it has no parameters).
    public var name: String
    private var output: Tensor?
    private var gradients: [Tensor] = []
    private var inputShapes: [[Int]] = []

    /// Builds the layer `config` describes, named `name` in its model.
    /// - Throws: `SynapseError.invalidArgument` when the axis is outside -16...15.
    public init(_ config: Config, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
    }

    /// A layer joining its inputs along `axis` of the sample (0 the first axis after the batch,
    /// negative from the end; default -1, the last), named `name` in its model.
    /// - Throws: `SynapseError.invalidArgument` when the axis is outside -16...15.
    public convenience init(axis: Int = -1, name: String = "") throws { try self.init(Config(axis: axis), name: name) }

    /// (blocks before the axis including the batch, each input's extent times the inner size).
    private func layout(_ shapes: [[Int]]) -> (outer: Int, widths: [Int]) {
        let sample = Array(shapes[0].dropFirst())
        let a = config.resolvedAxis(rank: sample.count)!
        let outer = shapes[0][0] * sample[..<a].reduce(1, *)
        let inner = sample[(a + 1)...].reduce(1, *)
        return (outer, shapes.map { $0[a + 1] * inner })
    }

    /// The inputs joined along the axis, in the layer's own buffer; they must agree on every other
    /// axis (a mismatch is a precondition failure: check shapes with `outputShape(for:)` first).
    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let shapes = inputs.map(\.shape)
        guard let sampleShape = try? config.outputShape(for: shapes.map { Array($0.dropFirst()) }),
              shapes.allSatisfy({ $0.first == shapes[0].first }) else {
            preconditionFailure("Concatenate '\(name)': inputs of shapes \(shapes)")
        }
        let out = Tensor.reusing(output, shape: [shapes[0][0]] + sampleShape)
        output = out
        inputShapes = shapes
        let (outer, widths) = layout(shapes)
        let total = widths.reduce(0, +)
        var start = 0
        for (x, w) in zip(inputs, widths) {
            let (src, dst) = (x.data, out.data + start)
            for o in 0..<outer { (dst + o &* total).update(from: src + o &* w, count: w) }
            start += w
        }
        return out
    }

    /// Each input's slice of the output gradient, in input order.
    public func backwardInputs(_ outputGradient: Tensor) -> [Tensor] {
        precondition(!inputShapes.isEmpty, "Concatenate '\(name)': backward before forward")
        let (outer, widths) = layout(inputShapes)
        let total = widths.reduce(0, +)
        var start = 0
        for (k, (shape, w)) in zip(inputShapes, widths).enumerated() {
            let dx = Tensor.reusing(k < gradients.count ? gradients[k] : nil, shape: shape)
            if k < gradients.count { gradients[k] = dx } else { gradients.append(dx) }
            let (src, dst) = (outputGradient.data + start, dx.data)
            for o in 0..<outer { (dst + o &* w).update(from: src + o &* total, count: w) }
            start += w
        }
        return Array(gradients.prefix(inputShapes.count))
    }
}
