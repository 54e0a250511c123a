import Foundation

/// Training checkpoints: everything a run needs to continue as if it had never stopped.
///
/// A checkpoint is a safetensors file. Its tensors are the model's weights under their usual
/// names (so it loads as a model too), the optimizer's state under `optimizer/<parameter>/<slot>`
/// and callbacks' tensors (early stopping's best weights) under `callback/<key>/<name>`. Its
/// metadata holds the epoch, the optimizer's step count and learning rate, the schedule's state,
/// the random generator's state, the history, whether a callback had ended training, the
/// callbacks' state (`callback.<key>`) and, for a run stopped inside an epoch, the position
/// (`position`: the next batch, the generator's state when the epoch began, the epoch's sums).
extension Trainer {
    static let optimizerPrefix = "optimizer/"
    static let callbackPrefix = "callback/"
    /// Prefixes of the tensors that are not model weights.
    static let trainingStatePrefixes = [optimizerPrefix, callbackPrefix]

    /// Writes the checkpoint atomically, and the model architecture as JSON beside it. During
    /// `fit`, the state of its callbacks that adopt `CheckpointedCallback` is included; outside,
    /// that of `callbacks`.
    public func saveCheckpoint(to url: URL, callbacks: [any Callback] = []) throws {
        var tensors = model.stateTensors.map { ($0.name, $0.value) }
        for p in model.parameters {
            for (slot, tensor) in zip(optimizer.slotNames, optimizer.slots(for: p)) {
                tensors.append(("\(Trainer.optimizerPrefix)\(p.name)/\(slot)", tensor))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // ReduceOnPlateau's best is +infinity before its first epoch: JSON has no such number.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        var metadata = [
            "format": "pt",
            "synapse.checkpoint": "1",
            "epoch": String(epoch),
            "optimizer_steps": String(optimizer.stepCount),
            "learning_rate": String(optimizer.learningRate.bitPattern),
            "schedule_state": String(decoding: try encoder.encode(schedule?.state ?? [:]), as: UTF8.self),
            "random_state": random.state.map { String($0, radix: 16) }.joined(separator: ","),
            "history": String(decoding: try encoder.encode(history), as: UTF8.self),
            "stop_training": stopTraining ? "1" : "0",
        ]
        if let position {
            metadata["position"] = [String(position.batch), String(position.batchSize), String(position.samples),
                                    position.epochRandomState.map { String($0, radix: 16) }.joined(separator: ":"),
                                    String(position.lossSum.bitPattern), String(position.metricSum.bitPattern),
                                    String(position.metricCount), String(position.seen)].joined(separator: ",")
        }
        for callback in (activeCallbacks.isEmpty ? callbacks : activeCallbacks).compactMap({ $0 as? any CheckpointedCallback }) {
            let (values, callbackTensors) = callback.checkpointState(self)
            metadata["callback.\(callback.checkpointKey)"] = String(decoding: try encoder.encode(values), as: UTF8.self)
            for (name, tensor) in callbackTensors { tensors.append(("\(Trainer.callbackPrefix)\(callback.checkpointKey)/\(name)", tensor)) }
        }
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        let training = optimizer.settings.merging(["loss": .string(loss.name)]) { a, _ in a }
        try AtomicFile.write(try model.architectureJSON(training: training, pretty: true), to: Sequential.configURL(forWeights: url))
    }

    /// Restores weights, optimizer state, schedule, epoch, random state, history, the position
    /// inside an epoch and the state of `callbacks` from a checkpoint written by
    /// `saveCheckpoint`. The whole checkpoint is read and every value range-checked first; the
    /// trainer, model and callbacks are changed only if all of it fits. Checkpoints written
    /// before positions and callback states existed load too (without them).
    public func loadCheckpoint(from url: URL, callbacks: [any Callback] = []) throws {
        let contents = try SafeTensors.read(from: url)
        func fail(_ problem: String) -> SynapseError { .file(path: url.path, problem: problem) }
        let meta = contents.metadata
        guard meta["synapse.checkpoint"] == "1" else { throw fail("not a Synapse training checkpoint (no synapse.checkpoint metadata)") }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        guard let epoch = meta["epoch"].flatMap({ Int($0) }), let steps = meta["optimizer_steps"].flatMap({ Int($0) }),
              let rateBits = meta["learning_rate"].flatMap({ UInt32($0) }),
              let words = meta["random_state"]?.split(separator: ",", omittingEmptySubsequences: false).map({ UInt64($0, radix: 16) }),
              let scheduleState = meta["schedule_state"].flatMap({ try? decoder.decode([String: Double].self, from: Data($0.utf8)) }),
              let history = meta["history"].flatMap({ try? decoder.decode(History.self, from: Data($0.utf8)) })
        else { throw fail("checkpoint metadata is incomplete or malformed") }

        // Every value range-checked before anything changes.
        guard epoch >= 0, epoch == history.epochs.count else {
            throw fail("epoch \(epoch) does not match the \(history.epochs.count) epochs of its history")
        }
        guard steps >= 0 else { throw fail("optimizer step count \(steps) is negative") }
        let rate = Float(bitPattern: rateBits)
        guard rate.isFinite, rate >= 0 else { throw fail("learning rate \(rate) is not a finite non-negative number") }
        let state = words.compactMap { $0 }
        guard state.count == words.count, RandomGenerator.isValidState(state) else {
            throw fail("random_state is not four hexadecimal words, not all zero (xoshiro256** cannot leave the all-zero state)")
        }
        if let schedule {
            do { try schedule.validate(state: scheduleState) } catch { throw fail("\(error)") }
        }
        let stop: Bool
        switch meta["stop_training"] {
        case nil, "0": stop = false
        case "1": stop = true
        case let other?: throw fail("stop_training is '\(other)', not 0 or 1")
        }
        let position = try meta["position"].map { try Trainer.parsePosition($0, path: url.path) }
        var callbackRestores: [() -> Void] = []
        var keys = Set<String>()
        for callback in callbacks.compactMap({ $0 as? any CheckpointedCallback }) {
            let key = callback.checkpointKey
            guard keys.insert(key).inserted else { throw SynapseError.invalidArgument("two callbacks save their state as '\(key)'") }
            guard let text = meta["callback.\(key)"] else { continue }  // an older checkpoint: the callback starts fresh
            guard let values = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else {
                throw fail("callback.\(key) is not a JSON object of strings")
            }
            let prefix = "\(Trainer.callbackPrefix)\(key)/"
            let tensors = Dictionary(contents.tensors.filter { $0.name.hasPrefix(prefix) }.map { (String($0.name.dropFirst(prefix.count)), $0.tensor) },
                                     uniquingKeysWith: { a, _ in a })
            do { callbackRestores.append(try callback.restoring(values, tensors: tensors, epochs: epoch, trainer: self)) } catch { throw fail("\(error)") }
        }

        var modelPart = contents
        modelPart.tensors = contents.tensors.filter { entry in !Trainer.trainingStatePrefixes.contains { entry.name.hasPrefix($0) } }
        var slotValues: [(Tensor, Tensor)] = []
        var problems: [String] = []
        for p in model.parameters {
            for (slot, tensor) in zip(optimizer.slotNames, optimizer.slots(for: p)) {
                let key = "\(Trainer.optimizerPrefix)\(p.name)/\(slot)"
                guard let saved = contents[key], saved.shape == tensor.shape else {
                    problems.append("optimizer state '\(key)' is missing or has the wrong shape"); continue
                }
                slotValues.append((tensor, saved))
            }
        }
        guard problems.isEmpty else { throw fail("checkpoint does not fit this optimizer:\n  " + problems.joined(separator: "\n  ")) }
        // The last check: loadWeights checks every tensor, then assigns them all or none.
        try model.loadWeights(modelPart, path: url.path)
        for (tensor, saved) in slotValues { tensor.assign(saved) }
        optimizer.stepCount = steps
        optimizer.learningRate = rate
        schedule?.state = scheduleState
        random.state = state
        restore(epoch: epoch, history: history)
        self.position = position
        restoredStop = stop
        stopTraining = stop
        callbackRestores.forEach { $0() }
    }

    /// "batch,batchSize,samples,s0:s1:s2:s3,lossSumBits,metricSumBits,metricCount,seen".
    static func parsePosition(_ text: String, path: String) throws -> EpochPosition {
        func fail(_ problem: String) -> SynapseError { .file(path: path, problem: "position '\(text)': \(problem)") }
        let fields = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 8 else { throw fail("expected 8 fields, found \(fields.count)") }
        guard let batch = Int(fields[0]), let batchSize = Int(fields[1]), let samples = Int(fields[2]),
              let lossBits = UInt64(fields[4]), let metricBits = UInt64(fields[5]),
              let metricCount = Int(fields[6]), let seen = Int(fields[7]) else { throw fail("a field is not a number") }
        let words = fields[3].split(separator: ":", omittingEmptySubsequences: false).compactMap { UInt64($0, radix: 16) }
        guard RandomGenerator.isValidState(words) else { throw fail("the epoch's random state is not four words, not all zero") }
        guard batchSize > 0, samples > 0, batch > 0, batch <= (samples - 1) / batchSize + 1 else {
            throw fail("batch \(batch) is not inside an epoch of \(samples) samples in batches of \(batchSize)")
        }
        let (product, overflow) = batch.multipliedReportingOverflow(by: batchSize)
        guard seen == (overflow ? samples : min(product, samples)), metricCount >= 0 else {
            throw fail("\(seen) samples seen and \(metricCount) counted do not match \(batch) batches of \(batchSize)")
        }
        let (lossSum, metricSum) = (Double(bitPattern: lossBits), Double(bitPattern: metricBits))
        guard lossSum.isFinite, metricSum.isFinite else { throw fail("the epoch's sums are not finite") }
        return EpochPosition(batch: batch, batchSize: batchSize, samples: samples, epochRandomState: words,
                             lossSum: lossSum, metricSum: metricSum, metricCount: metricCount, seen: seen)
    }
}
