import Foundation

/// What the trainer, checkpoints, workers and ranks need of a model: layers built from their
/// configs into one `ParameterStorage`, run forward and backward in a fixed order, with replicas
/// that share the values. `Sequential` (a chain) and `Graph` (any directed acyclic graph of
/// layers) are the two kinds.
///
/// The model takes batches of samples of `inputShape` and gives batches of `outputShape` (one
/// sample each, batch dimension excluded). A graph of several inputs or outputs takes and gives
/// them flattened and joined per sample (see `Graph.pack`).
public protocol Model: AnyObject {
    /// The shape of one input sample.
    var inputShape: [Int] { get }
    /// The shape of one output sample.
    var outputShape: [Int] { get }
    /// Trainable parameters, in the order of `parameterBlock`.
    var parameters: [Parameter] { get }
    /// Saved, untrained tensors (running statistics), in the order of `bufferBlock`.
    var buffers: [Parameter] { get }
    /// Everything a weight file holds: parameters and buffers, by layer.
    var stateTensors: [Parameter] { get }
    /// Every parameter's value and gradient, back to back in `parameters` order.
    var parameterBlock: ParameterBlock { get }
    /// The buffers' values, back to back in `buffers` order (no gradients).
    var bufferBlock: ParameterBlock { get }

    /// Maps a batch (N, inputShape...) to the model's output batch, a buffer of the model's own
    /// valid until its next forward.
    func forward(_ input: Tensor, training: Bool) -> Tensor
    /// Back-propagates dLoss/dOutput of the last forward pass; parameter gradients accumulate.
    func backward(_ outputGradient: Tensor)
    /// Hands every layer the generator behind its random draws (dropout masks).
    func attach(random: RandomGenerator)
    /// A model of the same architecture whose parameters view this model's value block, with
    /// its own gradients, buffers and working memory (a worker's replica).
    func replica() throws -> Self
    /// A table of the layers, their output shapes and parameter counts.
    func summary() -> String
    /// The architecture file's contents (JSON, keys sorted), with `training` settings.
    func architectureJSON(training: [String: ConfigValue], pretty: Bool) throws -> Data
    /// The layers, in the order they run.
    var layers: [any Layer] { get }
}

extension Model {
    /// Sets every parameter gradient to zero: one fill of the gradient block.
    public func zeroGradients() { parameterBlock.gradients.fill(0) }

    /// Throws unless `batch` is a batch of samples of `inputShape`, naming both shapes (and the
    /// missing batch axis when that is what is wrong).
    public func checkBatch(_ batch: Tensor) throws {
        guard batch.shape.count == inputShape.count + 1, Array(batch.shape.dropFirst()) == inputShape else {
            let hint = batch.shape == inputShape
                ? "; this is one sample without the batch axis: pass x.reshaped([1] + x.shape)" : ""
            throw SynapseError.shape("the model takes batches of shape [N] + \(inputShape), got \(batch.shape)\(hint)")
        }
    }

    /// The outputs for every sample of `inputs` (N, ...), in evaluation mode, `batchSize` at a
    /// time; throws when `inputs` is not a batch of the model's samples or `batchSize` < 1.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) throws -> Tensor {
        try checkBatch(inputs)
        guard batchSize >= 1 else { throw SynapseError.invalidArgument("predict: batchSize is \(batchSize), it must be at least 1") }
        let n = inputs.batchSize
        let result = Tensor(shape: [n] + outputShape)
        let outCount = Tensor.elementCount(outputShape)
        BLAS.withThreadPlan(workers: 1, splitsRows: splitsRowsAcrossThreads) {
            for start in stride(from: 0, to: n, by: batchSize) {
                let rows = min(batchSize, n - start)
                // A view of the chunk: layers read their input and never write it.
                let output = forward(inputs.rows(start..<(start + rows)), training: false)
                (result.data + start * outCount).update(from: output.data, count: rows * outCount)
            }
        }
        return result
    }

    /// Whether a layer shares rows out to threads that call OpenBLAS themselves (see
    /// `BLAS.withThreadPlan`).
    public var splitsRowsAcrossThreads: Bool { layers.contains { $0.splitsRowsAcrossThreads } }

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

    /// Loads weights from a weight file or a training checkpoint (whose training state is skipped).
    public func loadWeightsOrCheckpoint(from url: URL) throws {
        var contents = try SafeTensors.read(from: url)
        contents.tensors.removeAll { entry in Trainer.trainingStatePrefixes.contains { entry.name.hasPrefix($0) } }
        try loadWeights(contents, path: url.path)
    }

    /// Writes the weights (safetensors, PyTorch `state_dict` names) to `url` and the architecture
    /// and training settings to the `.json` beside it, each atomically (see `Sequential.save`).
    public func save(to url: URL, training: [String: ConfigValue] = [:]) throws {
        try SafeTensors.write(stateTensors.map { ($0.name, $0.value) }, metadata: ["format": "pt"], to: url)
        try AtomicFile.write(try architectureJSON(training: training, pretty: true), to: Sequential.configURL(forWeights: url))
    }
}

/// Builds layers from their configs straight into new blocks, as every model does.
enum ModelBuilding {
    /// The layers `entries` describe, built in order into blocks laid out from their configs, and
    /// the blocks when every layer took exactly what its config declared (nil: the model lays its
    /// layers' tensors out anew). With `shared`, the parameters view that block's values.
    static func build(_ entries: [(name: String, config: any LayerConfig)], random: RandomGenerator?,
                      sharingValuesOf shared: ParameterBlock?) throws
        -> (layers: [any Layer], blocks: (ParameterBlock, ParameterBlock)?) {
        let parameterBlock = ParameterBlock(shapes: entries.flatMap { $0.config.parameterShapes.map(\.shape) },
                                            sharingValuesOf: shared, withGradients: true)
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
        return (layers, built ? (parameterBlock, bufferBlock) : nil)
    }

    /// Compares the tensors `layers` (label, saved name, config) need with a weight file's header,
    /// before anything is allocated: every missing tensor or wrong shape is listed, and the total
    /// the layers need is bounded by what the file holds.
    static func checkWeights(_ layers: [(label: String, name: String, config: any LayerConfig)], url: URL, configURL: URL) throws {
        let header = try SafeTensors.readHeader(from: url)
        var problems: [String] = []
        // Each tensor is within LayerLimits.maxElements, so the sum cannot overflow.
        var needed = 0
        let available = header.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        for (label, layerName, config) in layers {
            let shapes = config.parameterShapes + config.bufferShapes
            needed += shapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
            // A layer without a name is named when the model is built; the total below still
            // bounds what it allocates by what the weight file holds.
            guard !layerName.isEmpty else { continue }
            for (local, shape) in shapes {
                let name = "\(layerName).\(local)"
                if let found = header[name] {
                    if found.shape != shape {
                        problems.append("\(label) needs '\(name)' of shape \(shape), \(url.lastPathComponent) has \(found.shape)")
                    }
                } else {
                    problems.append("\(label) needs '\(name)' of shape \(shape), \(url.lastPathComponent) has no such tensor")
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
    }
}
