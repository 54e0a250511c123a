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

    /// - Parameters:
    ///   - channels, height, width: the input; other sizes than 1 x 28 x 28 change fc1's input
    ///     (16 x the second pooling's output), everything else stays.
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

/// A small VGG-style network for colour (or gray) images of any size divisible by 8: three
/// blocks of two 3x3 convolutions, each followed by batch normalisation and ReLU, and a 2x2 max
/// pooling, then a small classifier. For C x H x W input:
///
///     block1  conv 3x3 16, BN, ReLU; conv 3x3 16, BN, ReLU; max pool  -> (16, H/2, W/2)
///     block2  conv 3x3 32, BN, ReLU; conv 3x3 32, BN, ReLU; max pool  -> (32, H/4, W/4)
///     block3  conv 3x3 64, BN, ReLU; conv 3x3 64, BN, ReLU; max pool  -> (64, H/8, W/8)
///     flatten, fc1 -> 128, ReLU, dropout 0.3, fc2 -> classes (logits)
///
/// The convolutions have no bias (batch normalisation supplies it), as in VGG with BN. With
/// 3 x 32 x 32 input and 10 classes it has 204,794 trainable parameters (and 448 running statistics).
public enum VGGSmall {
    public static func make(channels: Int, height: Int, width: Int, classes: Int,
                            random: RandomGenerator) throws -> Sequential {
        guard height >= 8, width >= 8, height % 8 == 0, width % 8 == 0 else {
            throw SynapseError.invalidArgument("vgg-small takes images whose sides are multiples of 8 (at least 8), got \(width)x\(height)")
        }
        guard classes >= 2 else { throw SynapseError.invalidArgument("vgg-small needs at least 2 classes, got \(classes)") }
        var layers: [any Layer] = []
        var inputs = channels
        for (block, outputs) in [16, 32, 64].enumerated() {
            for k in 1...2 {
                layers += try [
                    Conv2D(inputs, outputs, kernelSize: 3, padding: .same, bias: false, random: random,
                               name: "block\(block + 1)_conv\(k)"),
                    BatchNorm(features: outputs, name: "block\(block + 1)_bn\(k)"),
                    Activation(.relu),
                ]
                inputs = outputs
            }
            layers.append(try MaxPool2D(2))
        }
        layers += try [
            Flatten(),
            Linear(64 * (height / 8) * (width / 8), 128, initializer: .heUniform, random: random, name: "fc1"),
            Activation(.relu), Dropout(rate: 0.3),
            Linear(128, classes, random: random, name: "fc2"),
        ]
        return try Sequential(inputShape: [channels, height, width], layers)
    }
}
