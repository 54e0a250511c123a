// Training throughput of the sentiment network in release mode: Embedding (vocabulary 20,000,
// dimension 64) -> recurrent layer (`--cell`: SimpleRNN tanh, LSTM or GRU; hidden 64,
// many-to-one) -> Linear -> binary cross-entropy, Adam, batch 64 x steps random token ids (200
// for the simple cell, 400 for the gated ones, as the sentiment sample reads reviews), in tokens
// (batch x steps) per second. Scripts/bench/rnn_vs_pytorch.py runs this and the same model with
// PyTorch's nn.RNN, nn.LSTM or nn.GRU.
import ArgumentParser
import Dense
import Foundation
import Recurrent

struct RNNBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnn-benchmark", abstract: "Sentiment-model training tokens/s (SimpleRNN, LSTM or GRU).")

    @Option(help: "Batch size.") var batch = 64
    @Option(help: "Recurrent cell: simple (tanh), lstm or gru.") var cell = "simple"
    @Option(name: .customLong("steps"), help: "Time steps (default: 200 for the simple cell, 400 for lstm and gru).")
    var stepsSetting: Int?
    @Option(help: "Vocabulary size.") var vocabulary = 20_000
    @Option(help: "Embedding dimension.") var embedding = 64
    @Option(help: "Hidden size.") var hidden = 64
    @Option(help: "OpenBLAS threads to measure (comma-separated).") var threads = "1,2"
    @Option(help: "Seconds per measurement.") var seconds = 3.0
    @Flag(help: "Tab-separated lines (name, threads, value) for scripts.") var tsv = false

    var steps: Int { stepsSetting ?? (cell == "simple" ? 200 : 400) }

    func validate() throws {
        guard ["simple", "lstm", "gru"].contains(cell) else { throw ValidationError("--cell must be simple, lstm or gru, not '\(cell)'") }
    }

    func run() throws {
        if !tsv { print("\(cell) cell, batch \(batch) x \(steps) steps, vocabulary \(vocabulary), embedding \(embedding), hidden \(hidden)") }
        for t in threads.split(separator: ",").compactMap({ Int($0) }) {
            BLAS.threads = t
            let rate = try tokensPerSecond()
            if tsv { print("train_tokens_per_s\t\(t)\t\(rate)") }
            else { print(String(format: "threads %d: %.0f tokens/s", t, rate)) }
        }
    }

    /// One training step as `Trainer.fit` runs it: zero gradients, forward, loss, backward, Adam.
    func tokensPerSecond() throws -> Double {
        let random = RandomGenerator(seed: 3)
        let model = try Sequential(inputShape: [steps], [
            Embedding(vocabulary, embedding, paddingIndex: 0, random: random),
            try recurrentLayer(random: random),
            Linear(hidden, 1, random: random),
        ])
        let x = Tensor(shape: [batch, steps])
        for i in 0..<x.count { x.data[i] = Float(1 + random.below(vocabulary - 1)) }
        let y = Tensor(shape: [batch, 1], values: (0..<batch).map { Float($0 % 2) })
        let loss = BinaryCrossEntropy(), optimizer = Adam()
        let gradient = Tensor(shape: [batch, 1])
        let parameters = model.parameters
        // With the threads planned as `fit` plans them (`BLAS.withThreadPlan`).
        let perStep = BLAS.withThreadPlan(workers: 1, splitsRows: model.splitsRowsAcrossThreads) {
            timed {
                model.zeroGradients()
                let output = model.forward(x, training: true)
                _ = loss.compute(predictions: output, targets: y, gradient: gradient)
                model.backward(gradient)
                optimizer.step(parameters)
            }
        }
        return Double(batch * steps) / perStep
    }

    /// The layer `--cell` names, many-to-one, from `random`.
    func recurrentLayer(random: RandomGenerator) throws -> any Layer {
        switch cell {
        case "lstm": return try LSTM(embedding, hidden, random: random)
        case "gru": return try GRU(embedding, hidden, random: random)
        default: return try SimpleRNN(embedding, hidden, random: random)
        }
    }

    /// Seconds per call of `body`, after a warm-up, timed over about `seconds`.
    func timed(_ body: () -> Void) -> Double {
        for _ in 0..<3 { body() }
        var iterations = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            body()
            iterations += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return elapsed / Double(iterations)
    }
}

RNNBenchmark.main()
