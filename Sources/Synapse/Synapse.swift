// The umbrella module: `import Synapse` brings every part of the toolkit.
@_exported import Augment
@_exported import Conv
@_exported import Dense
@_exported import Recurrent

extension LayerRegistry {
    /// Every layer type Synapse defines, for `Sequential.load`; `registering(_:)` adds your own.
    public static var standard: LayerRegistry { LayerRegistry.dense.merging(.conv).merging(.recurrent) }
}
