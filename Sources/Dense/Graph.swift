import Foundation

/// A model whose layers form a directed acyclic graph: the functional API. A `Sequential` is the
/// special case of a chain; a chain built as a graph gives the same results bit for bit.
///
///     let x = Node.input(shape: [8])
///     let h = Activation.Config(.relu)(Linear.Config(inputFeatures: 8, outputFeatures: 8)(x))
///     let y = Add.Config()([x, h])                        // x feeds the Linear and the sum
///     let model = try Graph(inputs: [x], outputs: [y], random: RandomGenerator(seed: 1))
///
/// (README, "Networks as graphs", builds a residual block of convolutions.)
///
/// Building the graph collects every node the outputs depend on, names the unnamed ones, puts
/// them in a topological order once (each node after the nodes it reads; ties in the order the
/// nodes were first reached from the outputs), checks every layer's input shapes (an error
/// names the node, the nodes it reads and their shapes) and builds the layers from their configs
/// into one `ParameterStorage`, in that order: parameters are named `<node>.<parameter>`.
///
/// Forward runs the layers in topological order; backward in the reverse order. A node read by
/// several layers receives the sum of their gradients, added in a buffer the graph owns (sized
/// once per batch shape); a node read by one layer takes that layer's gradient as it is, with no
/// copy. Each layer keeps its own output buffer (its backward reads it), so the activations a
/// training step holds are every node's output once.
///
/// Several inputs or outputs: `forward(_ inputs: [Tensor])` takes and gives one tensor each. As a
/// `Model` (the trainer's view), the graph takes each sample's inputs flattened and joined in
/// input order (`inputShape` is then [total elements]), and gives its outputs the same way;
/// `Graph.pack` joins tensors so.
public final class Graph: Model {
    /// The inputs' names and sample shapes, in order.
    public let inputs: [(name: String, shape: [Int])]
    /// The layers, in the topological order they run.
    public let layers: [any Layer]
    /// For each layer, the names of the nodes it reads (inputs or layers), in order.
    public let layerInputs: [[String]]
    /// Each layer's output shape, for one sample.
    public let outputShapes: [[Int]]
    /// The output nodes' names, in order.
    public let outputNames: [String]

    /// Every layer's trainable parameters, in layer order: views into `parameterBlock`.
    public let parameters: [Parameter]
    /// Every layer's buffers (running statistics), in layer order: views into `bufferBlock`.
    public let buffers: [Parameter]
    /// Everything the weight file holds: each layer's parameters then buffers, in layer order.
    public let stateTensors: [Parameter]
    /// The parameters' values and gradients, back to back.
    public let parameterBlock: ParameterBlock
    /// The buffers' values, back to back (no gradients).
    public let bufferBlock: ParameterBlock

    /// Node k < inputs.count is input k; node inputs.count + j is layer j.
    private let readers: [[Int]]
    private let outputNodes: [Int]
    private var values: [Tensor?]
    private var masks: [Tensor?]
    private var gradients: [Tensor?]
    /// Whether gradients[k] is the graph's own accumulation buffer (it may be added to).
    private var ownsGradient: [Bool]
    private var accumulators: [Tensor?]
    private var packedInputs: [Tensor?]
    private var packedOutput: Tensor?
    private var unpackedGradients: [Tensor?]

    /// Builds the graph from `inputs` to `outputs` (see the type's description).
    /// - Parameters:
    ///   - inputs: the graph's input nodes, in the order `forward` takes their tensors.
    ///   - outputs: the nodes whose values the graph returns, in that order.
    ///   - random: draws the initial parameters; nil leaves them at zero (values loaded next).
    public convenience init(inputs: [Node], outputs: [Node], random: RandomGenerator?) throws {
        guard !inputs.isEmpty, !outputs.isEmpty else {
            throw SynapseError.invalidArgument("a graph needs at least one input and one output (got \(inputs.count) and \(outputs.count))")
        }
        for (k, node) in inputs.enumerated() where !node.isInput {
            throw SynapseError.invalidArgument("graph input \(k + 1) '\(node.name)' is the output of a \(type(of: node.config!).typeName), not a Node.input")
        }
        // Topological order: depth-first from the outputs, each node after what it reads.
        var order: [Node] = []
        var placed = Set<ObjectIdentifier>()
        func visit(_ node: Node) throws {
            let id = ObjectIdentifier(node)
            guard !placed.contains(id) else { return }
            if node.isInput {
                guard inputs.contains(where: { $0 === node }) else {
                    throw SynapseError.invalidArgument("the outputs depend on input '\(node.name)' of shape \(node.shape ?? []), which is not among the graph's inputs")
                }
                return
            }
            for input in node.inputs { try visit(input) }
            placed.insert(id)
            order.append(node)
        }
        for output in outputs { try visit(output) }

        // Names: given ones first, then `<type>_<k>` for the rest, as Sequential names layers.
        var taken = Set((inputs + order).map(\.name).filter { !$0.isEmpty })
        var names: [ObjectIdentifier: String] = [:]
        var counters: [String: Int] = [:]
        var seen = Set<String>()
        for node in inputs + order {
            var name = node.name
            if name.isEmpty {
                let base = node.config.map { type(of: $0).typeName.lowercased() } ?? "input"
                repeat {
                    counters[base, default: 0] += 1
                    name = "\(base)_\(counters[base]!)"
                } while taken.contains(name)
                taken.insert(name)
            }
            guard seen.insert(name).inserted else { throw SynapseError.shape("two nodes of the graph are named '\(name)'") }
            names[ObjectIdentifier(node)] = name
        }
        for (k, node) in inputs.enumerated() where inputs[..<k].contains(where: { $0 === node }) {
            throw SynapseError.invalidArgument("input '\(names[ObjectIdentifier(node)]!)' is given twice")
        }
        let spec = Spec(inputs: inputs.map { (names[ObjectIdentifier($0)]!, $0.shape!) },
                        layers: order.map { node in (names[ObjectIdentifier(node)]!, node.config!, node.inputs.map { names[ObjectIdentifier($0)]! }) },
                        outputs: outputs.map { names[ObjectIdentifier($0)]! })
        try self.init(spec, random: random, sharingValuesOf: nil)
    }

    /// A graph's description by names: what the architecture file holds, layers in topological order.
    struct Spec {
        var inputs: [(name: String, shape: [Int])]
        var layers: [(name: String, config: any LayerConfig, inputs: [String])]
        var outputs: [String]
    }

    /// Checks the description (names, order, shapes), then builds the layers into new blocks.
    init(_ spec: Spec, random: RandomGenerator?, sharingValuesOf shared: Graph?) throws {
        var index: [String: Int] = [:]
        var shapes: [[Int]] = []
        for (name, shape) in spec.inputs {
            guard index[name] == nil else { throw SynapseError.shape("two nodes of the graph are named '\(name)'") }
            guard !shape.isEmpty, (try? LayerLimits.elementCount(shape, of: "input")) != nil else {
                throw SynapseError.shape("input '\(name)' has shape \(shape): every dimension must be positive, \(LayerLimits.maxElements) elements at most")
            }
            index[name] = shapes.count
            shapes.append(shape)
        }
        var readers: [[Int]] = []
        for (name, config, inputNames) in spec.layers {
            let label = "node '\(name)' (\(type(of: config).typeName))"
            guard index[name] == nil else { throw SynapseError.shape("two nodes of the graph are named '\(name)'") }
            guard !inputNames.isEmpty else { throw SynapseError.shape("\(label) reads no node") }
            var read: [Int] = []
            for input in inputNames {
                guard let k = index[input] else {
                    throw SynapseError.shape("\(label) reads '\(input)', which is no input or earlier node of the graph")
                }
                read.append(k)
            }
            let inputShapes = read.map { shapes[$0] }
            let described = zip(inputNames, inputShapes).map { "'\($0)' \($1)" }.joined(separator: ", ")
            let shape: [Int]
            do {
                if let merge = config as? any MergeLayerConfig {
                    shape = try merge.outputShape(for: inputShapes)
                } else {
                    guard read.count == 1 else {
                        throw SynapseError.shape("\(type(of: config).typeName) takes one input, got \(read.count)")
                    }
                    shape = try config.outputShape(for: inputShapes[0])
                }
            } catch let error as SynapseError {
                throw SynapseError.shape("\(label) on \(described): \(error)")
            }
            index[name] = shapes.count
            shapes.append(shape)
            readers.append(read)
        }
        var outputNodes: [Int] = []
        for name in spec.outputs {
            guard let k = index[name] else { throw SynapseError.shape("output '\(name)' is no node of the graph") }
            outputNodes.append(k)
        }
        guard !outputNodes.isEmpty else { throw SynapseError.shape("a graph needs at least one output") }

        let (layers, blocks) = try ModelBuilding.build(spec.layers.map { ($0.name, $0.config) }, random: random,
                                                       sharingValuesOf: shared?.parameterBlock)
        for (layer, entry) in zip(layers, spec.layers) {
            if entry.config is any MergeLayerConfig && !(layer is any MergeLayer) {
                throw SynapseError.invalidArgument("node '\(entry.name)': \(type(of: entry.config).typeName) is a merge config, "
                                                   + "but its layer \(type(of: layer)) is not a MergeLayer")
            }
            for p in layer.parameters + layer.buffers where !p.name.contains(".") { p.name = "\(layer.name).\(p.name)" }
        }
        inputs = spec.inputs
        self.layers = layers
        layerInputs = spec.layers.map(\.inputs)
        outputShapes = Array(shapes[spec.inputs.count...])
        outputNames = spec.outputs
        self.readers = readers
        self.outputNodes = outputNodes
        parameters = layers.flatMap(\.parameters)
        buffers = layers.flatMap(\.buffers)
        stateTensors = layers.flatMap { $0.parameters + $0.buffers }
        if let blocks {
            (parameterBlock, bufferBlock) = blocks
        } else {
            parameterBlock = ParameterBlock(laying: parameters, sharingValuesOf: shared?.parameterBlock)
            bufferBlock = ParameterBlock(laying: buffers, withGradients: false)
        }
        let nodes = spec.inputs.count + layers.count
        values = Array(repeating: nil, count: nodes)
        masks = Array(repeating: nil, count: nodes)
        gradients = Array(repeating: nil, count: nodes)
        ownsGradient = Array(repeating: false, count: nodes)
        accumulators = Array(repeating: nil, count: nodes)
        packedInputs = Array(repeating: nil, count: spec.inputs.count)
        unpackedGradients = Array(repeating: nil, count: outputNodes.count)
    }

    /// The shape of node `k` (an input or a layer's output).
    private func shape(of k: Int) -> [Int] { k < inputs.count ? inputs[k].shape : outputShapes[k - inputs.count] }

    /// The output nodes' sample shapes, in order.
    public var outputNodeShapes: [[Int]] { outputNodes.map(shape(of:)) }

    /// The input's shape, or for several inputs [their element counts added].
    public var inputShape: [Int] {
        inputs.count == 1 ? inputs[0].shape : [inputs.reduce(0) { $0 + $1.shape.reduce(1, *) }]
    }

    /// The output's shape, or for several outputs [their element counts added].
    public var outputShape: [Int] {
        outputNodes.count == 1 ? shape(of: outputNodes[0]) : [outputNodeShapes.reduce(0) { $0 + $1.reduce(1, *) }]
    }

    // MARK: - Running

    /// Runs every layer in topological order on one batch per input (same batch size, each of
    /// its input's sample shape) and returns one batch per output: the layers' own buffers,
    /// valid until the next forward.
    public func forward(_ batches: [Tensor], training: Bool = false) -> [Tensor] {
        precondition(batches.count == inputs.count, "the graph takes \(inputs.count) inputs, got \(batches.count)")
        for (k, x) in batches.enumerated() {
            precondition(Array(x.shape.dropFirst()) == inputs[k].shape && x.batchSize == batches[0].batchSize,
                         "input '\(inputs[k].name)' takes samples of shape \(inputs[k].shape), got a batch of shape \(x.shape)")
            values[k] = x
            masks[k] = nil
        }
        let first = inputs.count
        for (j, layer) in layers.enumerated() {
            let read = readers[j]
            let output: Tensor
            if let merge = layer as? any MergeLayer {
                output = merge.forward(read.map { values[$0]! }, training: training)
                masks[first + j] = masks[read[0]]
            } else if let masking = layer as? SequenceMasking {
                masking.inputMask = masks[read[0]]
                output = layer.forward(values[read[0]]!, training: training)
                masks[first + j] = masking.outputMask
            } else {
                output = layer.forward(values[read[0]]!, training: training)
                masks[first + j] = masks[read[0]]
            }
            values[first + j] = output
        }
        return outputNodes.map { values[$0]! }
    }

    /// Back-propagates one dLoss/dOutput per output (of the last forward); parameter gradients
    /// accumulate. The gradients of the inputs are not computed.
    public func backward(_ outputGradients: [Tensor]) {
        precondition(outputGradients.count == outputNodes.count, "the graph has \(outputNodes.count) outputs, got \(outputGradients.count) gradients")
        for k in gradients.indices { gradients[k] = nil; ownsGradient[k] = false }
        for (k, g) in zip(outputNodes, outputGradients) { contribute(g, to: k) }
        let first = inputs.count
        for j in layers.indices.reversed() {
            guard let g = gradients[first + j] else { continue }
            let read = readers[j]
            if let merge = layers[j] as? any MergeLayer {
                let dx = merge.backwardInputs(g)
                for (k, d) in zip(read, dx) where k >= first { contribute(d, to: k) }
            } else if read[0] >= first {
                contribute(layers[j].backward(g), to: read[0])
            } else {
                layers[j].backwardParameters(g)
            }
            gradients[first + j] = nil
        }
    }

    /// Adds `g` to node k's gradient: the first is kept as it is (no copy); a second is summed
    /// with it in the node's own buffer. Tensors the graph does not own are never written.
    private func contribute(_ g: Tensor, to k: Int) {
        guard let current = gradients[k] else { gradients[k] = g; return }
        if !ownsGradient[k] {
            let sum = Tensor.reusing(accumulators[k], shape: current.shape)
            accumulators[k] = sum
            sum.assign(current)
            gradients[k] = sum
            ownsGradient[k] = true
        }
        gradients[k]!.add(g)
    }

    /// One batch (N, inputShape) for a graph of one input; for several, each sample's inputs
    /// flattened and joined (see `pack`).
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(Array(input.shape.dropFirst()) == inputShape,
                     "model expects samples of shape \(inputShape), got a batch of shape \(input.shape)")
        let outputs = forward(inputs.count == 1 ? [input] : unpack(input, shapes: inputs.map(\.shape), into: &packedInputs),
                              training: training)
        if outputs.count == 1 { return outputs[0] }
        let packed = Tensor.reusing(packedOutput, shape: [input.batchSize] + outputShape)
        packedOutput = packed
        Graph.pack(outputs, into: packed)
        return packed
    }

    /// Back-propagates dLoss/dOutput of the last forward (the outputs packed as `forward` returned
    /// them) through every node; parameter gradients accumulate.
    public func backward(_ outputGradient: Tensor) {
        if outputNodes.count == 1 { backward([outputGradient]); return }
        backward(unpack(outputGradient, shapes: outputNodeShapes, into: &unpackedGradients))
    }

    /// Each sample of `tensors` (same batch size) flattened and joined in order: (N, total).
    public static func pack(_ tensors: [Tensor]) -> Tensor {
        let n = tensors.first?.batchSize ?? 0
        let result = Tensor(shape: [n, tensors.reduce(0) { $0 + $1.sampleCount }])
        pack(tensors, into: result)
        return result
    }

    static func pack(_ tensors: [Tensor], into result: Tensor) {
        let n = result.batchSize, total = result.sampleCount
        var start = 0
        for t in tensors {
            let w = t.sampleCount
            let (src, dst) = (t.data, result.data + start)
            for r in 0..<n { (dst + r &* total).update(from: src + r &* w, count: w) }
            start += w
        }
    }

    /// The parts of a packed batch, copied into `buffers` (reused from call to call).
    private func unpack(_ packed: Tensor, shapes: [[Int]], into buffers: inout [Tensor?]) -> [Tensor] {
        let n = packed.batchSize, total = packed.sampleCount
        var start = 0
        return shapes.enumerated().map { k, shape in
            let part = Tensor.reusing(buffers[k], shape: [n] + shape)
            buffers[k] = part
            let w = part.sampleCount
            let (src, dst) = (packed.data + start, part.data)
            for r in 0..<n { (dst + r &* w).update(from: src + r &* total, count: w) }
            start += w
            return part
        }
    }

    /// Hands `random` to every layer (dropout masks).
    public func attach(random: RandomGenerator) { for layer in layers { layer.attach(random: random) } }

    /// A graph of the same description whose parameters view this graph's value block (see
    /// `Sequential.replica`): it owns only its gradients, buffers and working memory.
    public func replica() throws -> Graph {
        let replica = try Graph(spec, random: nil, sharingValuesOf: self)
        for (copy, layer) in zip(replica.layers, layers) { copy.adoptState(of: layer) }
        replica.bufferBlock.values.assign(bufferBlock.values)
        return replica
    }

    var spec: Spec {
        Spec(inputs: inputs, layers: zip(layers, layerInputs).map { ($0.name, $0.config, $1) }, outputs: outputNames)
    }

    /// Bytes of the activations one training step at `batchSize` holds: every node's output
    /// (kept by its layer for backward) and every node's input gradient, as float32.
    public func activationBytes(batchSize: Int) -> Int {
        4 * batchSize * 2 * outputShapes.reduce(0) { $0 + $1.reduce(1, *) }
    }

    /// A table of nodes, output shapes, parameter counts and the nodes each reads, with totals,
    /// as Keras prints a functional model.
    public func summary() -> String {
        func grouped(_ n: Int) -> String {
            let digits = Array(String(n))
            return String(digits.enumerated().flatMap { i, d in i > 0 && (digits.count - i) % 3 == 0 ? [",", d] : [d] })
        }
        func shapeText(_ shape: [Int]) -> String { "(None, " + shape.map(String.init).joined(separator: ", ") + ")" }
        var rows = inputs.map { ("\($0.name) (Input)", shapeText($0.shape), "0", "") }
        for (j, layer) in layers.enumerated() {
            rows.append(("\(layer.name) (\(layer.displayTypeName))", shapeText(outputShapes[j]),
                         grouped(layer.parameterCount + layer.buffers.reduce(0) { $0 + $1.value.count }),
                         layerInputs[j].joined(separator: ", ")))
        }
        let w0 = max(28, (rows.map(\.0.count).max() ?? 0) + 2)
        let w1 = max(22, (rows.map(\.1.count).max() ?? 0) + 2)
        let w2 = 12
        func line(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
            a.padding(toLength: w0, withPad: " ", startingAt: 0) + b.padding(toLength: w1, withPad: " ", startingAt: 0)
                + c.padding(toLength: w2, withPad: " ", startingAt: 0) + d
        }
        let trainable = parameters.reduce(0) { $0 + $1.value.count }
        let untrained = buffers.reduce(0) { $0 + $1.value.count }
        let width = w0 + w1 + w2 + max(14, rows.map(\.3.count).max() ?? 0)
        let rule = String(repeating: "=", count: width)
        var out = ["Model: \"graph\"", String(repeating: "_", count: width),
                   line("Layer (type)", "Output Shape", "Param #", "Connected to"), rule]
        out += rows.map { line($0.0, $0.1, $0.2, $0.3) }
        out += [rule, "Outputs: \(outputNames.joined(separator: ", "))",
                "Total params: \(grouped(trainable + untrained))",
                "Trainable params: \(grouped(trainable))", "Non-trainable params: \(grouped(untrained))"]
        return out.joined(separator: "\n")
    }
}
