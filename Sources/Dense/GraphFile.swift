import Foundation

/// The JSON architecture file of a `Graph`, written beside its weights: the inputs, every layer
/// node in topological order with its config and the nodes it reads (the edges), the outputs.
public struct GraphConfig: Codable, Equatable {
    /// A model input: its name and sample shape.
    public struct InputEntry: Codable, Equatable {
        /// The input's name, which layer entries list among their `inputs`.
        public var name: String
        /// The shape of one sample (batch dimension excluded), e.g. `[3, 32, 32]`.
        public var shape: [Int]
    }
    /// A layer node: type, name, config options and the names of the nodes it reads.
    public struct LayerEntry: Codable, Equatable {
        /// The layer's type name (`Conv2D`, `Add`, ...), looked up in the `LayerRegistry`.
        public var type: String
        /// The node's name, unique in the graph; its parameters are `<name>.weight`, ...
        public var name: String
        /// The layer's config, as its coding keys and values.
        public var options: LayerOptions
        /// The names of the inputs or layer nodes this node reads, in order (two or more for a merge layer).
        public var inputs: [String]
    }
    /// Identifies the file as a graph architecture: always `synapse.graph`.
    public var format = "synapse.graph"
    /// The file format's version; 1.
    public var version = 1
    /// The model's inputs, in the order `predict` and `forward` take them.
    public var inputs: [InputEntry]
    /// Every layer node, each after the nodes it reads (topological order).
    public var layers: [LayerEntry]
    /// The names of the nodes whose outputs are the model's, in order.
    public var outputs: [String]
    /// Optimizer, loss, batch size and anything else the trainer was given.
    public var training: [String: ConfigValue]
}

extension Graph {
    /// The architecture: inputs, each layer's type, name, config and inputs, and the outputs.
    public var config: GraphConfig {
        // A layer's config was validated when the layer was built: encoding it cannot fail.
        GraphConfig(inputs: inputs.map { .init(name: $0.name, shape: $0.shape) },
                    layers: zip(layers, layerInputs).map { layer, read in
                        .init(type: type(of: layer).typeName, name: layer.name, options: try! layer.config.options, inputs: read)
                    },
                    outputs: outputNames, training: [:])
    }

    /// The architecture file's contents: `config` with `training`, keys sorted.
    public func architectureJSON(training: [String: ConfigValue], pretty: Bool) throws -> Data {
        var config = self.config
        config.training = training
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return try encoder.encode(config)
    }

    /// Builds the graph `config` describes, with fresh initial values drawn from `random` (nil:
    /// zeros). Every option, name, edge and shape is checked first; an error names the node.
    public convenience init(_ config: GraphConfig, registry: LayerRegistry, random: RandomGenerator?) throws {
        guard config.format == "synapse.graph", config.version == 1 else {
            throw SynapseError.invalidArgument("unknown graph format \(config.format) version \(config.version)")
        }
        let layerConfigs = try config.layers.enumerated().map { index, entry in
            do { return try registry.config(type: entry.type, options: entry.options) } catch {
                throw SynapseError.invalidArgument("node \(index + 1) '\(entry.name)' (\(entry.type)): \(error)")
            }
        }
        let spec = Spec(inputs: config.inputs.map { ($0.name, $0.shape) },
                        layers: zip(config.layers, layerConfigs).map { ($0.name, $1, $0.inputs) }, outputs: config.outputs)
        try Graph.checkSpec(spec)
        try self.init(spec, random: random, sharingValuesOf: nil)
    }

    /// Rebuilds a graph from a weight file and the `.json` architecture beside it (written by
    /// `save(to:)` or a checkpoint).
    ///
    /// Nothing is trusted before it is checked: the format, the inputs' shapes, every node's
    /// name (unique), options and edges (each node reads inputs or earlier nodes, so the file
    /// cannot describe a cycle), the shapes along every edge and the parameter shapes against
    /// the weight file's header, before any layer is built; an error names the file and the node.
    ///
    /// - Parameters:
    ///   - url: the weights (`.safetensors`); the architecture is the `.json` beside it.
    ///   - registry: the layer types the file may name (`LayerRegistry.standard` in `Synapse`).
    public static func load(from url: URL, registry: LayerRegistry) throws -> Graph {
        let configURL = Sequential.configURL(forWeights: url)
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw SynapseError.file(path: configURL.path, problem: "no such file: a saved model is a .safetensors file with its .json beside it")
        }
        let config: GraphConfig
        do {
            config = try JSONDecoder().decode(GraphConfig.self, from: Data(contentsOf: configURL))
        } catch {
            throw SynapseError.file(path: configURL.path, problem: "cannot read the graph architecture: \(error)")
        }
        return try build(config, configURL: configURL, weights: url, registry: registry)
    }

    /// The graph `config` describes, checked against the weight file `weights`, with its values.
    static func build(_ config: GraphConfig, configURL: URL, weights url: URL, registry: LayerRegistry) throws -> Graph {
        func fail(_ problem: String) -> SynapseError { .file(path: configURL.path, problem: problem) }
        guard config.format == "synapse.graph", config.version == 1 else {
            throw fail("unknown format \(config.format) version \(config.version)")
        }
        guard !config.inputs.isEmpty, config.inputs.count <= 1024, config.layers.count <= 1 << 16,
              !config.outputs.isEmpty, config.outputs.count <= 1024 else {
            throw fail("a graph has 1 to 1024 inputs and outputs and at most 65536 layers; this one has \(config.inputs.count) inputs, "
                       + "\(config.layers.count) layers and \(config.outputs.count) outputs")
        }
        for input in config.inputs {
            guard !input.shape.isEmpty, input.shape.allSatisfy({ (1...LayerLimits.maxDimension).contains($0) }),
                  (try? LayerLimits.elementCount(input.shape, of: "input")) != nil else {
                throw fail("input '\(input.name)' has shape \(input.shape): every dimension must be in 1...\(LayerLimits.maxDimension), "
                           + "\(LayerLimits.maxElements) elements at most")
            }
        }
        func label(_ index: Int, _ entry: GraphConfig.LayerEntry) -> String { "node \(index + 1) '\(entry.name)' (\(entry.type))" }
        var layerConfigs: [any LayerConfig] = []
        for (index, entry) in config.layers.enumerated() {
            guard !entry.name.isEmpty else { throw fail("\(label(index, entry)) has no name") }
            do { layerConfigs.append(try registry.config(type: entry.type, options: entry.options)) } catch {
                throw fail("\(label(index, entry)): \(error)")
            }
        }
        let spec = Spec(inputs: config.inputs.map { ($0.name, $0.shape) },
                        layers: zip(config.layers, layerConfigs).map { ($0.name, $1, $0.inputs) },
                        outputs: config.outputs)
        // Names, edges and shapes, before the weights are read or anything allocated.
        do { try checkSpec(spec) } catch { throw fail("\(error)") }
        try ModelBuilding.checkWeights(zip(config.layers, layerConfigs).enumerated().map { index, pair in
            (label(index, pair.0), pair.0.name, pair.1)
        }, url: url, configURL: configURL)
        let graph: Graph
        do { graph = try Graph(spec, random: nil, sharingValuesOf: nil) } catch { throw fail("\(error)") }
        try graph.loadWeightsOrCheckpoint(from: url)
        return graph
    }

    /// Names unique, every edge from an input or an earlier node, every output shape within the
    /// per-tensor limit: the checks of `init(_:random:sharingValuesOf:)` that need no allocation.
    static func checkSpec(_ spec: Spec) throws {
        var shapes: [String: [Int]] = [:]
        for (name, shape) in spec.inputs {
            guard shapes.updateValue(shape, forKey: name) == nil else { throw SynapseError.shape("two nodes of the graph are named '\(name)'") }
        }
        for (name, config, inputNames) in spec.layers {
            let label = "node '\(name)' (\(type(of: config).typeName))"
            guard shapes[name] == nil else { throw SynapseError.shape("two nodes of the graph are named '\(name)'") }
            guard !inputNames.isEmpty, inputNames.count <= 1024 else { throw SynapseError.shape("\(label) reads \(inputNames.count) nodes") }
            let inputShapes = try inputNames.map { input in
                guard let shape = shapes[input] else {
                    throw SynapseError.shape("\(label) reads '\(input)', which is no input or earlier node of the graph")
                }
                return shape
            }
            let shape: [Int]
            do {
                if let merge = config as? any MergeLayerConfig {
                    shape = try merge.outputShape(for: inputShapes)
                } else {
                    guard inputShapes.count == 1 else { throw SynapseError.shape("takes one input, got \(inputShapes.count)") }
                    shape = try config.outputShape(for: inputShapes[0])
                }
            } catch {
                throw SynapseError.shape("\(label) on \(zip(inputNames, inputShapes).map { "'\($0)' \($1)" }.joined(separator: ", ")): \(error)")
            }
            guard (try? LayerLimits.elementCount(shape, of: "output")) != nil else {
                throw SynapseError.shape("\(label) gives outputs of shape \(shape) per sample, more than \(LayerLimits.maxElements) elements")
            }
            shapes[name] = shape
        }
        for output in spec.outputs where shapes[output] == nil {
            throw SynapseError.shape("output '\(output)' is no node of the graph")
        }
    }
}
