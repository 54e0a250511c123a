// The dense core's speed, in release mode:
//   1. Linear forward + backward GFLOP/s beside raw cblas_sgemm on the same three GEMM shapes;
//   2. training throughput of the mlp-mnist network (784-256-128-10 ReLU, softmax cross-entropy,
//      Adam) on random data, in samples per second.
// Scripts/bench/dense_vs_pytorch.py runs this and the same work in PyTorch, and prints the ratios.
import ArgumentParser
import Dense
import Foundation

struct DenseBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dense-benchmark",
        abstract: "Linear GFLOP/s against raw sgemm, and MLP training samples/s.")

    @Option(help: "Linear batch size.") var batch = 256
    @Option(help: "Linear input features.") var inputs = 784
    @Option(help: "Linear output features.") var outputs = 256
    @Option(help: "MLP training batch size.") var mlpBatch = 64
    @Option(help: "OpenBLAS threads to measure (comma-separated).") var threads = "1,2"
    @Option(help: "Seconds per measurement.") var seconds = 2.0
    @Flag(help: "Tab-separated lines (name, threads, value) for scripts.") var tsv = false

    func run() throws {
        let threadCounts = threads.split(separator: ",").compactMap { Int($0) }
        if !tsv {
            print("Linear \(inputs) -> \(outputs), batch \(batch), forward + backward (3 GEMMs)")
            print("threads  linear GFLOP/s  sgemm GFLOP/s  linear/sgemm  MLP train samples/s (batch \(mlpBatch))")
        }
        for t in threadCounts {
            BLAS.threads = t
            let (linear, raw) = try linearFigures()
            let mlp = try mlpSamplesPerSecond()
            if tsv {
                print("linear_gflops\t\(t)\t\(linear)\nsgemm_gflops\t\(t)\t\(raw)\nmlp_samples_per_s\t\(t)\t\(mlp)")
            } else {
                print(String(format: "%7d  %14.2f  %13.2f  %12.3f  %10.0f", t, linear, raw, linear / raw, mlp))
            }
        }
    }

    func linearFigures() throws -> (linear: Double, sgemm: Double) {
        let random = RandomGenerator(seed: 1)
        let layer = try Linear(inputs, outputs, random: random)
        let x = Tensor(shape: [batch, inputs])
        for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        let dy = Tensor(shape: [batch, outputs], repeating: 0.01)
        let (m, n, k) = (batch, outputs, inputs)
        let flops = 3 * 2 * Double(m * n * k)
        let dw = Tensor(shape: [n, k]), dx = Tensor(shape: [m, k]), y = Tensor(shape: [m, n])
        let linear = flops / seconds(per: {
            layer.weight.zeroGradient()
            layer.bias?.zeroGradient()
            _ = layer.forward(x, training: true)
            _ = layer.backward(dy)
        }) / 1e9
        let raw = flops / seconds(per: {
            BLAS.gemm(transposeB: true, m: m, n: n, k: k, x.data, layer.weight.value.data, y.data)
            BLAS.gemm(transposeA: true, m: n, n: k, k: m, dy.data, x.data, dw.data)
            BLAS.gemm(m: m, n: k, k: n, dy.data, layer.weight.value.data, dx.data)
        }) / 1e9
        return (linear, raw)
    }

    /// One training step as `Trainer.fit` runs it: zero gradients, forward, loss, backward, Adam.
    func mlpSamplesPerSecond() throws -> Double {
        let random = RandomGenerator(seed: 2)
        let model = try Sequential(inputShape: [784], [
            Linear(784, 256, initializer: .heUniform, random: random), Activation(.relu),
            Linear(256, 128, initializer: .heUniform, random: random), Activation(.relu),
            Linear(128, 10, random: random),
        ])
        let x = Tensor(shape: [mlpBatch, 784])
        for i in 0..<x.count { x.data[i] = random.uniform() }
        let y = Tensor(shape: [mlpBatch], values: (0..<mlpBatch).map { Float($0 % 10) })
        let loss = SoftmaxCrossEntropy(), optimizer = Adam()
        let gradient = Tensor(shape: [mlpBatch, 10])
        let parameters = model.parameters
        return Double(mlpBatch) / seconds(per: {
            model.zeroGradients()
            let output = model.forward(x, training: true)
            _ = loss.compute(predictions: output, targets: y, gradient: gradient)
            model.backward(gradient)
            optimizer.step(parameters)
        })
    }

    /// Seconds per call of `body`, after a warm-up, timed over about `seconds`.
    func seconds(per body: () -> Void) -> Double {
        for _ in 0..<10 { body() }
        var iterations = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            for _ in 0..<10 { body() }
            iterations += 10
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < self.seconds
        return elapsed / Double(iterations)
    }
}

DenseBenchmark.main()
