import Dense

/// LeNet-5 for 1 x 28 x 28 digits, in the layout PyTorch tutorials use:
///
///     conv1  6@5x5, padding 2   -> (6, 28, 28)    156 parameters
///     act, pool 2x2             -> (6, 14, 14)
///     conv2  16@5x5             -> (16, 10, 10)   2,416
///     act, pool 2x2             -> (16, 5, 5)
///     flatten                   -> (400)
///     fc1    400 -> 120, act                      48,120
///     fc2    120 -> 84, act                       10,164
///     fc3    84 -> 10 (logits)                    850      61,706 in all
///
/// `.modern` (the default) uses ReLU and max pooling. `.original` is closer to LeCun et al.
/// (1998): tanh and average pooling (the paper's pooling also had a trainable scale and bias,
/// its C3 layer a sparse connection table and its output RBF units; those are not reproduced,
/// so this is the common simplification). Parameter names (`conv1.weight`, ..., `fc3.bias`) are
/// those of a PyTorch module with attributes conv1, conv2, fc1, fc2, fc3.
public enum LeNet5 {
    public enum Variant: String, Sendable, CaseIterable { case modern, original }

    public static func make(_ variant: Variant = .modern, classes: Int = 10, random: RandomGenerator) throws -> Sequential {
        func activation() throws -> Activation { try Activation(variant == .modern ? .relu : .tanh) }
        func pool() throws -> any Layer { variant == .modern ? try MaxPool2D(2) : try AvgPool2D(2) }
        let initializer: Initializer = variant == .modern ? .heUniform : .glorotUniform
        return try Sequential(inputShape: [1, 28, 28], [
            try Conv2D(1, 6, kernelSize: 5, padding: .explicit(2, 2), initializer: initializer, random: random, name: "conv1"),
            activation(), try pool(),
            try Conv2D(6, 16, kernelSize: 5, initializer: initializer, random: random, name: "conv2"),
            activation(), try pool(),
            Flatten(),
            Linear(400, 120, initializer: initializer, random: random, name: "fc1"), activation(),
            Linear(120, 84, initializer: initializer, random: random, name: "fc2"), activation(),
            Linear(84, classes, random: random, name: "fc3"),
        ])
    }
}
