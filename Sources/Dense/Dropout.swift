/// Inverted dropout: in training each element is kept with probability 1 - rate and scaled by
/// 1 / (1 - rate); in evaluation the layer is the identity.
///
/// The mask comes from the model's `RandomGenerator` (handed over by `attach(random:)`), so a
/// seed fixes it.
public final class Dropout: Layer {
    /// The settings of a `Dropout` layer: its rate.
    public struct Config: LayerConfig {
        /// `Dropout`, the type name in architecture files.
        public static let typeName = "Dropout"
        /// The probability that an element is dropped, in [0, 1).
        public var rate: Float

        /// A config with drop probability `rate`, which must lie in [0, 1).
        public init(rate: Float) { self.rate = rate }

        /// Throws `SynapseError.invalidArgument` unless `rate` is in [0, 1) (checked as a Float).
        public func validate() throws {
            // 0.99999999 is below 1 as a Double but rounds to 1 as a Float: checked after rounding.
            guard rate >= 0, rate < 1 else {
                throw SynapseError.invalidArgument("Dropout 'rate' is \(rate), it must be in [0, 1)")
            }
        }

        /// The input shape: dropout keeps it.
        public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
        /// A `Dropout` layer drawing its masks from `random` (when given; a model attaches its own).
        public func makeLayer(random: RandomGenerator?) throws -> any Layer {
            let layer = try Dropout(rate: rate)
            if let random { layer.attach(random: random) }
            return layer
        }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model (it has no parameters).
    public var name: String
    /// The fraction of inputs zeroed in training; the others are scaled by 1 / (1 - rate).
    public var rate: Float { config.rate }
    private var random: RandomGenerator
    private var mask: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var lastWasTraining = false

    /// A dropout layer that zeroes each element with probability `rate` in training.
    /// - Throws: `SynapseError.invalidArgument` unless `rate` lies in [0, 1).
    public init(rate: Float, name: String = "") throws {
        config = Config(rate: rate)
        try config.validate()
        self.name = name
        random = RandomGenerator(seed: 0)
    }

    /// Draws the dropout masks from `random` from now on.
    public func attach(random: RandomGenerator) { self.random = random }

    /// In training, zeroes each element of `input` with probability `rate` and scales the others by
    /// 1 / (1 - rate), drawing the mask from the attached generator; in evaluation returns `input`.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        lastWasTraining = training && rate > 0
        guard lastWasTraining else { return input }
        let m = Tensor.reusing(mask, shape: input.shape)
        let out = Tensor.reusing(output, shape: input.shape)
        (mask, output) = (m, out)
        let (x, y, k, n) = (input.data, out.data, m.data, input.count)
        let (p, scale, rng) = (rate, 1 / (1 - rate), random)
        for i in 0..<n {
            let keep: Float = rng.uniform() >= p ? scale : 0
            k[i] = keep
            y[i] = x[i] * keep
        }
        return out
    }

    /// dLoss/dInput: the output gradient times the last training forward's mask (scaled), or the
    /// gradient itself after an evaluation forward.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard lastWasTraining, let mask else { return outputGradient }
        let dx = Tensor.reusing(inputGradient, shape: outputGradient.shape)
        inputGradient = dx
        let (dy, k, d) = (outputGradient.data, mask.data, dx.data)
        for i in 0..<dx.count { d[i] = dy[i] * k[i] }
        return dx
    }
}

extension Dropout {
    /// The same generator (a replica is handed its own with `attach(random:)`).
    public func adoptState(of source: any Layer) {
        if let source = source as? Dropout { attach(random: source.random) }
    }
}
