import Foundation

/// Training checkpoints: everything a run needs to continue as if it had never stopped.
///
/// A checkpoint is a safetensors file. Its tensors are the model's weights under their usual
/// names (so it loads as a model too) and the optimizer's state under
/// `optimizer/<parameter>/<slot>`. Its metadata holds the epoch, the optimizer's step count and
/// learning rate, the schedule's state, the random generator's state and the history.
extension Trainer {
    static let optimizerPrefix = "optimizer/"

    /// Writes the checkpoint atomically, and the model architecture as JSON beside it.
    public func saveCheckpoint(to url: URL) throws {
        var tensors = model.stateTensors.map { ($0.name, $0.value) }
        for p in model.parameters {
            for (slot, tensor) in zip(optimizer.slotNames, optimizer.slots(for: p)) {
                tensors.append(("\(Trainer.optimizerPrefix)\(p.name)/\(slot)", tensor))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let metadata = [
            "format": "pt",
            "synapse.checkpoint": "1",
            "epoch": String(epoch),
            "optimizer_steps": String(optimizer.stepCount),
            "learning_rate": String(optimizer.learningRate.bitPattern),
            "schedule_state": String(decoding: try encoder.encode(schedule?.state ?? [:]), as: UTF8.self),
            "random_state": random.state.map { String($0, radix: 16) }.joined(separator: ","),
            "history": String(decoding: try encoder.encode(history), as: UTF8.self),
        ]
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        var config = model.config
        config.training = optimizer.settings.merging(["loss": .string(loss.name)]) { a, _ in a }
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try pretty.encode(config), to: Sequential.configURL(forWeights: url))
    }

    /// Restores weights, optimizer state, schedule, epoch, random state and history from a
    /// checkpoint written by `saveCheckpoint`. Nothing is changed unless all of it fits.
    public func loadCheckpoint(from url: URL) throws {
        let contents = try SafeTensors.read(from: url)
        func fail(_ problem: String) -> SynapseError { .file(path: url.path, problem: problem) }
        let meta = contents.metadata
        guard meta["synapse.checkpoint"] == "1" else { throw fail("not a Synapse training checkpoint (no synapse.checkpoint metadata)") }
        guard let epoch = meta["epoch"].flatMap(Int.init), let steps = meta["optimizer_steps"].flatMap(Int.init),
              let rateBits = meta["learning_rate"].flatMap({ UInt32($0) }),
              let words = meta["random_state"]?.split(separator: ",").compactMap({ UInt64($0, radix: 16) }), words.count == 4,
              let scheduleState = meta["schedule_state"].flatMap({ try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) }),
              let history = meta["history"].flatMap({ try? JSONDecoder().decode(History.self, from: Data($0.utf8)) })
        else { throw fail("checkpoint metadata is incomplete or malformed") }

        var modelPart = contents
        modelPart.tensors = contents.tensors.filter { !$0.name.hasPrefix(Trainer.optimizerPrefix) }
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
        try model.loadWeights(modelPart, path: url.path)
        for (tensor, saved) in slotValues { tensor.assign(saved) }
        optimizer.stepCount = steps
        optimizer.learningRate = Float(bitPattern: rateBits)
        schedule?.state = scheduleState
        random.state = words
        restore(epoch: epoch, history: history)
    }
}

extension Sequential {
    /// Loads weights from a weight file or a training checkpoint (whose optimizer state is skipped).
    public func loadWeightsOrCheckpoint(from url: URL) throws {
        var contents = try SafeTensors.read(from: url)
        contents.tensors.removeAll { $0.name.hasPrefix(Trainer.optimizerPrefix) }
        try loadWeights(contents, path: url.path)
    }
}
