import Foundation

/// An Elman recurrent layer: h_t = act(x_t W_ih^T + h_{t-1} W_hh^T + b), unrolled over time.
///
/// Shapes and modes (batch first, as everywhere in Synapse):
/// - `.manyToOne`: input (N, T, F) -> output (N, H), each sequence's state after its last real step.
/// - `.manyToMany`: input (N, T, F) -> output (N, T, H), every step's state (zeros on padded steps);
///   a `Linear` after it maps each step.
/// - `.oneToMany(steps:feedback:)`: input (N, F) -> output (N, steps, H). `.fixedInput` feeds the
///   same vector at every step; `.previousOutput` feeds it at step 0 and the previous state after
///   (so F must equal H).
///
/// Parameters carry PyTorch's `nn.RNN` names and layout: `weight_ih` (H, F), `weight_hh` (H, H) and
/// one `bias` (H), which is PyTorch's `bias_ih + bias_hh`.
///
/// Padding: with an `inputMask` (N, T; set by `Sequential` from an `Embedding` with a padding
/// index, or by hand), a padded step keeps the previous state and takes no gradient, so left
/// padding, right padding and no padding give the same states on the real steps.
///
/// Initialisation: `weight_ih` Glorot uniform, `weight_hh` orthogonal (`recurrentInitializer`;
/// `.identity` with ReLU gives Le et al.'s IRNN), bias zero.
///
/// Speed: internally time-major. The input projection of all steps is one GEMM, each step's
/// recurrent product one GEMM, and the weight gradients two GEMMs over all steps at the end of
/// backward. Buffers are sized once per batch shape.
public final class SimpleRNN: Layer, SequenceMasking {
    public enum Mode: Equatable, Sendable {
        case manyToOne
        case manyToMany
        case oneToMany(steps: Int, feedback: Feedback)
    }

    public enum Feedback: String, Sendable {
        case fixedInput = "fixed_input"
        case previousOutput = "previous_output"
    }

    public enum Nonlinearity: String, Sendable {
        case tanh, relu
    }

    public static let typeName = "SimpleRNN"
    public var name: String
    public let inputFeatures: Int
    public let hiddenSize: Int
    public let mode: Mode
    public let nonlinearity: Nonlinearity
    /// Truncated back-propagation through time: the gradient does not flow back across the
    /// boundaries between chunks of this many steps (counted from step 0). `nil`: full BPTT.
    public var truncation: Int?

    public let weightIH: Parameter
    public let weightHH: Parameter
    public let bias: Parameter

    /// The state before step 0, (N, H); zeros when nil.
    public var initialState: Tensor?
    /// dLoss/d`initialState` after a backward pass with an initial state given.
    public private(set) var initialStateGradient: Tensor?

    public var inputMask: Tensor?
    public var outputMask: Tensor? { mode == .manyToMany ? inputMask : nil }

    // Time-major working buffers: inputs (T, N, F), states (T + 1, N, H) with the initial state
    // first, their gradients before the nonlinearity (T, N, H), the mask (T, N).
    private var inputs: Tensor?
    private var states: Tensor?
    private var preactivationGradient: Tensor?
    private var timeMask: Tensor?
    private var carry: Tensor?
    private var nextCarry: Tensor?
    private var inputGradientTM: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var batch = 0
    private var steps = 0

    public init(_ inputFeatures: Int, _ hiddenSize: Int, mode: Mode = .manyToOne,
                nonlinearity: Nonlinearity = .tanh, truncation: Int? = nil,
                recurrentInitializer: Initializer = .orthogonal,
                random: RandomGenerator, name: String = "") throws {
        try SimpleRNN.check(inputFeatures, hiddenSize, mode: mode, truncation: truncation)
        self.name = name
        self.inputFeatures = inputFeatures
        self.hiddenSize = hiddenSize
        self.mode = mode
        self.nonlinearity = nonlinearity
        self.truncation = truncation
        weightIH = Parameter(name: "weight_ih", value: Tensor(shape: [hiddenSize, inputFeatures]))
        weightHH = Parameter(name: "weight_hh", value: Tensor(shape: [hiddenSize, hiddenSize]))
        bias = Parameter(name: "bias", value: Tensor(shape: [hiddenSize]))
        Initializer.glorotUniform.fill(weightIH.value, fanIn: inputFeatures, fanOut: hiddenSize, random: random)
        recurrentInitializer.fill(weightHH.value, fanIn: hiddenSize, fanOut: hiddenSize, random: random)
    }

    public convenience init(options: LayerOptions, random: RandomGenerator) throws {
        let modeName = try options.string("mode")
        let mode: Mode
        switch modeName {
        case "many_to_one": mode = .manyToOne
        case "many_to_many": mode = .manyToMany
        case "one_to_many":
            let steps = try options.int("steps", in: 1...LayerLimits.maxDimension)
            guard let feedback = Feedback(rawValue: try options.string("feedback")) else {
                throw SynapseError.invalidArgument("SimpleRNN one_to_many needs steps > 0 and feedback fixed_input or previous_output")
            }
            mode = .oneToMany(steps: steps, feedback: feedback)
        default:
            throw SynapseError.invalidArgument("unknown SimpleRNN mode '\(modeName)'")
        }
        let actName = try options.string("nonlinearity")
        guard let nonlinearity = Nonlinearity(rawValue: actName) else {
            throw SynapseError.invalidArgument("unknown SimpleRNN nonlinearity '\(actName)' (tanh or relu)")
        }
        let (f, h) = (try options.int("inputFeatures", in: 1...LayerLimits.maxDimension),
                      try options.int("hiddenSize", in: 1...LayerLimits.maxDimension))
        if case .oneToMany(_, .previousOutput) = mode, f != h {
            throw SynapseError.invalidArgument("SimpleRNN previous_output feedback needs inputFeatures == hiddenSize")
        }
        let truncation = options["truncation"] == nil ? nil : try options.int("truncation")
        try self.init(f, h, mode: mode, nonlinearity: nonlinearity, truncation: truncation == 0 ? nil : truncation,
                      random: random)
    }

    public static func stateShapes(options: LayerOptions) throws -> [String: [Int]]? {
        let (f, h) = (try options.int("inputFeatures", in: 1...LayerLimits.maxDimension),
                      try options.int("hiddenSize", in: 1...LayerLimits.maxDimension))
        try check(f, h, mode: .manyToOne, truncation: nil)
        return ["weight_ih": [h, f], "weight_hh": [h, h], "bias": [h]]
    }

    private static func check(_ inputFeatures: Int, _ hiddenSize: Int, mode: Mode, truncation: Int?) throws {
        let range = 1...LayerLimits.maxDimension
        try LayerLimits.check(inputFeatures, in: range, "input features", layer: typeName)
        try LayerLimits.check(hiddenSize, in: range, "hidden size", layer: typeName)
        if case .oneToMany(let steps, let feedback) = mode {
            try LayerLimits.check(steps, in: range, "one-to-many steps", layer: typeName)
            guard feedback == .fixedInput || inputFeatures == hiddenSize else {
                throw SynapseError.invalidArgument("SimpleRNN: feeding back the previous output needs input features == hidden size")
            }
        }
        if let truncation { try LayerLimits.check(truncation, in: range, "truncation", layer: typeName) }
        _ = try LayerLimits.elementCount([hiddenSize, inputFeatures], of: "\(typeName) weight_ih")
        _ = try LayerLimits.elementCount([hiddenSize, hiddenSize], of: "\(typeName) weight_hh")
    }

    public var options: LayerOptions {
        var o: LayerOptions = ["inputFeatures": .number(Double(inputFeatures)),
                               "hiddenSize": .number(Double(hiddenSize)),
                               "nonlinearity": .string(nonlinearity.rawValue),
                               "truncation": .number(Double(truncation ?? 0))]
        switch mode {
        case .manyToOne: o["mode"] = .string("many_to_one")
        case .manyToMany: o["mode"] = .string("many_to_many")
        case .oneToMany(let steps, let feedback):
            o["mode"] = .string("one_to_many")
            o["steps"] = .number(Double(steps))
            o["feedback"] = .string(feedback.rawValue)
        }
        return o
    }

    public var parameters: [Parameter] { [weightIH, weightHH, bias] }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        switch mode {
        case .manyToOne, .manyToMany:
            guard inputShape.count == 2, inputShape[1] == inputFeatures, inputShape[0] > 0 else {
                throw SynapseError.shape(
                    "SimpleRNN '\(name)' expects (time, \(inputFeatures)) per sample, got \(inputShape)")
            }
            return mode == .manyToOne ? [hiddenSize] : [inputShape[0], hiddenSize]
        case .oneToMany(let steps, _):
            guard inputShape == [inputFeatures] else {
                throw SynapseError.shape(
                    "SimpleRNN '\(name)' (one-to-many) expects (\(inputFeatures)) per sample, got \(inputShape)")
            }
            return [steps, hiddenSize]
        }
    }

    private var feedsBack: Bool {
        if case .oneToMany(_, .previousOutput) = mode { return true }
        return false
    }

    // MARK: Forward

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let (f, h) = (inputFeatures, hiddenSize)
        let n = input.batchSize
        switch mode {
        case .manyToOne, .manyToMany:
            precondition(input.shape.count == 3 && input.shape[2] == f,
                         "SimpleRNN '\(name)': input \(input.shape) is not (N, T, \(f))")
            steps = input.shape[1]
        case .oneToMany(let s, _):
            precondition(input.shape == [n, f], "SimpleRNN '\(name)': input \(input.shape) is not (N, \(f))")
            steps = s
        }
        batch = n
        let t = steps
        let x = Tensor.reusing(inputs, shape: [t, n, f])
        let s = Tensor.reusing(states, shape: [t + 1, n, h])
        (inputs, states) = (x, s)

        // Inputs, time-major.
        switch mode {
        case .manyToOne, .manyToMany: transposeFirstTwo(input.data, x.data, n, t, f)
        case .oneToMany(_, .fixedInput): for step in 0..<t { (x.data + step &* n &* f).update(from: input.data, count: n &* f) }
        case .oneToMany(_, .previousOutput): x.data.update(from: input.data, count: n &* f)
        }
        // Mask, time-major; nil when every step is real. One-to-many has no padding.
        var mask: UnsafeMutablePointer<Float>?
        if let inputMask, mode == .manyToOne || mode == .manyToMany {
            precondition(inputMask.shape == [n, t], "SimpleRNN '\(name)': mask \(inputMask.shape) is not (\(n), \(t))")
            let m = Tensor.reusing(timeMask, shape: [t, n])
            timeMask = m
            transposeFirstTwo(inputMask.data, m.data, n, t, 1)
            mask = m.data
        }
        maskInForce = mask != nil

        // Initial state.
        if let initialState {
            precondition(initialState.shape == [n, h], "SimpleRNN '\(name)': initial state \(initialState.shape) is not (\(n), \(h))")
            s.data.update(from: initialState.data, count: n &* h)
        } else {
            s.data.update(repeating: 0, count: n &* h)
        }

        let (wih, whh, b) = (weightIH.value.data, weightHH.value.data, bias.value.data)
        let stepCount = n &* h
        if !feedsBack {
            // Every step's input projection at once: (T*N, F) x (F, H), into the state slots.
            fillRows(s.data + stepCount, rows: t &* n, with: b, width: h)
            BLAS.gemm(transposeB: true, m: t &* n, n: h, k: f, x.data, wih, beta: 1, s.data + stepCount)
        }
        for step in 0..<t {
            let previous = s.data + step &* stepCount
            let z = previous + stepCount
            if feedsBack {
                if step > 0 { (x.data + step &* n &* f).update(from: previous, count: stepCount) }
                fillRows(z, rows: n, with: b, width: h)
                BLAS.gemm(transposeB: true, m: n, n: h, k: f, x.data + step &* n &* f, wih, beta: 1, z)
            }
            BLAS.gemm(transposeB: true, m: n, n: h, k: h, previous, whh, beta: 1, z)
            activate(z, stepCount)
            if let mask {
                let m = mask + step &* n
                for row in 0..<n where m[row] == 0 {
                    (z + row &* h).update(from: previous + row &* h, count: h)
                }
            }
        }

        // Outputs.
        switch mode {
        case .manyToOne:
            let out = Tensor.reusing(output, shape: [n, h])
            output = out
            out.data.update(from: s.data + t &* stepCount, count: stepCount)
            return out
        case .manyToMany, .oneToMany:
            let out = Tensor.reusing(output, shape: [n, t, h])
            output = out
            transposeFirstTwo(s.data + stepCount, out.data, t, n, h)
            if let mask {
                for step in 0..<t {
                    for row in 0..<n where mask[step &* n &+ row] == 0 {
                        (out.data + (row &* t &+ step) &* h).update(repeating: 0, count: h)
                    }
                }
            }
            return out
        }
    }

    private var maskInForce = false
    private var stepScratch: Tensor?

    private func activate(_ z: UnsafeMutablePointer<Float>, _ count: Int) {
        switch nonlinearity {
        case .tanh: tanhForward(z, z, count)
        case .relu: for i in 0..<count { z[i] = max(z[i], 0) }
        }
    }

    // MARK: Backward

    public func backward(_ outputGradient: Tensor) -> Tensor {
        backpropagate(outputGradient, wantInputGradient: true)
        return inputGradient!
    }

    public func backwardParameters(_ outputGradient: Tensor) {
        backpropagate(outputGradient, wantInputGradient: false)
    }

    private func backpropagate(_ dy: Tensor, wantInputGradient: Bool) {
        guard let x = inputs, let s = states else { preconditionFailure("SimpleRNN '\(name)': backward before forward") }
        let (n, t, f, h) = (batch, steps, inputFeatures, hiddenSize)
        let stepCount = n &* h
        let perStep = mode != .manyToOne
        precondition(dy.count == (perStep ? n &* t &* h : stepCount),
                     "SimpleRNN '\(name)': output gradient \(dy.shape) does not match the last forward")
        let dz = Tensor.reusing(preactivationGradient, shape: [t, n, h])
        let g = Tensor.reusing(carry, shape: [n, h])
        let next = Tensor.reusing(nextCarry, shape: [n, h])
        (preactivationGradient, carry, nextCarry) = (dz, g, next)
        let mask = maskInForce ? timeMask?.data : nil
        let (wih, whh) = (weightIH.value.data, weightHH.value.data)

        var gp = g.data, np = next.data
        if perStep { gp.update(repeating: 0, count: stepCount) } else { gp.update(from: dy.data, count: stepCount) }
        for step in stride(from: t - 1, through: 0, by: -1) {
            if perStep {
                // g += dY[:, step, :]; a padded step's output is a constant zero.
                for row in 0..<n where mask?[step &* n &+ row] ?? 1 != 0 {
                    let src = dy.data + (row &* t &+ step) &* h, dst = gp + row &* h
                    for j in 0..<h { dst[j] += src[j] }
                }
            }
            let state = s.data + (step + 1) &* stepCount
            let d = dz.data + step &* stepCount
            switch nonlinearity {
            case .tanh: for i in 0..<stepCount { d[i] = gp[i] * (1 - state[i] * state[i]) }
            case .relu: for i in 0..<stepCount { d[i] = state[i] > 0 ? gp[i] : 0 }
            }
            if let mask {
                for row in 0..<n where mask[step &* n &+ row] == 0 { (d + row &* h).update(repeating: 0, count: h) }
            }
            // dh_{t-1} = dz_t W_hh (+ dz_t W_ih when the input was h_{t-1}); padded rows pass g on.
            BLAS.gemm(m: n, n: h, k: h, d, whh, np)
            if feedsBack && step > 0 { BLAS.gemm(m: n, n: h, k: h, d, wih, beta: 1, np) }
            if let mask {
                for row in 0..<n where mask[step &* n &+ row] == 0 { (np + row &* h).update(from: gp + row &* h, count: h) }
            }
            if let truncation, step > 0, step % truncation == 0 { np.update(repeating: 0, count: stepCount) }
            swap(&gp, &np)
        }
        if initialState != nil {
            let d0 = Tensor.reusing(initialStateGradient, shape: [n, h])
            d0.data.update(from: gp, count: stepCount)
            initialStateGradient = d0
        }

        // Weight gradients over all steps: dW_hh += dZ^T S_{0..T-1}, dW_ih += dZ^T X, db += sum dZ.
        let rows = t &* n
        BLAS.gemm(transposeA: true, m: h, n: h, k: rows, dz.data, s.data, beta: 1, weightHH.gradient.data)
        BLAS.gemm(transposeA: true, m: h, n: f, k: rows, dz.data, x.data, beta: 1, weightIH.gradient.data)
        addColumnSums(of: dz.data, rows: rows, columns: h, into: bias.gradient.data)
        guard wantInputGradient else { return }

        switch mode {
        case .manyToOne, .manyToMany:
            let dxTM = Tensor.reusing(inputGradientTM, shape: [t, n, f])
            inputGradientTM = dxTM
            BLAS.gemm(m: rows, n: f, k: h, dz.data, wih, dxTM.data)
            let dx = Tensor.reusing(inputGradient, shape: [n, t, f])
            inputGradient = dx
            transposeFirstTwo(dxTM.data, dx.data, t, n, f)
        case .oneToMany(_, .fixedInput):
            // The same input fed every step: dX = (sum_t dZ_t) W_ih.
            let total = next
            total.data.update(from: dz.data, count: stepCount)
            for step in 1..<t {
                let d = dz.data + step &* stepCount
                for i in 0..<stepCount { total.data[i] += d[i] }
            }
            let dx = Tensor.reusing(inputGradient, shape: [n, f])
            inputGradient = dx
            BLAS.gemm(m: n, n: f, k: h, total.data, wih, dx.data)
        case .oneToMany(_, .previousOutput):
            let dx = Tensor.reusing(inputGradient, shape: [n, f])
            inputGradient = dx
            BLAS.gemm(m: n, n: f, k: h, dz.data, wih, dx.data)
        }
    }

    // MARK: Stepping (generation)

    /// One step outside training: h' = act(x W_ih^T + h W_hh^T + b) for x (N, F) and h (N, H),
    /// written into `result` (N, H), which may be `state` itself. For sampling one-to-many.
    public func step(input x: Tensor, state: Tensor, into result: Tensor) {
        let (n, h) = (x.batchSize, hiddenSize)
        precondition(x.shape == [n, inputFeatures] && state.shape == [n, h] && result.shape == [n, h],
                     "SimpleRNN '\(name)': step shapes \(x.shape), \(state.shape), \(result.shape)")
        let scratch = Tensor.reusing(stepScratch, shape: [n, h])
        stepScratch = scratch
        fillRows(scratch.data, rows: n, with: bias.value.data, width: h)
        BLAS.gemm(transposeB: true, m: n, n: h, k: inputFeatures, x.data, weightIH.value.data, beta: 1, scratch.data)
        BLAS.gemm(transposeB: true, m: n, n: h, k: h, state.data, weightHH.value.data, beta: 1, scratch.data)
        activate(scratch.data, n &* h)
        result.assign(scratch)
    }
}

/// Copies `value` (width floats) into each of `rows` rows.
@inline(__always)
func fillRows(_ destination: UnsafeMutablePointer<Float>, rows: Int, with value: UnsafePointer<Float>, width: Int) {
    for r in 0..<rows { (destination + r &* width).update(from: value, count: width) }
}

/// (A, B, C) -> (B, A, C) for contiguous row-major buffers: swaps batch-major and time-major.
func transposeFirstTwo(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                       _ a: Int, _ b: Int, _ c: Int) {
    for i in 0..<a {
        for j in 0..<b {
            (destination + (j &* a &+ i) &* c).update(from: source + (i &* b &+ j) &* c, count: c)
        }
    }
}

extension SimpleRNN {
    /// Same settings, name and weights, and a copy of `initialState` (which the saved options do
    /// not hold).
    public func clone() throws -> any Layer {
        let copy = try SimpleRNN(inputFeatures, hiddenSize, mode: mode, nonlinearity: nonlinearity,
                                 truncation: truncation, recurrentInitializer: .zeros, random: RandomGenerator(seed: 0))
        copy.copyState(from: self)
        copy.initialState = initialState?.copy()
        return copy
    }
}
