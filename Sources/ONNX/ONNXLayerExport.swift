import Conv
import Dense
import Recurrent

/// How one layer type becomes ONNX nodes: reads the graph's `current` tensor (one sample of
/// `graph.shape`, batch first), appends nodes and initializers, and leaves `current` and
/// `shape` at the layer's output (which must equal the model's output shape for the layer).
///
/// Throws `SynapseError.invalidArgument` for a setting ONNX (or this mapping) cannot express;
/// the exporter prefixes the layer's index, name and type.
typealias ONNXLayerExport = @Sendable (_ layer: any Layer, _ graph: ONNXGraphWriter) throws -> Void

/// The layer types the exporter knows, by `typeName`: one table, so a new layer type (a graph
/// model's merge layers, LSTM, GRU) adds its mapping here in the change that adds the layer.
enum ONNXLayerExports {
    static let table: [String: ONNXLayerExport] = [
        Linear.typeName: exportLinear,
        Activation.typeName: exportActivation,
        BatchNorm.typeName: exportBatchNorm,
        Dropout.typeName: exportDropout,
        Conv2D.typeName: exportConv2D,
        MaxPool2D.typeName: exportMaxPool2D,
        AvgPool2D.typeName: exportAvgPool2D,
        Flatten.typeName: exportFlatten,
        Embedding.typeName: exportEmbedding,
        SimpleRNN.typeName: exportSimpleRNN,
        LSTM.typeName: exportLSTM,
        GRU.typeName: exportGRU,
        Bidirectional.typeName: exportBidirectional,
        SequencePooling.typeName: exportSequencePooling,
        GlobalAveragePooling2D.typeName: exportGlobalAveragePooling2D,
        Identity.typeName: exportIdentity,
        // A merge layer in a chain merges one input: the identity. In a `Graph` the exporter
        // writes merges itself (`Add`, `Concat`, `Mul` of several inputs).
        Add.typeName: exportIdentity,
        Multiply.typeName: exportIdentity,
    ]

    /// The known type names, sorted, for error messages.
    static var known: String { table.keys.sorted().joined(separator: ", ") }
}

/// Casts a layer to the type its table entry is for (the table is keyed by that type's name).
func layer<T: Layer>(_ layer: any Layer, as type: T.Type) throws -> T {
    guard let typed = layer as? T else {
        throw SynapseError.invalidArgument("is a \(Swift.type(of: layer)), not the \(T.typeName) layer its type name says")
    }
    return typed
}
