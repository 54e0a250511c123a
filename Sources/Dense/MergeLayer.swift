/// The settings of a layer that merges several inputs into one (`Add`, `Concatenate`,
/// `Multiply`): the one addition a merge layer makes to the `LayerConfig` contract is the output
/// shape for several input shapes. Used on one input (in a `Sequential`), it is a merge of one.
public protocol MergeLayerConfig: LayerConfig {
    /// The output shape of one sample for inputs of `inputShapes`, or a `SynapseError.shape`
    /// naming the inputs that do not fit.
    func outputShape(for inputShapes: [[Int]]) throws -> [Int]
}

extension MergeLayerConfig {
    /// The output shape for one input: `outputShape(for: [inputShape])`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try outputShape(for: [inputShape]) }
}

/// A layer of several inputs: a `Graph` hands it the outputs of several nodes.
///
/// `forward(_ inputs:training:)` maps the input batches (same batch size) to one output batch,
/// a buffer of the layer's own; `backwardInputs` takes dLoss/dOutput and returns dLoss/dInput
/// for each input, in order. A returned gradient may be the output gradient itself or one
/// tensor shared by several inputs: readers never write it. The single-input `forward` and
/// `backward` of `Layer` are the merge of one input.
public protocol MergeLayer: Layer {
    /// Maps the input batches (one per input node, same batch size) to one output batch, in the
    /// layer's own buffer: valid until its next `forward`.
    func forward(_ inputs: [Tensor], training: Bool) -> Tensor
    /// dLoss/dInput for each input of the last `forward`, in order, from dLoss/dOutput. A returned
    /// tensor may be `outputGradient` itself or shared by several inputs: never write to it.
    func backwardInputs(_ outputGradient: Tensor) -> [Tensor]
}

extension MergeLayer {
    /// The merge of one input: `forward([input], training:)`.
    public func forward(_ input: Tensor, training: Bool) -> Tensor { forward([input], training: training) }
    /// The gradient of the one input: `backwardInputs(outputGradient)[0]`.
    public func backward(_ outputGradient: Tensor) -> Tensor { backwardInputs(outputGradient)[0] }
}

/// The merge layers' common shape rule: at least `minimum` inputs, all of one shape.
func sameShapes(_ inputShapes: [[Int]], layer: String, minimum: Int = 2) throws -> [Int] {
    guard inputShapes.count >= minimum, let first = inputShapes.first else {
        throw SynapseError.shape("\(layer) takes at least \(minimum) inputs, got \(inputShapes.count)")
    }
    for (k, shape) in inputShapes.enumerated().dropFirst() where shape != first {
        throw SynapseError.shape("\(layer) takes inputs of one shape: input 1 has \(first), input \(k + 1) has \(shape)")
    }
    return first
}
