import Foundation

/// Reading a saved model of either kind.
public enum SavedModel {
    /// The `Sequential` or `Graph` saved at `url` (weights) with its `.json` beside it, by the
    /// architecture file's `format`.
    public static func load(from url: URL, registry: LayerRegistry) throws -> any Model {
        let configURL = Sequential.configURL(forWeights: url)
        struct Format: Decodable { var format: String? }
        if let data = try? Data(contentsOf: configURL), let found = try? JSONDecoder().decode(Format.self, from: data),
           found.format == "synapse.graph" {
            return try Graph.load(from: url, registry: registry)
        }
        return try Sequential.load(from: url, registry: registry)
    }
}
