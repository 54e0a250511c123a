/// A trainable (or saved) tensor with its gradient, seen by optimizers and serializers without
/// their knowing which layer owns it.
///
/// A layer creates its parameters with local names (`weight`, `bias`); a `Sequential` model
/// prefixes them with the layer's name (`fc1.weight`), which are the keys of the saved file and
/// match PyTorch's `state_dict` names.
public final class Parameter {
    public var name: String
    public let value: Tensor
    /// Same shape as `value`. Backward passes *add* into it; the trainer zeroes it each step.
    public let gradient: Tensor

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.gradient = Tensor(shape: value.shape)
    }

    public var shape: [Int] { value.shape }

    public func zeroGradient() { gradient.fill(0) }
}
