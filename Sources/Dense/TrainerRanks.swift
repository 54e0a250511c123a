import Foundation

extension Trainer {
    /// Makes every rank start `fit` alike. First the ranks compare their models (parameter and
    /// buffer counts and a checksum of the architecture JSON) and their runs (samples, batch
    /// size, epochs, and where a resumed run starts: each decides how many collectives the run
    /// makes) with rank 0's, and all of them learn whether any differs, so that they all stop
    /// with an error or all go on (no rank is left waiting). Then rank 0's parameters, buffers
    /// and generator state are broadcast, so a rank started with another seed trains exactly as
    /// rank 0.
    func synchronizeRanks(samples: Int, batchSize: Int, epochs: Int) throws {
        let json = try model.architectureJSON(training: [:], pretty: false)
        var checksum: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in json { checksum = (checksum ^ UInt64(byte)) &* 0x100_0000_01b3 }   // FNV-1a
        let names = ["parameters", "buffer values", "architecture checksum", "samples", "batch size", "epochs",
                     "epochs done", "batches done in the epoch"]
        let mine = [UInt64(model.parameterBlock.count), UInt64(model.bufferBlock.count), checksum, UInt64(samples),
                    UInt64(batchSize), UInt64(max(epochs, 0)), UInt64(epoch), UInt64(position?.batch ?? 0)]
        let root = communicator.broadcast(mine)
        let differing = communicator.allReduceSum([root == mine ? 0 : 1])[0]
        if differing > 0 {
            let rule = "every rank must build the same model, train on the same data with the same options and resume from the same checkpoint"
            if root != mine {
                let differences = zip(names, zip(mine, root)).filter { $1.0 != $1.1 }.map { name, pair in
                    name == "architecture checksum"
                        ? "\(name) \(String(pair.0, radix: 16)) (rank 0: \(String(pair.1, radix: 16)))" : "\(name) \(pair.0) (rank 0: \(pair.1))"
                }
                throw SynapseError.invalidArgument("this rank's model or run differs from rank 0's: \(differences.joined(separator: ", ")); \(rule)")
            }
            throw SynapseError.invalidArgument("\(Int(differing)) rank(s) hold a model or run that differs from rank 0's; \(rule)")
        }
        communicator.broadcast(model.parameterBlock.values)
        communicator.broadcast(model.bufferBlock.values)
        random.state = communicator.broadcast(random.state)
    }

    /// One small all-reduce after each step: every slice's loss share (summed in slice order in
    /// Float, as one process adds its workers' shares), the metric sums, whether any rank was
    /// asked to stop, and rank 0's generator state, which every rank takes (rank 0's worker 0
    /// draws its dropout masks from the trainer's generator; the other ranks' do not).
    func reduceStep(_ local: (sum: Double, count: Int), stop: Bool) -> (Float, (sum: Double, count: Int), Bool) {
        let slices = group.totalSlices, first = group.firstSlice
        if stepSums.count != slices + 11 { stepSums = Array(repeating: 0, count: slices + 11) }
        for k in stepSums.indices { stepSums[k] = 0 }
        for (w, share) in group.lossShares.enumerated() { stepSums[first + w] = Double(share) }
        stepSums[slices] = local.sum
        stepSums[slices + 1] = Double(local.count)
        stepSums[slices + 2] = stop ? 1 : 0
        if communicator.isRoot {
            for (k, word) in random.state.enumerated() {
                stepSums[slices + 3 + 2 * k] = Double(word >> 32)
                stepSums[slices + 4 + 2 * k] = Double(word & 0xffff_ffff)
            }
        }
        stepSums.withUnsafeMutableBufferPointer { communicator.allReduceSum($0) }
        var loss: Float = 0
        for g in 0..<slices { loss += Float(stepSums[g]) }
        random.state = (0..<4).map { k in UInt64(stepSums[slices + 3 + 2 * k]) << 32 | UInt64(stepSums[slices + 4 + 2 * k]) }
        return (loss, (stepSums[slices], Int(stepSums[slices + 1])), stepSums[slices + 2] > 0)
    }
}
