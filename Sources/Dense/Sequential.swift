import Foundation

/// Layers run in order: the model container.
///
/// Building a model infers every layer's output shape from `inputShape` (one sample, batch
/// dimension excluded) and rejects layers that do not fit together, naming the layer and the
/// shapes. Layers without a name get `<type>_<k>` (`linear_1`); parameters are then named
/// `<layer>.<parameter>` (`fc1.weight`), which are the keys of saved weight files.
///
/// Memory: building the model lays every parameter out in one `ParameterBlock` (values in one
/// 64-byte-aligned block, gradients in a second, same order) and the buffers (BatchNorm's running
/// statistics) in a third (values only); each `Parameter`'s `value` and `gradient` become views
/// into them. A layer belongs to the model it was built into, for good: building a second model
/// from the same layers is an error (give it new layers, or `clone()` them), so a model's
/// parameters always lie in its blocks and every pass over them is one pass over a block.
///
///     let random = RandomGenerator(seed: 1)
///     let model = try Sequential(inputShape: [784], [
///         Linear(784, 128, initializer: .heNormal, random: random, name: "fc1"),  // (N, 128)
///         Activation(.relu),                                                      // (N, 128)
///         Linear(128, 10, random: random, name: "fc2"),                           // (N, 10)
///     ])
///     print(model.summary())
public final class Sequential {
    /// The shape of one input sample, without the batch axis: `[784]`, `[1, 28, 28]`, `[200]`.
    public let inputShape: [Int]
    /// The layers, in the order they run.
    public let layers: [any Layer]
    /// The output shape of each layer, for one sample.
    public let outputShapes: [[Int]]

    /// A model of `layers` for samples of `inputShape`: names the unnamed layers, infers every
    /// output shape and moves the parameters into the model's blocks. Throws a `SynapseError`
    /// naming the layer and the shapes when a layer does not fit its input, or when a layer
    /// already belongs to another model.
    public convenience init(inputShape: [Int], _ layers: [any Layer]) throws {
        try self.init(inputShape: inputShape, layers: layers, sharingValuesOf: nil)
    }

    /// Builds the layers `entries` describe straight into the new model's blocks: each layer
    /// takes its parameters and buffers from a `ParameterStorage` over them, so nothing is
    /// allocated twice or moved. With `random`, the parameters are drawn from their
    /// initialisers; with nil they start at zero (values loaded next).
    ///
    /// - Parameter shared: a model with the same configs whose value block the new model's
    ///   parameters view (a replica, which never writes it); nil gives the model its own.
    convenience init(inputShape: [Int], building entries: [(name: String, config: any LayerConfig)], random: RandomGenerator?,
         sharingValuesOf shared: Sequential? = nil) throws {
        let parameterBlock = ParameterBlock(shapes: entries.flatMap { $0.config.parameterShapes.map(\.shape) },
                                            sharingValuesOf: shared?.parameterBlock, withGradients: true)
        let bufferBlock = ParameterBlock(shapes: entries.flatMap { $0.config.bufferShapes.map(\.shape) },
                                         sharingValuesOf: nil, withGradients: false)
        let storage = ParameterStorage(parameters: parameterBlock, buffers: bufferBlock, sharesValues: shared != nil)
        let layers = try entries.map { entry in
            let layer = try entry.config.makeLayer(random: random, storage: storage)
            layer.name = entry.name
            return layer
        }
        // A layer that allocated its own tensors (one that implements only makeLayer(random:),
        // or takes other shapes than its config declares) is laid out anew, as hand-made layers are.
        let built = storage.isExhausted && parameterBlock.holds(layers.flatMap(\.parameters))
            && bufferBlock.holds(layers.flatMap(\.buffers))
        try self.init(inputShape: inputShape, layers: layers, blocks: built ? (parameterBlock, bufferBlock) : nil,
                      sharingValuesOf: shared)
    }

    /// - Parameters:
    ///   - blocks: the blocks the layers' tensors already lie in (built from configs); nil lays
    ///     out new blocks and moves the layers' tensors into them.
    ///   - shared: a model with the same parameter layout whose value block the new model's
    ///     parameters view (a replica); nil lays out a block of their own.
    init(inputShape: [Int], layers: [any Layer], blocks: (ParameterBlock, ParameterBlock)? = nil,
         sharingValuesOf shared: Sequential?) throws {
        self.inputShape = inputShape
        self.layers = layers
        var counters: [String: Int] = [:]
        var seen = Set<String>()
        var shapes: [[Int]] = []
        var shape = inputShape
        // Before anything changes: no layer may already live in another model's blocks.
        for layer in layers where blocks == nil && (layer.parameters + layer.buffers).contains(where: { $0.location != nil }) {
            throw SynapseError.invalidArgument(
                "layer '\(layer.name)' (\(type(of: layer).typeName)) already belongs to a model: a layer lives in one "
                + "model's memory; build this model from new layers (or clone() them)")
        }
        for layer in layers {
            let typeName = type(of: layer).typeName
            if layer.name.isEmpty {
                repeat {
                    counters[typeName, default: 0] += 1
                    layer.name = "\(typeName.lowercased())_\(counters[typeName]!)"
                } while seen.contains(layer.name) || layers.contains { $0 !== layer && $0.name == layer.name }
            }
            guard seen.insert(layer.name).inserted else {
                throw SynapseError.shape("two layers are named '\(layer.name)'")
            }
            for p in layer.parameters + layer.buffers where !p.name.contains(".") {
                p.name = "\(layer.name).\(p.name)"
            }
            do { shape = try layer.outputShape(for: shape) } catch let error as SynapseError {
                throw SynapseError.shape("layer \(shapes.count + 1) '\(layer.name)' (\(typeName)) on input \(shape): \(error)")
            }
            shapes.append(shape)
        }
        outputShapes = shapes
        Sequential.absorbReLUs(in: layers)
        parameters = layers.flatMap { $0.parameters }
        buffers = layers.flatMap { $0.buffers }
        stateTensors = layers.flatMap { $0.parameters + $0.buffers }
        if let blocks {
            (parameterBlock, bufferBlock) = blocks
        } else {
            parameterBlock = ParameterBlock(laying: parameters, sharingValuesOf: shared?.parameterBlock)
            bufferBlock = ParameterBlock(laying: buffers, withGradients: false)
        }
    }

    /// The shape of one output sample (the last layer's), without the batch axis.
    public var outputShape: [Int] { outputShapes.last ?? inputShape }

    /// Trainable parameters of every layer, in layer order.
    public let parameters: [Parameter]
    /// Saved, untrained tensors (running statistics), in layer order.
    public let buffers: [Parameter]
    /// Everything a weight file holds: parameters and buffers, by layer.
    public let stateTensors: [Parameter]
    /// Every parameter's value and gradient, back to back in `parameters` order.
    public let parameterBlock: ParameterBlock
    /// The buffers' values, back to back in `buffers` order (no gradients).
    public let bufferBlock: ParameterBlock

    /// Runs every layer on a batch (N, `inputShape`...) and returns the last layer's output, a
    /// buffer the model reuses (valid until the next forward; copy what you keep). `training`
    /// turns on dropout and batch statistics. The batch must have the model's sample shape (a
    /// trap otherwise); `predict` checks it and throws instead, and runs in slices.
    public func forward(_ input: Tensor, training: Bool = false) -> Tensor {
        precondition(Array(input.shape.dropFirst()) == inputShape,
                     "model expects samples of shape \(inputShape), got a batch of shape \(input.shape)")
        var x = input
        var mask: Tensor?
        for layer in layers {
            guard let masking = layer as? SequenceMasking else {
                x = layer.forward(x, training: training)
                continue
            }
            masking.inputMask = mask
            x = layer.forward(x, training: training)
            mask = masking.outputMask
        }
        return x
    }

    /// Back-propagates dLoss/dOutput of the last forward pass; parameter gradients accumulate.
    /// The gradient with respect to the model's input is not computed.
    public func backward(_ outputGradient: Tensor) {
        guard let first = layers.first else { return }
        var g = outputGradient
        for layer in layers.dropFirst().reversed() { g = layer.backward(g) }
        first.backwardParameters(g)
    }

    /// Sets every parameter gradient to zero: one fill of the gradient block.
    public func zeroGradients() { parameterBlock.gradients.fill(0) }

    /// Hands `random` to every layer that draws during training (dropout); `Trainer` does it.
    public func attach(random: RandomGenerator) { for layer in layers { layer.attach(random: random) } }

    /// A table of layers, output shapes and parameter counts with totals, as Keras prints it.
    public func summary() -> String {
        func grouped(_ n: Int) -> String {
            let digits = Array(String(n))
            return String(digits.enumerated().flatMap { i, d in
                i > 0 && (digits.count - i) % 3 == 0 ? [",", d] : [d]
            })
        }
        let rows = zip(layers, outputShapes).map { layer, shape in
            ("\(layer.name) (\(layer.displayTypeName))",
             "(None, " + shape.map(String.init).joined(separator: ", ") + ")",
             grouped(layer.parameterCount + layer.buffers.reduce(0) { $0 + $1.value.count }))
        }
        let w0 = max(28, (rows.map(\.0.count).max() ?? 0) + 2)
        let w1 = max(22, (rows.map(\.1.count).max() ?? 0) + 2)
        func line(_ a: String, _ b: String, _ c: String) -> String {
            a.padding(toLength: w0, withPad: " ", startingAt: 0) + b.padding(toLength: w1, withPad: " ", startingAt: 0) + c
        }
        let trainable = parameters.reduce(0) { $0 + $1.value.count }
        let untrained = buffers.reduce(0) { $0 + $1.value.count }
        let rule = String(repeating: "=", count: w0 + w1 + 12)
        var out = ["Model: \"sequential\"", String(repeating: "_", count: w0 + w1 + 12),
                   line("Layer (type)", "Output Shape", "Param #"), rule]
        out += rows.map { line($0.0, $0.1, $0.2) }
        out += [rule, "Total params: \(grouped(trainable + untrained))",
                "Trainable params: \(grouped(trainable))", "Non-trainable params: \(grouped(untrained))"]
        return out.joined(separator: "\n")
    }
}

// MARK: - Saving and loading

/// The JSON architecture file written beside the weights.
public struct ModelConfig: Codable, Equatable {
    /// One layer in the file: its registered type name, its name in the model and its config.
    public struct LayerEntry: Codable, Equatable {
        /// The config's `typeName` (`Linear`, `Conv2D`, ...), looked up in the `LayerRegistry`.
        public var type: String
        /// The layer's name, the prefix of its parameters' names in the weight file.
        public var name: String
        /// The layer's config, encoded.
        public var options: LayerOptions
    }
    /// Identifies the file as a Synapse architecture.
    public var format = "synapse.sequential"
    /// The format's version; files of every earlier version load.
    public var version = 1
    /// The model's input shape, one sample.
    public var inputShape: [Int]
    /// The layers, in order.
    public var layers: [LayerEntry]
    /// Optimizer, loss, batch size and anything else the trainer was given.
    public var training: [String: ConfigValue]
}

extension Sequential {
    /// The architecture: the input shape and each layer's type, name and config.
    public var config: ModelConfig {
        // A layer's config was validated when the layer was built: its numbers are finite, so
        // encoding it cannot fail.
        ModelConfig(inputShape: inputShape,
                    layers: layers.map { .init(type: type(of: $0).typeName, name: $0.name, options: try! $0.config.options) },
                    training: [:])
    }

    /// The architecture file that goes with a weight file: same path, `.json` extension.
    public static func configURL(forWeights url: URL) -> URL {
        url.deletingPathExtension().appendingPathExtension("json")
    }

    /// Writes the weights (safetensors, PyTorch `state_dict` names) to `url` and the architecture
    /// and training settings to the `.json` beside it, each atomically.
    ///
    /// Each file is replaced whole, the pair one after the other: a crash between the two leaves
    /// the new weights beside the old architecture. `load` compares the two before it builds
    /// anything, so such a pair is an error naming the file, never a model that silently mixes
    /// them; to replace a model set as a whole (weights, architecture, logs), write it through
    /// `ModelFolder.replace`, as the samples do. (Two files cannot be renamed into place at once.)
    public func save(to url: URL, training: [String: ConfigValue] = [:]) throws {
        var config = self.config
        config.training = training
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SafeTensors.write(stateTensors.map { ($0.name, $0.value) }, metadata: ["format": "pt"], to: url)
        try AtomicFile.write(try encoder.encode(config), to: Sequential.configURL(forWeights: url))
    }

    /// Rebuilds a model from a weight file and the `.json` architecture beside it.
    ///
    /// Nothing is trusted before it is checked: the input shape, every layer's options (sizes,
    /// rates, kernels, strides, padding: in range and small enough to allocate) and the shapes of
    /// the parameters they imply are compared with the weight file's header before any layer is
    /// built, so a damaged architecture file is an error naming the file, the layer and the
    /// option, never a trap or a huge allocation.
    ///
    /// - Parameters:
    ///   - url: The weight file (`.safetensors`, or a checkpoint); the architecture is the `.json`
    ///     beside it.
    ///   - registry: the layer types the file may name: `LayerRegistry.standard` (in
    ///     the umbrella module `Synapse`) for every layer type Synapse defines, `.registering(_:)`
    ///     for layer types of your own.
    public static func load(from url: URL, registry: LayerRegistry) throws -> Sequential {
        let configURL = configURL(forWeights: url)
        let config: ModelConfig
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw SynapseError.file(path: configURL.path, problem: "no such file: a saved model is a .safetensors file with its .json beside it")
        }
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: configURL))
        } catch {
            throw SynapseError.file(path: configURL.path, problem: "cannot read the model architecture: \(error)")
        }
        guard config.format == "synapse.sequential", config.version == 1 else {
            throw SynapseError.file(path: configURL.path, problem: "unknown format \(config.format) version \(config.version)")
        }
        guard config.inputShape.allSatisfy({ (1...LayerLimits.maxDimension).contains($0) }),
              (try? LayerLimits.elementCount(config.inputShape, of: "input")) != nil else {
            throw SynapseError.file(path: configURL.path, problem:
                "input shape \(config.inputShape): every dimension must be in 1...\(LayerLimits.maxDimension), \(LayerLimits.maxElements) elements at most")
        }
        func label(_ index: Int, _ entry: ModelConfig.LayerEntry) -> String { "layer \(index + 1) '\(entry.name)' (\(entry.type))" }

        // Options and parameter shapes, against the weight file's header, before any allocation.
        let header = try SafeTensors.readHeader(from: url)
        var problems: [String] = []
        // Each tensor is within LayerLimits.maxElements, so the sum cannot overflow.
        var needed = 0
        let available = header.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        var layerConfigs: [any LayerConfig] = []
        for (index, entry) in config.layers.enumerated() {
            let layerConfig: any LayerConfig
            do { layerConfig = try registry.config(type: entry.type, options: entry.options) } catch {
                throw SynapseError.file(path: configURL.path, problem: "\(label(index, entry)): \(error)")
            }
            layerConfigs.append(layerConfig)
            let shapes = layerConfig.parameterShapes + layerConfig.bufferShapes
            needed += shapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
            // A layer without a name is named when the model is built; the total below still
            // bounds what it allocates by what the weight file holds.
            guard !entry.name.isEmpty else { continue }
            for (local, shape) in shapes {
                let name = "\(entry.name).\(local)"
                if let found = header[name] {
                    if found.shape != shape {
                        problems.append("\(label(index, entry)) needs '\(name)' of shape \(shape), \(url.lastPathComponent) has \(found.shape)")
                    }
                } else {
                    problems.append("\(label(index, entry)) needs '\(name)' of shape \(shape), \(url.lastPathComponent) has no such tensor")
                }
            }
        }
        if problems.isEmpty, needed > available {
            problems.append("the layers need \(needed) weights, \(url.lastPathComponent) holds \(available)")
        }
        guard problems.isEmpty else {
            throw SynapseError.file(path: configURL.path, problem:
                "the architecture does not fit the weights in \(url.path):\n  " + problems.joined(separator: "\n  "))
        }

        let model: Sequential
        do {
            model = try Sequential(inputShape: config.inputShape,
                                   building: zip(config.layers, layerConfigs).map { ($0.name, $1) }, random: nil)
        } catch {
            throw SynapseError.file(path: configURL.path, problem: "\(error)")
        }
        // Layers without parameters can still grow a sample (a convolution's padding): no
        // layer's output may exceed the per-tensor limit either.
        for (index, (entry, shape)) in zip(config.layers, model.outputShapes).enumerated() {
            guard (try? LayerLimits.elementCount(shape, of: "output")) != nil else {
                throw SynapseError.file(path: configURL.path, problem:
                    "\(label(index, entry)) gives outputs of shape \(shape) per sample, more than \(LayerLimits.maxElements) elements")
            }
        }
        try model.loadWeightsOrCheckpoint(from: url)
        return model
    }

    /// Checks that the model takes samples of `inputShape` and gives outputs of `outputShape`
    /// (one sample each, batch dimension excluded), as a caller about to feed it expects: a
    /// model saved for other data is then an error naming `path` (where the model came from)
    /// and both shapes, rather than a trap in `forward`.
    ///
    /// `maxSampleElements` bounds the layers' outputs for one sample, added up (each layer keeps
    /// its output for the batch): the default, 2^20 floats (4 MiB), keeps a batch of 1000 within
    /// 4 GiB. LeNet-5 needs about 15,000.
    public func check(inputShape expectedInput: [Int], outputShape expectedOutput: [Int], path: String,
                      maxSampleElements: Int = 1 << 20) throws {
        guard inputShape == expectedInput, outputShape == expectedOutput else {
            throw SynapseError.file(path: path, problem:
                "the model takes samples of shape \(inputShape) and gives \(outputShape); "
                + "this needs a model from \(expectedInput) to \(expectedOutput)")
        }
        var total = 0
        for (layer, shape) in zip(layers, outputShapes) {
            let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            total = total.addingReportingOverflow(count).overflow ? Int.max : total + count
            guard total <= maxSampleElements else {
                throw SynapseError.file(path: path, problem:
                    "the layers' outputs reach more than \(maxSampleElements) elements per sample at '\(layer.name)' (output \(shape))")
            }
        }
    }

    /// Loads weights into this model. Every name, shape and dtype is checked first and every
    /// mismatch is listed; the model is changed only if all of them fit.
    public func loadWeights(from url: URL) throws {
        try loadWeights(SafeTensors.read(from: url), path: url.path)
    }

    /// Loads weights already read from a safetensors file; `path` names the file in errors.
    /// As `loadWeights(from:)`: every mismatch is listed and nothing changes unless all fit.
    public func loadWeights(_ contents: SafeTensors.Contents, path: String) throws {
        var problems: [String] = []
        let expected = stateTensors
        let expectedNames = Set(expected.map(\.name))
        for p in expected {
            guard let t = contents[p.name] else { problems.append("missing tensor '\(p.name)' of shape \(p.shape)"); continue }
            if t.shape != p.shape { problems.append("tensor '\(p.name)' has shape \(t.shape), the model needs \(p.shape)") }
            if let dtype = contents.dtypes[p.name], !SafeTensors.floatingDtypes.contains(dtype) {
                problems.append("tensor '\(p.name)' has dtype \(dtype), the model needs a floating type (F32)")
            }
        }
        for name in contents.names where !expectedNames.contains(name) {
            problems.append("unexpected tensor '\(name)'")
        }
        guard problems.isEmpty else {
            throw SynapseError.file(path: path, problem: "weights do not fit the model:\n  " + problems.joined(separator: "\n  "))
        }
        for p in expected { p.value.assign(contents[p.name]!) }
    }
}
