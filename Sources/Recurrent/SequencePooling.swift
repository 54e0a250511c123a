import Dense

/// The mean or the maximum of each feature over a sequence's real time steps: (N, T, F) -> (N, F),
/// Keras's `GlobalAveragePooling1D` and `GlobalMaxPooling1D` with a mask.
///
/// Put after a many-to-many recurrent layer it reads every step's state instead of the last one
/// only. It honours the padding mask in force (`SequenceMasking`) and ends it:
///
///     mean: y[n, f] = 1 / |R_n| sum_{t in R_n} x[n, t, f]
///     max:  y[n, f] = max_{t in R_n} x[n, t, f]
///
/// where R_n is sample n's real steps (every step without a mask). A sample with no real step
/// gives zeros. Backward: the mean spreads dy[n, f] / |R_n| over the real steps; the maximum
/// routes dy[n, f] to the first real step that holds it. Padded steps get a zero gradient.
public final class SequencePooling: Layer, SequenceMasking {
    /// How the time steps are reduced.
    public enum Reduction: String, Codable, Sendable, CaseIterable {
        /// The mean over the real steps.
        case mean
        /// The maximum over the real steps.
        case max
    }

    /// The settings of a `SequencePooling` layer.
    public struct Config: LayerConfig {
        /// `SequencePooling`, the type name in architecture files.
        public static let typeName = "SequencePooling"
        /// Mean or maximum over the real time steps.
        public var reduction: Reduction

        /// A config that reduces the time axis by `reduction`.
        public init(reduction: Reduction) { self.reduction = reduction }

        /// Nothing to check: the one setting is an enumeration.
        public func validate() throws {}

        /// (F) for an input sample (T, F).
        /// - Throws: `SynapseError.shape` for an input sample of another rank.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            guard inputShape.count == 2 else {
                throw SynapseError.shape("expects (time, features) per sample, got \(inputShape)")
            }
            return [inputShape[1]]
        }

        /// A `SequencePooling` layer.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { SequencePooling(self) }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model (it has no parameters).
    public var name: String
    /// Mean or maximum (`Config.reduction`).
    public var reduction: Reduction { config.reduction }
    /// The padding mask (N, T; 1 real, 0 padding) for the next `forward`, or nil for none.
    public var inputMask: Tensor?
    /// Nil: the time axis is gone.
    public var outputMask: Tensor? { nil }

    private var inputShape: [Int] = []
    private var output: Tensor?
    private var inputGradient: Tensor?
    /// Per sample, 1 / |R_n| (0 for none) for the mean; per (n, f), the step of the maximum (-1
    /// for none) for the max.
    private var scales: [Float] = []
    private var steps: [Int32] = []

    /// A layer of `config` named `name` in its model.
    public init(_ config: Config, name: String = "") {
        (self.config, self.name) = (config, name)
    }

    /// A layer that reduces the time axis by `reduction`.
    public convenience init(_ reduction: Reduction, name: String = "") {
        self.init(Config(reduction: reduction), name: name)
    }

    /// Reduces `input` (N, T, F) over its real steps into (N, F), in the layer's own buffer.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.shape.count == 3, "SequencePooling '\(name)': input \(input.shape) is not (N, T, F)")
        inputShape = input.shape
        let (n, t, f) = (input.shape[0], input.shape[1], input.shape[2])
        if let inputMask {
            precondition(inputMask.shape == [n, t], "SequencePooling '\(name)': mask \(inputMask.shape) is not (\(n), \(t))")
        }
        let out = Tensor.reusing(output, shape: [n, f])
        output = out
        let (x, y, mask) = (input.data, out.data, inputMask?.data)
        y.update(repeating: 0, count: n &* f)
        switch reduction {
        case .mean:
            if scales.count != n { scales = [Float](repeating: 0, count: n) }
            for sample in 0..<n {
                let row = y + sample &* f
                var real = 0
                for step in 0..<t where mask?[sample &* t &+ step] ?? 1 != 0 {
                    let source = x + (sample &* t &+ step) &* f
                    for j in 0..<f { row[j] += source[j] }
                    real += 1
                }
                let scale: Float = real == 0 ? 0 : 1 / Float(real)
                scales[sample] = scale
                for j in 0..<f { row[j] *= scale }
            }
        case .max:
            if steps.count != n &* f { steps = [Int32](repeating: -1, count: n &* f) }
            steps.withUnsafeMutableBufferPointer { best in
                for sample in 0..<n {
                    let (row, chosen) = (y + sample &* f, best.baseAddress! + sample &* f)
                    chosen.update(repeating: -1, count: f)
                    for step in 0..<t where mask?[sample &* t &+ step] ?? 1 != 0 {
                        let source = x + (sample &* t &+ step) &* f
                        for j in 0..<f where chosen[j] < 0 || source[j] > row[j] {
                            row[j] = source[j]
                            chosen[j] = Int32(step)
                        }
                    }
                }
            }
        }
        return out
    }

    /// dLoss/dInput (N, T, F): the mean's gradient spread over each sample's real steps, or the
    /// maximum's routed to the step that held it; zero on padded steps.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        let (n, t, f) = (inputShape[0], inputShape[1], inputShape[2])
        precondition(outputGradient.shape == [n, f], "SequencePooling '\(name)': gradient \(outputGradient.shape) is not (\(n), \(f))")
        let dx = Tensor.reusing(inputGradient, shape: inputShape)
        inputGradient = dx
        let (dy, d, mask) = (outputGradient.data, dx.data, inputMask?.data)
        d.update(repeating: 0, count: n &* t &* f)
        switch reduction {
        case .mean:
            for sample in 0..<n where scales[sample] != 0 {
                let (row, scale) = (dy + sample &* f, scales[sample])
                for step in 0..<t where mask?[sample &* t &+ step] ?? 1 != 0 {
                    let target = d + (sample &* t &+ step) &* f
                    for j in 0..<f { target[j] = row[j] * scale }
                }
            }
        case .max:
            for sample in 0..<n {
                for j in 0..<f {
                    let step = Int(steps[sample &* f &+ j])
                    if step >= 0 { d[(sample &* t &+ step) &* f &+ j] = dy[sample &* f &+ j] }
                }
            }
        }
        return dx
    }
}
