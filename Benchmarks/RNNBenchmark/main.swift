// Training throughput of the sentiment network in release mode: Embedding (vocabulary 20,000,
// dimension 64) -> SimpleRNN (hidden 64, many-to-one, tanh) -> Linear -> binary cross-entropy,
// Adam, batch 64 x 200 steps of random token ids, in tokens (batch x steps) per second.
// Scripts/bench/rnn_vs_pytorch.py runs this and the same model with PyTorch's nn.RNN.
import ArgumentParser
import Dense
import Foundation
import Recurrent

struct RNNBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnn-benchmark", abstract: "SimpleRNN sentiment-model training tokens/s.")

    @Option(help: "Batch size.") var batch = 64
    @Option(help: "Time steps.") var steps = 200
    @Option(help: "Vocabulary size.") var vocabulary = 20_000
    @Option(help: "Embedding dimension.") var embedding = 64
    @Option(help: "Hidden size.") var hidden = 64
    @Option(help: "OpenBLAS threads to measure (comma-separated).") var threads = "1,2"
    @Option(help: "Seconds per measurement.") var seconds = 3.0
    @Flag(help: "Tab-separated lines (name, threads, value) for scripts.") var tsv = false

    func run() throws {
        if !tsv { print("batch \(batch) x \(steps) steps, vocabulary \(vocabulary), embedding \(embedding), hidden \(hidden)") }
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
            SimpleRNN(embedding, hidden, random: random),
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
