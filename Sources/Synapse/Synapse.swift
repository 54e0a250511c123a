// The umbrella module: `import Synapse` brings every part of the toolkit.
@_exported import Augment
@_exported import Conv
@_exported import Dense
@_exported import Recurrent

/// The registry of every layer type `import Synapse` brings.
extension LayerRegistry {
    /// Every layer type Synapse defines, for `Sequential.load`; `registering(_:)` adds your own.
    public static var standard: LayerRegistry { LayerRegistry.dense.merging(.conv).merging(.recurrent) }
}
