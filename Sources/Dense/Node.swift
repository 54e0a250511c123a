/// A tensor of a graph being described: a model input, or the output of a layer (given by its
/// config) applied to other nodes. Nodes hold no values; `Graph(inputs:outputs:random:)` builds
/// the layers of every node the outputs depend on.
///
///     let x = Node.input(shape: [8], name: "x")
///     let y = Linear.Config(inputFeatures: 8, outputFeatures: 8)(x, name: "fc")
///     let sum = Add.Config()([x, y], name: "add")      // x is read by two layers
///
/// A node may feed any number of layers; a merge layer (`Add`, `Concatenate`, `Multiply`) takes
/// several. Names are optional: a graph names the rest `<type>_<k>` (`linear_1`), inputs `input_<k>`.
public final class Node {
    /// The node's name in the graph (and its layer's parameter prefix); empty until named.
    public let name: String
    /// The layer's settings; nil for a model input.
    public let config: (any LayerConfig)?
    /// The nodes the layer reads, in order; empty for a model input.
    public let inputs: [Node]
    /// The shape of one sample of a model input (batch dimension excluded); nil for a layer.
    public let shape: [Int]?

    init(name: String, config: (any LayerConfig)?, inputs: [Node], shape: [Int]?) {
        (self.name, self.config, self.inputs, self.shape) = (name, config, inputs, shape)
    }

    /// A model input taking samples of `shape`.
    public static func input(shape: [Int], name: String = "") -> Node {
        Node(name: name, config: nil, inputs: [], shape: shape)
    }

    /// Whether this node is a model input.
    public var isInput: Bool { config == nil }
}

extension LayerConfig {
    /// The layer this config describes, applied to `input`: a new node of a graph.
    public func callAsFunction(_ input: Node, name: String = "") -> Node {
        Node(name: name, config: self, inputs: [input], shape: nil)
    }
}

extension MergeLayerConfig {
    /// The merge layer this config describes, applied to `inputs` (in order): a new node.
    public func callAsFunction(_ inputs: [Node], name: String = "") -> Node {
        Node(name: name, config: self, inputs: inputs, shape: nil)
    }
}
