/// A trainable (or saved) tensor with its gradient, seen by optimizers and serializers without
/// their knowing which layer owns it.
///
/// A layer creates its parameters with local names (`weight`, `bias`); a `Sequential` model
/// prefixes them with the layer's name (`fc1.weight`), which are the keys of the saved file and
/// match PyTorch's `state_dict` names.
///
/// When a `Sequential` is built it moves its parameters into one block (see `ParameterBlock`):
/// `value` and `gradient` then become views into the model's value and gradient blocks. Layers
/// therefore read `parameter.value` and `parameter.gradient` when they use them and never keep
/// the tensor (or its pointer) from an earlier call.
public final class Parameter {
    /// `weight` in its layer; `<layer>.weight` once a model has named it (the weight file's key).
    public var name: String
    /// The current values; a view into the model's value block once the model is built.
    public internal(set) var value: Tensor
    /// Same shape as `value`. Backward passes *add* into it; the trainer zeroes it each step.
    public internal(set) var gradient: Tensor
    /// The block this parameter lives in and where (in elements), once a model has laid it out.
    public internal(set) var location: (block: ParameterBlock, offset: Int)?

    /// A parameter of its own (not yet in a model) holding `value`, with a zero gradient.
    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.gradient = Tensor(shape: value.shape)
    }

    /// A parameter whose value and gradient are views into a model's blocks.
    init(name: String, value: Tensor, gradient: Tensor, location: (block: ParameterBlock, offset: Int)) {
        (self.name, self.value, self.gradient, self.location) = (name, value, gradient, location)
    }

    /// The value's shape.
    public var shape: [Int] { value.shape }

    /// Sets the gradient to zero.
    public func zeroGradient() { gradient.fill(0) }
}

/// A model's parameters laid out back to back: every value in one 64-byte-aligned block, every
/// gradient in a second block in the same order, so that zeroing the gradients, clipping their
/// norm, summing a replica's gradients and an optimizer step are each one pass over a block.
///
/// Parameter k occupies `offsets[k]..<offsets[k + 1]` of both blocks, with no gaps. A replica's
/// block shares its `values` with the model's (read-only while it runs) and has its own
/// `gradients`.
public final class ParameterBlock {
    /// The values of every parameter, in order: shape (count).
    public let values: Tensor
    /// The gradients, parallel to `values`; empty in a block of buffers.
    public let gradients: Tensor
    /// Where each parameter starts, and the total count at the end.
    public let offsets: [Int]

    /// The number of values in the block: the sum of the parameters' element counts.
    public var count: Int { values.count }

    /// Moves `parameters` into new blocks: their current values and gradients are copied in and
    /// each parameter's `value` and `gradient` become views into the blocks (same shapes).
    ///
    /// - Parameter sharedValues: bind each value to this block's values instead of copying it:
    ///   the parameters then read another model's weights (a replica's).
    /// - Parameter withGradients: false for buffers (running statistics): the block then holds
    ///   values only and each buffer keeps its own, unused, gradient.
    convenience init(laying parameters: [Parameter], sharingValuesOf sharedValues: ParameterBlock? = nil, withGradients: Bool = true) {
        self.init(shapes: parameters.map(\.shape), sharingValuesOf: sharedValues, withGradients: withGradients)
        for (k, p) in parameters.enumerated() {
            let value = values.view(at: offsets[k], shape: p.shape)
            if sharedValues == nil { value.assign(p.value) }
            p.value = value
            if withGradients {
                let gradient = gradients.view(at: offsets[k], shape: p.shape)
                gradient.assign(p.gradient)
                p.gradient = gradient
            }
            p.location = (self, offsets[k])
        }
    }

    /// An empty block for tensors of `shapes`, to be handed out by a `ParameterStorage`.
    init(shapes: [[Int]], sharingValuesOf sharedValues: ParameterBlock?, withGradients: Bool) {
        var offsets = [0]
        for shape in shapes { offsets.append(offsets.last! + shape.reduce(1, *)) }
        if let sharedValues {
            precondition(sharedValues.offsets == offsets, "a replica's parameters must match the model's")
            values = sharedValues.values
        } else {
            values = Tensor(shape: [offsets.last!])
        }
        gradients = Tensor(shape: [withGradients ? offsets.last! : 0])
        self.offsets = offsets
    }

    /// True when `parameters` are this block's parameters, in order, still where it put them: the
    /// one-pass paths apply. Checks references only (no allocation).
    public func holds(_ parameters: [Parameter]) -> Bool {
        guard parameters.count == offsets.count - 1 else { return false }
        for (k, p) in parameters.enumerated() {
            guard let location = p.location, location.block === self, location.offset == offsets[k],
                  p.value.storage === values.storage, gradients.count == 0 || p.gradient.storage === gradients.storage
            else { return false }
        }
        return true
    }

    /// The block that `parameters` fill exactly, in order, if there is one.
    public static func common(_ parameters: [Parameter]) -> ParameterBlock? {
        guard let block = parameters.first?.location?.block, block.holds(parameters) else { return nil }
        return block
    }
}

/// Where a layer being built takes its parameters and buffers from.
///
/// `ParameterStorage.standalone` allocates each tensor on its own (a layer made by hand, before
/// any model). A model builds its layers from their configs into a storage over its blocks: each
/// layer's parameters are then views into the model's value and gradient blocks from the start,
/// in the order the layers ask for them (which is their `Config.parameterShapes` order), with no
/// copy and nothing to move. A replica's storage hands out views of the model's values (which it
/// never writes) with gradients of its own.
public final class ParameterStorage {
    private let parameterBlock: ParameterBlock?
    private let bufferBlock: ParameterBlock?
    private let sharesValues: Bool
    private var parameterIndex = 0, bufferIndex = 0

    private init(parameterBlock: ParameterBlock?, bufferBlock: ParameterBlock?, sharesValues: Bool) {
        (self.parameterBlock, self.bufferBlock, self.sharesValues) = (parameterBlock, bufferBlock, sharesValues)
    }

    /// Each tensor allocated on its own.
    public static var standalone: ParameterStorage { ParameterStorage(parameterBlock: nil, bufferBlock: nil, sharesValues: false) }

    /// A storage over a model's blocks (see `Sequential`).
    init(parameters: ParameterBlock, buffers: ParameterBlock, sharesValues: Bool) {
        (parameterBlock, bufferBlock, self.sharesValues) = (parameters, buffers, sharesValues)
    }

    /// Whether every tensor of the blocks was handed out.
    var isExhausted: Bool {
        parameterIndex == (parameterBlock?.offsets.count ?? 1) - 1 && bufferIndex == (bufferBlock?.offsets.count ?? 1) - 1
    }

    /// A trainable parameter of `shape`, every value `initialValue` (a replica's keep the model's).
    public func parameter(_ name: String, _ shape: [Int], initialValue: Float = 0) -> Parameter {
        guard let block = parameterBlock else {
            return Parameter(name: name, value: Tensor(shape: shape, repeating: initialValue))
        }
        let p = take(name, shape, from: block, index: &parameterIndex, gradients: true)
        if initialValue != 0 && !sharesValues { p.value.fill(initialValue) }
        return p
    }

    /// A saved, untrained tensor (running statistics) of `shape`, every value `initialValue`.
    public func buffer(_ name: String, _ shape: [Int], initialValue: Float = 0) -> Parameter {
        guard let block = bufferBlock else {
            return Parameter(name: name, value: Tensor(shape: shape, repeating: initialValue))
        }
        let b = take(name, shape, from: block, index: &bufferIndex, gradients: false)
        if initialValue != 0 { b.value.fill(initialValue) }
        return b
    }

    /// The next tensor of `block`, or a tensor of its own when the layer asks for more, or
    /// other shapes, than its config declared (the model then lays its blocks out anew).
    private func take(_ name: String, _ shape: [Int], from block: ParameterBlock, index: inout Int, gradients: Bool) -> Parameter {
        let k = index
        guard k + 1 < block.offsets.count, block.offsets[k + 1] - block.offsets[k] == shape.reduce(1, *) else {
            index = Int.max / 2  // not exhausted: the model sees the mismatch
            return Parameter(name: name, value: Tensor(shape: shape))
        }
        index += 1
        let offset = block.offsets[k]
        return Parameter(name: name, value: block.values.view(at: offset, shape: shape),
                         gradient: gradients ? block.gradients.view(at: offset, shape: shape) : Tensor(shape: shape),
                         location: (block, offset))
    }
}
