import Dense

/// The CIFAR form of ResNet (He et al. 2016, section 4.2) for gray or colour images of any side
/// of at least 8: a 3x3 stem, three stages of n basic blocks each, global average pooling and
/// one Linear; depth 6n + 2 (20, 32, 44, 56, 110, ...). For C x H x W input:
///
///     conv1 3x3 16, bn1, ReLU                                     -> (16, H, W)
///     layer1  n blocks at 16 channels                             -> (16, H, W)
///     layer2  n blocks at 32, the first with stride 2             -> (32, ceil(H/2), ceil(W/2))
///     layer3  n blocks at 64, the first with stride 2             -> (64, ceil(H/4), ceil(W/4))
///     avgpool (global average), fc -> classes (logits)
///
/// A basic block: conv 3x3 (stride s), BN, ReLU, conv 3x3, BN, added to the shortcut, ReLU. The
/// shortcut is the block's input, or where the stride or the channels change, a 1x1 convolution
/// of stride s and BN (the projection shortcut, option B of the paper; torchvision's
/// `downsample`). Convolutions have no bias (BN supplies it). Nodes are named as the same
/// module written in PyTorch (`layer2.0.conv1`, `layer2.0.downsample.0`, `fc`), so the weights'
/// names are its `state_dict` keys (Scripts/resnet_small.py is that module). Depth 20 with 3
/// channels and 10 classes has 272,474 trainable parameters and 1,568 running statistics.
public enum ResNetSmall {
    /// The network for `channels` x `height` x `width` images and `classes` classes.
    /// - Parameters:
    ///   - channels: 1 (gray) or 3 (RGB).
    ///   - height: the image height, at least 8.
    ///   - width: the image width, at least 8.
    ///   - classes: the number of classes (the Linear layer's outputs).
    ///   - depth: 6n + 2 with n >= 1 (8, 14, 20, ...); 20 by default.
    ///   - random: draws the initial weights (He uniform for the convolutions).
    public static func make(channels: Int, height: Int, width: Int, classes: Int, depth: Int = 20,
                            random: RandomGenerator) throws -> Graph {
        guard depth >= 8, depth <= 1_202, (depth - 2) % 6 == 0 else {
            throw SynapseError.invalidArgument("resnet-small takes a depth of 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...) up to 1202, got \(depth)")
        }
        guard height >= 8, width >= 8, height <= 16_384, width <= 16_384 else {
            throw SynapseError.invalidArgument("resnet-small takes images whose sides are at least 8, got \(width)x\(height)")
        }
        guard classes >= 2 else { throw SynapseError.invalidArgument("resnet-small needs at least 2 classes, got \(classes)") }
        let blocks = (depth - 2) / 6
        func conv(_ c: Int, _ o: Int, _ k: Int, stride: Int) throws -> Conv2D.Config {
            try Conv2D.Config(inputChannels: c, outputChannels: o, kernelSize: (k, k), stride: (stride, stride),
                              padding: .explicit(k / 2, k / 2), bias: false)
        }
        let input = Node.input(shape: [channels, height, width], name: "input")
        var x = try conv(channels, 16, 3, stride: 1)(input, name: "conv1")
        x = Activation.Config(.relu)(BatchNorm.Config(features: 16)(x, name: "bn1"), name: "relu")
        var inputs = 16
        for (stage, outputs) in [16, 32, 64].enumerated() {
            for b in 0..<blocks {
                let stride = stage > 0 && b == 0 ? 2 : 1
                let prefix = "layer\(stage + 1).\(b)"
                var h = try conv(inputs, outputs, 3, stride: stride)(x, name: "\(prefix).conv1")
                h = Activation.Config(.relu)(BatchNorm.Config(features: outputs)(h, name: "\(prefix).bn1"), name: "\(prefix).relu1")
                h = try conv(outputs, outputs, 3, stride: 1)(h, name: "\(prefix).conv2")
                h = BatchNorm.Config(features: outputs)(h, name: "\(prefix).bn2")
                var shortcut = x
                if stride != 1 || inputs != outputs {
                    shortcut = try conv(inputs, outputs, 1, stride: stride)(x, name: "\(prefix).downsample.0")
                    shortcut = BatchNorm.Config(features: outputs)(shortcut, name: "\(prefix).downsample.1")
                }
                x = Activation.Config(.relu)(Add.Config()([h, shortcut], name: "\(prefix).add"), name: "\(prefix).relu2")
                inputs = outputs
            }
        }
        let pooled = GlobalAveragePooling2D.Config()(x, name: "avgpool")
        let logits = Linear.Config(inputFeatures: 64, outputFeatures: classes)(pooled, name: "fc")
        return try Graph(inputs: [input], outputs: [logits], random: random)
    }
}
