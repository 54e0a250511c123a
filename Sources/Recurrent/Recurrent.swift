@_exported import Dense

/// The registry of the Recurrent module's layer types.
extension LayerRegistry {
    /// The recurrent layers: `SimpleRNN`, `LSTM`, `GRU`, `Bidirectional`, `Embedding` and
    /// `SequencePooling`.
    public static var recurrent: LayerRegistry {
        LayerRegistry([SimpleRNN.Config.self, LSTM.Config.self, GRU.Config.self, Bidirectional.Config.self,
                       Embedding.Config.self, SequencePooling.Config.self])
    }
}
