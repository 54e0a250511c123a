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
    /// `modern`: ReLU and max pooling; `original`: tanh and average pooling, as in 1998.
    public enum Variant: String, Sendable, CaseIterable {
        /// ReLU and max pooling (the default).
        case modern
        /// tanh and average pooling, as in the 1998 paper.
        case original
    }

    /// LeNet-5 as a `Sequential` of its layers, for input (N, channels, height, width).
    ///
    /// - Parameters:
    ///   - variant: `.modern` (ReLU, max pooling) or `.original` (tanh, average pooling).
    ///   - classes: The outputs of fc3 (logits).
    ///   - channels: The input's channels; other sizes than 1 x 28 x 28 change fc1's input
    ///     (16 x the second pooling's output), everything else stays.
    ///   - height: The input's height, at least 12.
    ///   - width: The input's width, at least 12.
    ///   - random: The generator for the initial weights.
    public static func make(_ variant: Variant = .modern, classes: Int = 10, channels: Int = 1, height: Int = 28,
                            width: Int = 28, random: RandomGenerator) throws -> Sequential {
        func activation() throws -> Activation { try Activation(variant == .modern ? .relu : .tanh) }
        func pool() throws -> any Layer { variant == .modern ? try MaxPool2D(2) : try AvgPool2D(2) }
        // conv1 keeps the size, pool halves it, conv2 takes 4, pool halves it again.
        func side(_ n: Int) -> Int { (n / 2 - 4) / 2 }
        guard channels >= 1, side(height) >= 1, side(width) >= 1 else {
            throw SynapseError.invalidArgument("LeNet-5 needs images of at least 12 x 12 pixels and 1 channel or more, got \(channels) x \(height) x \(width)")
        }
        let initializer: Initializer = variant == .modern ? .heUniform : .glorotUniform
        return try Sequential(inputShape: [channels, height, width], [
            try Conv2D(channels, 6, kernelSize: 5, padding: .explicit(2, 2), initializer: initializer, random: random, name: "conv1"),
            activation(), try pool(),
            try Conv2D(6, 16, kernelSize: 5, initializer: initializer, random: random, name: "conv2"),
            activation(), try pool(),
            Flatten(),
            Linear(16 * side(height) * side(width), 120, initializer: initializer, random: random, name: "fc1"), activation(),
            Linear(120, 84, initializer: initializer, random: random, name: "fc2"), activation(),
            Linear(84, classes, random: random, name: "fc3"),
        ])
    }
}
