/// Passes its input on unchanged: y = x. A graph's placeholder (a residual block's shortcut
/// when no projection is needed); forward returns the input and backward the output gradient,
/// both without a copy.
public final class Identity: Layer {
    /// The settings of an `Identity` layer: none.
    public struct Config: LayerConfig {
        /// `Identity`, the type name in architecture files.
        public static let typeName = "Identity"
        /// The config: `Identity` has no settings.
        public init() {}
        /// Nothing to check: there are no settings.
        public func validate() throws {}
        /// The input shape.
        public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
        /// An `Identity` layer.
        public func makeLayer(random: RandomGenerator?) throws -> any Layer { Identity(name: "") }
    }

    /// The layer's settings (none), as saved in the architecture file.
    public let config = Config()
    /// The layer's name in the model (it has no parameters).
    public var name: String

    /// A pass-through layer named `name` in its model.
    public init(name: String = "") { self.name = name }

    /// Returns `input` itself (no copy).
    public func forward(_ input: Tensor, training: Bool) -> Tensor { input }
    /// Returns `outputGradient` itself (no copy).
    public func backward(_ outputGradient: Tensor) -> Tensor { outputGradient }
}
