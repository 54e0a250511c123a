@_exported import Dense

extension LayerRegistry {
    /// The recurrent layers: `SimpleRNN` and `Embedding`.
    public static var recurrent: LayerRegistry { LayerRegistry([SimpleRNN.Config.self, Embedding.Config.self]) }
}
