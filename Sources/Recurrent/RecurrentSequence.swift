import CKernels

/// The loop over time around a `RecurrentCell`: the part of a recurrent layer that is not one
/// step, written once for every cell.
///
/// It owns the modes (`RecurrentMode`), the time-major working buffers (sized once per batch
/// shape), the input projection of all steps in one GEMM (per step only when the previous state
/// is fed back), padding masks (a padded step keeps the previous state and takes no gradient),
/// truncated BPTT, the initial state and its gradient, the parameter gradients of all steps in
/// one call to the cell, and single steps for generation.
///
/// A state row is S = `cell.stateWidth` floats: the output h (H) and the cell's memory after it
/// (the LSTM's c). The output of every mode is the h part; the initial state is given as h
/// (`initialState`) and memory (`initialMemory`), each zero when nil, and so are their gradients.
public final class RecurrentSequence<Cell: RecurrentCell> {
    /// The cell run at every step; it holds the parameters.
    public let cell: Cell
    /// How sequences map: many-to-one, many-to-many or one-to-many.
    public let mode: RecurrentMode
    /// The layer type in precondition messages (`SimpleRNN`).
    let layerType: String

    /// dLoss/d(initial state), the h part (N, H), after a backward pass that asked for it.
    public private(set) var initialStateGradient: Tensor?
    /// dLoss/d(initial memory), (N, S - H), after a backward pass that asked for it; nil for a
    /// cell without memory.
    public private(set) var initialMemoryGradient: Tensor?

    // The inputs of the last forward where they lie (the caller's tensor, kept until backward:
    // batch-major rows are read in place, not copied time-major), or a time-major copy (T, N, F)
    // when the previous state is fed back. Time-major working buffers: states (T + 1, N, S) with
    // the initial state first, input projections (T, N, P) unless the cell projects into the
    // states, their gradients (T, N, P), the mask (T, N).
    private var inputTensor: Tensor?
    private var inputRows: StepRows?
    private var inputs: Tensor?
    private var states: Tensor?
    private var projections: Tensor?
    private var projectionGradients: Tensor?
    private var projectionSum: Tensor?
    private var timeMask: Tensor?
    private var carry: Tensor?
    private var nextCarry: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var stepScratch: Tensor?
    private var stepProjection: Tensor?
    private var batch = 0
    private var steps = 0
    private var maskInForce = false

    /// A loop over time around `cell` in `mode`; `layerType` names the layer in precondition messages.
    public init(cell: Cell, mode: RecurrentMode, layerType: String) {
        self.cell = cell
        self.mode = mode
        self.layerType = layerType
    }

    private var feedsBack: Bool {
        if case .oneToMany(_, .previousOutput) = mode { return true }
        return false
    }

    /// Threads for the steps: each takes a share of the batch rows through every step (rows do not
    /// mix within a step), at least 16 rows each, as many as `BLAS.loopThreads`. The per-step
    /// products are then smaller (32 x 64 x 64 for two threads at batch 64), which OpenBLAS's
    /// small-matrix kernels run in the worker's thread; a row's result does not depend on the
    /// split except through the GEMM kernel OpenBLAS picks for the size.
    private func stepWorkers(_ n: Int) -> Int { max(1, min(BLAS.loopThreads, n / 16)) }

    /// The projection of step 0; step s's is `s * N * P` further.
    private func projectionBase(_ s: Tensor, _ stepCount: Int) -> UnsafeMutablePointer<Float> {
        if cell.projectsIntoState { return s.data + stepCount }
        let p = Tensor.reusing(projections, shape: [steps, batch, cell.projectionWidth])
        projections = p
        return p.data
    }

    // MARK: Forward

    /// Runs the cell over `input` ((N, T, F), or (N, F) one-to-many) from `initialState` (N, H)
    /// and `initialMemory` (N, S - H) (each zeros when nil) with an optional `mask` (N, T; 0 on
    /// padded steps). Backward reads `input` again (the weight gradient), so it must not change
    /// in between, as for every layer that keeps its input.
    public func forward(_ input: Tensor, mask inputMask: Tensor?, initialState: Tensor?, initialMemory: Tensor? = nil,
                        name: String) -> Tensor {
        let (f, h, p, sw) = (cell.inputFeatures, cell.hiddenSize, cell.projectionWidth, cell.stateWidth)
        let n = input.batchSize
        switch mode {
        case .manyToOne, .manyToMany:
            precondition(input.shape.count == 3 && input.shape[2] == f,
                         "\(layerType) '\(name)': input \(input.shape) is not (N, T, \(f))")
            steps = input.shape[1]
        case .oneToMany(let s, _):
            precondition(input.shape == [n, f], "\(layerType) '\(name)': input \(input.shape) is not (N, \(f))")
            steps = s
        }
        batch = n
        let t = steps
        let s = Tensor.reusing(states, shape: [t + 1, n, sw])
        states = s

        // The inputs of every step.
        let x: StepRows
        switch mode {
        case .manyToOne, .manyToMany: x = StepRows(base: input.data, steps: t, rows: n, stepStride: f, rowStride: t &* f)
        case .oneToMany(_, .fixedInput): x = StepRows(base: input.data, steps: t, rows: n, stepStride: 0, rowStride: f)
        case .oneToMany(_, .previousOutput):
            let copy = Tensor.reusing(inputs, shape: [t, n, f])
            inputs = copy
            copy.data.update(from: input.data, count: n &* f)
            x = .contiguous(copy.data, steps: t, rows: n, width: f)
        }
        (inputTensor, inputRows) = (input, x)
        // Mask, time-major; nil when every step is real (also when a mask is given but has no
        // padded step, as for a batch without padding). One-to-many has no padding.
        var mask: UnsafeMutablePointer<Float>?
        if let inputMask, mode == .manyToOne || mode == .manyToMany {
            precondition(inputMask.shape == [n, t], "\(layerType) '\(name)': mask \(inputMask.shape) is not (\(n), \(t))")
            let m = Tensor.reusing(timeMask, shape: [t, n])
            timeMask = m
            let (source, destination) = (inputMask.data, m.data)
            var padded = false
            for row in 0..<n {
                for step in 0..<t {
                    let value = source[row &* t &+ step]
                    destination[step &* n &+ row] = value
                    padded = padded || value == 0
                }
            }
            if padded { mask = m.data }
        }
        maskInForce = mask != nil

        // Initial state: h, then the memory.
        if let initialState {
            precondition(initialState.shape == [n, h], "\(layerType) '\(name)': initial state \(initialState.shape) is not (\(n), \(h))")
        }
        if let initialMemory {
            precondition(sw > h && initialMemory.shape == [n, sw - h],
                         "\(layerType) '\(name)': initial memory \(initialMemory.shape) is not (\(n), \(sw - h))")
        }
        if sw == h, let initialState {
            s.data.update(from: initialState.data, count: n &* h)
        } else {
            s.data.update(repeating: 0, count: n &* sw)
            for row in 0..<n {
                if let initialState { (s.data + row &* sw).update(from: initialState.data + row &* h, count: h) }
                if let initialMemory {
                    (s.data + row &* sw + h).update(from: initialMemory.data + row &* (sw &- h), count: sw &- h)
                }
            }
        }

        let stepCount = n &* sw
        let projectionCount = n &* p
        let z0 = projectionBase(s, stepCount)
        // Every step's input projection before the steps (per step on batch-major rows).
        cell.prepareSteps()
        // The steps, for the rows of each worker (fed back, the projection of a step needs the
        // whole previous state: one worker). Each step's rows are projected just before the step
        // uses them, while they are in cache (projecting all steps first wrote 3.2 MB that the
        // steps then read back from L3).
        let (states, inputs, feedsBack) = (s.data, x.base, feedsBack)
        BLAS.concurrentPerform(feedsBack ? 1 : stepWorkers(n)) { w, workers in
            let r0 = n &* w / workers, rows = n &* (w &+ 1) / workers &- r0
            for step in 0..<t {
                let previous = states + step &* stepCount
                let state = previous + stepCount
                let z = z0 + step &* projectionCount
                if feedsBack {
                    if step > 0 {
                        for row in 0..<n { (inputs + (step &* n &+ row) &* f).update(from: previous + row &* sw, count: f) }
                    }
                    cell.projectInput(.contiguous(inputs + step &* n &* f, rows: n, width: f), into: z)
                } else {
                    let mine = StepRows(base: x.step(step) + r0 &* x.rowStride, steps: 1, rows: rows,
                                        stepStride: x.stepStride, rowStride: x.rowStride)
                    cell.projectInput(mine, into: z + r0 &* p)
                }
                cell.forwardStep(projection: z + r0 &* p, previous: previous + r0 &* sw, into: state + r0 &* sw,
                                 batch: rows)
                if let mask {
                    let m = mask + step &* n
                    for row in r0..<(r0 &+ rows) where m[row] == 0 {
                        (state + row &* sw).update(from: previous + row &* sw, count: sw)
                    }
                }
            }
        }

        // Outputs.
        switch mode {
        case .manyToOne:
            let out = Tensor.reusing(output, shape: [n, h])
            output = out
            let last = s.data + t &* stepCount
            if sw == h {
                out.data.update(from: last, count: stepCount)
            } else {
                for row in 0..<n { (out.data + row &* h).update(from: last + row &* sw, count: h) }
            }
            return out
        case .manyToMany, .oneToMany:
            let out = Tensor.reusing(output, shape: [n, t, h])
            output = out
            if sw == h {
                transposeFirstTwo(s.data + stepCount, out.data, t, n, h)
            } else {
                let (from, to) = (s.data + stepCount, out.data)
                for row in 0..<n {
                    for step in 0..<t { (to + (row &* t &+ step) &* h).update(from: from + (step &* n &+ row) &* sw, count: h) }
                }
            }
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

    // MARK: Backward

    /// Back-propagates `dy` (the output's gradient) through the last forward: adds the cell's
    /// parameter gradients, fills `initialStateGradient` when `wantInitialStateGradient`, and
    /// returns the input gradient when `wantInputGradient` (else nil). `truncation`: the gradient
    /// does not cross the boundaries between chunks of this many steps (from step 0).
    @discardableResult
    public func backward(_ dy: Tensor, truncation: Int?, wantInitialStateGradient: Bool, wantInputGradient: Bool,
                         name: String) -> Tensor? {
        guard let x = inputRows, let s = states else { preconditionFailure("\(layerType) '\(name)': backward before forward") }
        let (n, t, f, h, p, sw) = (batch, steps, cell.inputFeatures, cell.hiddenSize, cell.projectionWidth, cell.stateWidth)
        let stepCount = n &* sw
        let projectionCount = n &* p
        let perStep = mode != .manyToOne
        precondition(dy.count == (perStep ? n &* t &* h : n &* h),
                     "\(layerType) '\(name)': output gradient \(dy.shape) does not match the last forward")
        let dz = Tensor.reusing(projectionGradients, shape: [t, n, p])
        let g = Tensor.reusing(carry, shape: [n, sw])
        let next = Tensor.reusing(nextCarry, shape: [n, sw])
        (projectionGradients, carry, nextCarry) = (dz, g, next)
        let mask = maskInForce ? timeMask?.data : nil
        let z0 = projectionBase(s, stepCount)

        // The steps backwards, for the rows of each worker (rows do not mix within a step); the
        // carried ds_t (dh_t and the memory's gradient) swaps between g and next every step.
        let (states, dzs, dys, carried, spare, feedsBack) = (s.data, dz.data, dy.data, g.data, next.data, feedsBack)
        BLAS.concurrentPerform(stepWorkers(n)) { w, workers in
            let r0 = n &* w / workers, rows = n &* (w &+ 1) / workers &- r0, end = r0 &+ rows
            var gp = carried + r0 &* sw, np = spare + r0 &* sw
            if perStep {
                gp.update(repeating: 0, count: rows &* sw)
            } else if sw == h {
                gp.update(from: dys + r0 &* h, count: rows &* h)
            } else {
                gp.update(repeating: 0, count: rows &* sw)
                for row in 0..<rows { (gp + row &* sw).update(from: dys + (r0 &+ row) &* h, count: h) }
            }
            for step in stride(from: t - 1, through: 0, by: -1) {
                if perStep {
                    // g += dY[:, step, :]; a padded step's output is a constant zero.
                    for row in r0..<end where mask?[step &* n &+ row] ?? 1 != 0 {
                        let src = dys + (row &* t &+ step) &* h, dst = gp + (row &- r0) &* sw
                        for j in 0..<h { dst[j] += src[j] }
                    }
                }
                let previous = states + step &* stepCount + r0 &* sw
                let d = dzs + step &* projectionCount + r0 &* p
                cell.backwardStep(stateGradient: gp, state: previous + stepCount, previous: previous,
                                  projection: z0 + step &* projectionCount + r0 &* p, into: d, previousGradient: np,
                                  batch: rows)
                if let mask {
                    for row in r0..<end where mask[step &* n &+ row] == 0 {
                        (d + (row &- r0) &* p).update(repeating: 0, count: p)
                    }
                }
                // dh_{t-1} through the recurrence (+ dz_t W_ih when the input was h_{t-1}); padded rows pass g on.
                cell.previousStateGradient(projectionGradient: d, previous: previous, into: np, batch: rows)
                if feedsBack && step > 0 {
                    cell.inputGradient(projectionGradient: d, beta: 1,
                                       into: StepRows(base: np, steps: 1, rows: rows, stepStride: rows &* sw, rowStride: sw))
                }
                if let mask {
                    for row in r0..<end where mask[step &* n &+ row] == 0 {
                        (np + (row &- r0) &* sw).update(from: gp + (row &- r0) &* sw, count: sw)
                    }
                }
                if let truncation, step > 0, step % truncation == 0 { np.update(repeating: 0, count: rows &* sw) }
                swap(&gp, &np)
            }
        }
        if wantInitialStateGradient {
            let last = t % 2 == 0 ? g.data : next.data
            let d0 = Tensor.reusing(initialStateGradient, shape: [n, h])
            if sw == h {
                d0.data.update(from: last, count: stepCount)
            } else {
                let dm = Tensor.reusing(initialMemoryGradient, shape: [n, sw - h])
                for row in 0..<n {
                    (d0.data + row &* h).update(from: last + row &* sw, count: h)
                    (dm.data + row &* (sw &- h)).update(from: last + row &* sw + h, count: sw &- h)
                }
                initialMemoryGradient = dm
            }
            initialStateGradient = d0
        }

        // Parameter gradients over all steps at once.
        cell.accumulateParameterGradients(projectionGradient: dz.data, inputs: x, previousStates: s.data)
        guard wantInputGradient else { return nil }

        switch mode {
        case .manyToOne, .manyToMany:
            // Written batch-major where it belongs, one step's rows at a time.
            let dx = Tensor.reusing(inputGradient, shape: [n, t, f])
            inputGradient = dx
            cell.inputGradient(projectionGradient: dz.data, beta: 0,
                               into: StepRows(base: dx.data, steps: t, rows: n, stepStride: f, rowStride: t &* f))
            return dx
        case .oneToMany(_, .fixedInput):
            // The same input fed every step: dX = (sum_t dZ_t) W_ih.
            let total = Tensor.reusing(projectionSum, shape: [n, p])
            projectionSum = total
            total.data.update(from: dz.data, count: projectionCount)
            for step in 1..<t {
                let d = dz.data + step &* projectionCount
                for i in 0..<projectionCount { total.data[i] += d[i] }
            }
            let dx = Tensor.reusing(inputGradient, shape: [n, f])
            inputGradient = dx
            cell.inputGradient(projectionGradient: total.data, rows: n, beta: 0, into: dx.data)
            return dx
        case .oneToMany(_, .previousOutput):
            let dx = Tensor.reusing(inputGradient, shape: [n, f])
            inputGradient = dx
            cell.inputGradient(projectionGradient: dz.data, rows: n, beta: 0, into: dx.data)
            return dx
        }
    }

    // MARK: Stepping (generation)

    /// One step outside training for x (N, F) and the whole state s (N, S), written into
    /// `result` (N, S), which may be `state` itself.
    public func step(input x: Tensor, state: Tensor, into result: Tensor, name: String) {
        let (n, h) = (x.batchSize, cell.stateWidth)
        precondition(x.shape == [n, cell.inputFeatures] && state.shape == [n, h] && result.shape == [n, h],
                     "\(layerType) '\(name)': step shapes \(x.shape), \(state.shape), \(result.shape)")
        let scratch = Tensor.reusing(stepScratch, shape: [n, h])
        stepScratch = scratch
        var z = scratch
        if !cell.projectsIntoState {
            z = Tensor.reusing(stepProjection, shape: [n, cell.projectionWidth])
            stepProjection = z
        }
        cell.projectInput(x.data, rows: n, into: z.data)
        cell.forwardStep(projection: z.data, previous: state.data, into: scratch.data, batch: n)
        result.assign(scratch)
    }
}

/// Copies `value` (width floats) into each of `rows` rows: one row, then copies of ever larger
/// runs of finished rows (a few large copies rather than one small copy per row).
func fillRows(_ destination: UnsafeMutablePointer<Float>, rows: Int, with value: UnsafePointer<Float>, width: Int) {
    guard rows > 0 else { return }
    destination.update(from: value, count: width)
    var done = 1
    while done < rows {
        let more = min(done, rows &- done)
        (destination + done &* width).update(from: destination, count: more &* width)
        done &+= more
    }
}

/// (A, B, C) -> (B, A, C) for contiguous row-major buffers: swaps batch-major and time-major.
/// The CKernels `transpose_first_two` kernel (destination rows in order, copied with the CPU's
/// widest vectors rather than a memmove call per row), a share of the B rows per thread for
/// large buffers.
func transposeFirstTwo(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                       _ a: Int, _ b: Int, _ c: Int) {
    BLAS.concurrentPerform(a &* b &* c < 1 << 16 ? 1 : min(BLAS.loopThreads, b), callsBLAS: false) { w, workers in
        synapse_kernels().pointee.transpose_first_two(source, destination, a, b, c, b &* w / workers,
                                                      b &* (w &+ 1) / workers)
    }
}
