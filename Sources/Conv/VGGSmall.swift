import Dense

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
    /// The network for C x H x W input and `classes` outputs (logits); throws for sides that are
    /// not multiples of 8 or fewer than 2 classes.
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
