import Conv
import Dense

// The mappings of the Conv module's layers (ONNXLayerExports.table). Images are NCHW in both.

/// Conv2D: `Conv(x, weight, bias)` with `kernel_shape`, `strides` and symmetric `pads`.
func exportConv2D(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let conv = try layer(any, as: Conv2D.self)
    let output = try conv.outputShape(for: graph.shape)
    let inputs = [graph.current, graph.addInitializer(conv.weight)] + (conv.bias.map { [graph.addInitializer($0)] } ?? [])
    graph.chain("Conv", name: conv.name, inputs: inputs, attributes: [
        ONNXAttribute.ints("kernel_shape", [conv.kernelSize.height, conv.kernelSize.width]),
        ONNXAttribute.ints("strides", [conv.stride.height, conv.stride.width]),
        ONNXAttribute.ints("pads", [conv.padding.height, conv.padding.width, conv.padding.height, conv.padding.width]),
    ], shape: output)
}

/// The attributes of a pooling window.
private func windowAttributes(_ window: PoolingWindow) -> [Onnx_AttributeProto] {
    [ONNXAttribute.ints("kernel_shape", [window.kernel.height, window.kernel.width]),
     ONNXAttribute.ints("strides", [window.stride.height, window.stride.width]),
     ONNXAttribute.ints("pads", [window.padding.height, window.padding.width, window.padding.height, window.padding.width])]
}

/// MaxPool2D: `MaxPool` (padding counts as -infinity in both).
func exportMaxPool2D(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let pool = try layer(any, as: MaxPool2D.self)
    graph.chain("MaxPool", name: pool.name, inputs: [graph.current], attributes: windowAttributes(pool.window),
                shape: try pool.outputShape(for: graph.shape))
}

/// AvgPool2D: `AveragePool` with `count_include_pad=1` (Synapse divides by kH kW, as PyTorch).
func exportAvgPool2D(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let pool = try layer(any, as: AvgPool2D.self)
    graph.chain("AveragePool", name: pool.name, inputs: [graph.current],
                attributes: windowAttributes(pool.window) + [ONNXAttribute.int("count_include_pad", 1)],
                shape: try pool.outputShape(for: graph.shape))
}

/// Flatten: `Flatten(axis=1)`.
func exportFlatten(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let flatten = try layer(any, as: Flatten.self)
    graph.chain("Flatten", name: flatten.name, inputs: [graph.current], attributes: [ONNXAttribute.int("axis", 1)],
                shape: [graph.shape.reduce(1, *)])
}

/// GlobalAveragePooling2D: `GlobalAveragePool` (N, C, 1, 1), then `Flatten(axis=1)` to (N, C).
func exportGlobalAveragePooling2D(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let pool = try layer(any, as: GlobalAveragePooling2D.self)
    let output = try pool.outputShape(for: graph.shape)
    let pooled = graph.addNode("GlobalAveragePool", name: "\(pool.name)/pool", inputs: [graph.current],
                               outputs: ["\(pool.name)/pool"])[0]
    graph.chain("Flatten", name: pool.name, inputs: [pooled], attributes: [ONNXAttribute.int("axis", 1)], shape: output)
}
