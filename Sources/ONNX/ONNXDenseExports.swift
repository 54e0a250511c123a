import Dense

// The mappings of the Dense module's layers (ONNXLayerExports.table).

/// Linear: `Gemm(x, weight, bias, transB=1)` on (N, F); on (N, ..., F) a `MatMul` with the
/// transposed weight and an `Add` of the bias (the weight initializer keeps PyTorch's (out, in)).
func exportLinear(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let linear = try layer(any, as: Linear.self)
    let weight = graph.addInitializer(linear.weight)
    let bias = linear.bias.map { graph.addInitializer($0) }
    let output = graph.shape.dropLast() + [linear.outputFeatures]
    if graph.shape.count == 1 {
        graph.chain("Gemm", name: linear.name, inputs: [graph.current, weight] + (bias.map { [$0] } ?? []),
                    attributes: [ONNXAttribute.int("transB", 1)], shape: Array(output))
        return
    }
    let transposed = graph.addNode("Transpose", name: "\(linear.name)/weight_t", inputs: [weight],
                                   outputs: ["\(linear.name)/weight_t"], attributes: [ONNXAttribute.ints("perm", [1, 0])])[0]
    guard let bias else {
        graph.chain("MatMul", name: linear.name, inputs: [graph.current, transposed], shape: Array(output))
        return
    }
    let product = graph.addNode("MatMul", name: "\(linear.name)/matmul", inputs: [graph.current, transposed],
                                outputs: ["\(linear.name)/matmul"])[0]
    graph.chain("Add", name: linear.name, inputs: [product, bias], shape: Array(output))
}

/// Activation: `Relu`, `LeakyRelu(alpha)`, `Sigmoid`, `Tanh`, `Softmax(axis=-1)`.
func exportActivation(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let activation = try layer(any, as: Activation.self)
    let shape = graph.shape
    switch activation.function {
    case .relu: graph.chain("Relu", name: activation.name, inputs: [graph.current], shape: shape)
    case .leakyReLU(let alpha):
        graph.chain("LeakyRelu", name: activation.name, inputs: [graph.current],
                    attributes: [ONNXAttribute.float("alpha", alpha)], shape: shape)
    case .sigmoid: graph.chain("Sigmoid", name: activation.name, inputs: [graph.current], shape: shape)
    case .tanh: graph.chain("Tanh", name: activation.name, inputs: [graph.current], shape: shape)
    case .softmax:
        graph.chain("Softmax", name: activation.name, inputs: [graph.current],
                    attributes: [ONNXAttribute.int("axis", -1)], shape: shape)
    }
}

/// BatchNorm in its inference form: `BatchNormalization(x, weight, bias, running_mean,
/// running_var, epsilon)` over axis 1, on (N, F) or (N, C, H, W).
func exportBatchNorm(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    let norm = try layer(any, as: BatchNorm.self)
    guard graph.shape.count == 1 || graph.shape.count == 3 else {
        throw SynapseError.invalidArgument("ONNX normalises axis 1: only (N, F) or (N, C, H, W) inputs are exported, got (N, \(graph.shape))")
    }
    let inputs = [graph.current] + [norm.weight, norm.bias, norm.runningMean, norm.runningVariance].map { graph.addInitializer($0) }
    graph.chain("BatchNormalization", name: norm.name, inputs: inputs,
                attributes: [ONNXAttribute.float("epsilon", norm.epsilon)], shape: graph.shape)
}

/// Dropout is the identity at inference: no node.
func exportDropout(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    _ = try layer(any, as: Dropout.self)
}

/// Identity (and a merge layer of one input in a chain): `Identity`.
func exportIdentity(_ any: any Layer, _ graph: ONNXGraphWriter) throws {
    graph.chain("Identity", name: any.name, inputs: [graph.current], shape: graph.shape)
}
