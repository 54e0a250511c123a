import CKernels

/// A lookup table: token ids (N, T) -> vectors (N, T, D), PyTorch's `nn.Embedding`.
///
/// Ids are stored as Float (exact up to 2^24, far above any vocabulary here). The weight is
/// (vocabulary, D), initialised N(0, 1) as in PyTorch unless told otherwise (Keras uses
/// U(-0.05, 0.05), `.uniform(0.05)`); its gradient is accumulated only into the
/// rows of the ids seen. With a `paddingIndex`, that row is never trained and the layer starts a
/// padding mask (1 where the id is not padding) that a following `SimpleRNN` honours.
public final class Embedding: Layer, SequenceMasking {
    /// The settings of an `Embedding` layer.
    public struct Config: LayerConfig {
        /// `Embedding`, the type name in architecture files.
        public static let typeName = "Embedding"
        /// The number of ids (rows of the weight), in 1...2^24: ids run 0..<vocabularySize.
        public var vocabularySize: Int
        /// D, the width of each vector, in 1...2^24.
        public var dimension: Int
        /// The id whose row stays zero and untrained, and which starts a padding mask.
        public var paddingIndex: Int?
        /// Fills the weight: N(0, 1) as in PyTorch unless told otherwise (Keras: `.uniform(0.05)`).
        public var initializer: Initializer

        /// A config of `vocabularySize` ids mapped to `dimension`-wide vectors, with no padding id and an
        /// N(0, 1) weight unless told otherwise.
        public init(vocabularySize: Int, dimension: Int, paddingIndex: Int? = nil, initializer: Initializer = .normal(1)) {
            (self.vocabularySize, self.dimension, self.paddingIndex, self.initializer) = (vocabularySize, dimension, paddingIndex, initializer)
        }

        enum CodingKeys: String, CodingKey { case vocabularySize, dimension, paddingIndex, initializer }

        /// Reads the settings; a file without `"initializer"` gets N(0, 1).
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(vocabularySize: try c.decode(Int.self, forKey: .vocabularySize),
                      dimension: try c.decode(Int.self, forKey: .dimension),
                      paddingIndex: try c.decodeIfPresent(Int.self, forKey: .paddingIndex),
                      // Files written before this setting was saved: the default.
                      initializer: try c.decodeIfPresent(Initializer.self, forKey: .initializer) ?? .normal(1))
        }

        /// Throws `SynapseError.invalidArgument` unless the vocabulary size and dimension are in 1...2^24,
        /// the padding index (if any) is an id of the vocabulary, and the weight has at most 2^28 elements.
        public func validate() throws {
            let (range, layer) = (1...LayerLimits.maxDimension, Self.typeName)
            try LayerLimits.check(vocabularySize, in: range, "vocabularySize", layer: layer)
            try LayerLimits.check(dimension, in: range, "dimension", layer: layer)
            if let paddingIndex { try LayerLimits.check(paddingIndex, in: 0...(vocabularySize - 1), "paddingIndex", layer: layer) }
            _ = try LayerLimits.elementCount([vocabularySize, dimension], of: "\(layer) weight")
        }

        /// `weight` (vocabularySize, dimension).
        public var parameterShapes: [(name: String, shape: [Int])] { [("weight", [vocabularySize, dimension])] }

        /// The input shape with `dimension` appended: (T) ids -> (T, D).
        /// - Throws: `SynapseError.shape` for an empty input shape.
        public func outputShape(for inputShape: [Int]) throws -> [Int] {
            guard !inputShape.isEmpty else {
                throw SynapseError.shape("expects token ids per sample, got shape \(inputShape)")
            }
            return inputShape + [dimension]
        }

        /// An `Embedding` in `storage`, its weight drawn from `random` (zero without one).
        public func makeLayer(random: RandomGenerator?, storage: ParameterStorage) throws -> any Layer {
            try Embedding(self, random: random, storage: storage)
        }
    }

    /// The layer's settings, as saved in the architecture file.
    public let config: Config
    /// The layer's name in the model; its parameter is `<name>.weight`.
    public var name: String
    /// The number of ids the table holds (`Config.vocabularySize`).
    public var vocabularySize: Int { config.vocabularySize }
    /// D, the width of each vector (`Config.dimension`).
    public var dimension: Int { config.dimension }
    /// The id whose row stays zero and untrained and that starts a padding mask, if any.
    public var paddingIndex: Int? { config.paddingIndex }
    /// `weight` (vocabularySize, D): row i is id i's vector.
    public let weight: Parameter

    /// Ignored: an embedding starts a mask rather than taking one.
    public var inputMask: Tensor?
    /// With a `paddingIndex`, the mask of the last forward (N, T; 0 where the id is padding), else nil.
    public var outputMask: Tensor? { paddingIndex == nil ? nil : mask }

    private var ids: Tensor?
    /// The ids of the last forward as row numbers, for the gather and scatter kernels (capacity
    /// grows with the batch, never shrinks).
    private var rows: UnsafeMutablePointer<Int32>?
    private var rowCapacity = 0
    private var output: Tensor?
    private var mask: Tensor?
    private var inputGradient: Tensor?

    /// Builds the layer `config` describes; with `random`, the weight is drawn from its
    /// initializer (then the padding row zeroed), else left at zero.
    public init(_ config: Config, random: RandomGenerator?, storage: ParameterStorage = .standalone, name: String = "") throws {
        try config.validate()
        self.config = config
        self.name = name
        let (v, d) = (config.vocabularySize, config.dimension)
        weight = storage.parameter("weight", [v, d])
        if let random {
            config.initializer.fill(weight.value, fanIn: v, fanOut: d, random: random)
            if let paddingIndex = config.paddingIndex { (weight.value.data + paddingIndex * d).update(repeating: 0, count: d) }
        }
    }

    /// An embedding of `vocabularySize` ids into `dimension`-wide vectors, its weight drawn from
    /// `random` by `initializer` (default N(0, 1)); the row of `paddingIndex`, if given, starts at zero.
    /// - Throws: `SynapseError.invalidArgument` for a size out of range or a padding index outside
    ///   the vocabulary.
    public convenience init(_ vocabularySize: Int, _ dimension: Int, paddingIndex: Int? = nil,
                            initializer: Initializer = .normal(1), random: RandomGenerator, name: String = "") throws {
        try self.init(Config(vocabularySize: vocabularySize, dimension: dimension, paddingIndex: paddingIndex,
                             initializer: initializer), random: random, name: name)
    }

    deinit { rows?.deallocate() }

    /// `weight`.
    public var parameters: [Parameter] { [weight] }

    /// Looks up each id of `input` (any shape (N, ...), ids as whole Floats in 0..<vocabularySize):
    /// output `input.shape + [D]`, in the layer's own buffer; with a `paddingIndex`, also the mask.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let d = dimension
        let out = Tensor.reusing(output, shape: input.shape + [d])
        output = out
        ids = input
        let count = input.count
        if count > rowCapacity {
            rows?.deallocate()
            rows = .allocate(capacity: count)
            rowCapacity = count
        }
        let (x, r, v) = (input.data, rows!, vocabularySize)
        for i in 0..<count {
            let id = Int(exactly: x[i]) ?? -1
            precondition(id >= 0 && id < v, "Embedding '\(name)': token id \(x[i]) outside 0..<\(v)")
            r[i] = Int32(truncatingIfNeeded: id)
        }
        // The copies, with the rows asked for ahead (CKernels `embedding_gather`), a share of the
        // rows per thread.
        let (table, y) = (UnsafePointer(weight.value.data), out.data)
        BLAS.concurrentPerform(Embedding.workers(count &* d), callsBLAS: false) { w, workers in
            let i0 = count &* w / workers, i1 = count &* (w &+ 1) / workers
            synapse_kernels().pointee.embedding_gather(table, r + i0, i1 &- i0, d, y + i0 &* d)
        }
        if let paddingIndex {
            let m = Tensor.reusing(mask, shape: input.shape)
            mask = m
            let pad = Float(paddingIndex)
            for i in 0..<input.count { m.data[i] = x[i] == pad ? 0 : 1 }
        }
        return out
    }

    /// Ids have no gradient: returns zeros of the input's shape (an embedding comes first).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backwardParameters(outputGradient)
        let dx = Tensor.reusing(inputGradient, shape: ids!.shape)
        inputGradient = dx
        dx.fill(0)
        return dx
    }

    /// Threads for a gather or scatter of `values` floats: `BLAS.loopThreads`, or one below 2^16.
    private static func workers(_ values: Int) -> Int { values < 1 << 16 ? 1 : BLAS.loopThreads }

    /// Adds each output row's gradient into the weight row of its id (the padding row excepted); ids
    /// take no gradient, so this is the whole backward pass.
    public func backwardParameters(_ outputGradient: Tensor) {
        guard let ids, let rows else { preconditionFailure("Embedding '\(name)': backward before forward") }
        precondition(outputGradient.count == ids.count &* dimension,
                     "Embedding '\(name)': output gradient \(outputGradient.shape) does not match the last forward")
        // Row by row in order, as a loop here would add (CKernels `embedding_scatter_add`); a share
        // of the columns per thread (whole 16-float blocks), so every value gets the same sums in
        // the same order whatever the number of threads.
        let (count, d, dy, dw, skip) = (ids.count, dimension, UnsafePointer(outputGradient.data), weight.gradient.data,
                                        paddingIndex ?? -1)
        let blocks = (d &+ 15) / 16
        BLAS.concurrentPerform(min(Embedding.workers(count &* d), blocks), callsBLAS: false) { w, workers in
            let c0 = min(d, blocks &* w / workers &* 16), c1 = min(d, blocks &* (w &+ 1) / workers &* 16)
            synapse_kernels().pointee.embedding_scatter_add(rows, count, c1 &- c0, d, dy + c0, dw + c0, skip)
        }
    }
}

