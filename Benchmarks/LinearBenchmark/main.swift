// Linear forward + backward GFLOP/s beside raw cblas_sgemm on the same three GEMM shapes.
// Run in release mode: swift run -c release linear-benchmark
import ArgumentParser
import Dense
import Foundation

struct LinearBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear-benchmark",
        abstract: "Linear forward+backward GFLOP/s against raw sgemm on the same shapes.")

    @Option(help: "Batch size.") var batch = 256
    @Option(help: "Input features.") var inputs = 784
    @Option(help: "Output features.") var outputs = 256
    @Option(help: "OpenBLAS threads to measure (comma-separated).") var threads = "1,2"
    @Option(help: "Seconds per measurement.") var seconds = 2.0

    func run() throws {
        let random = RandomGenerator(seed: 1)
        let layer = Linear(inputs, outputs, random: random)
        let x = Tensor(shape: [batch, inputs])
        for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        let dy = Tensor(shape: [batch, outputs], repeating: 0.01)
        let (m, n, k) = (batch, outputs, inputs)
        // Three GEMMs of 2*m*n*k flops each: forward, weight gradient, input gradient.
        let flops = 3 * 2 * Double(m * n * k)
        let dw = Tensor(shape: [n, k]), dx = Tensor(shape: [m, k]), y = Tensor(shape: [m, n])

        print("Linear \(k) -> \(n), batch \(m): forward + backward = 3 GEMMs, \(String(format: "%.1f", flops / 1e6)) MFLOP per step")
        print("threads  linear GFLOP/s  sgemm GFLOP/s  linear/sgemm")
        for t in threads.split(separator: ",").compactMap({ Int($0) }) {
            BLAS.threads = t
            let linear = measure(flops) {
                layer.weight.zeroGradient()
                layer.bias?.zeroGradient()
                _ = layer.forward(x, training: true)
                _ = layer.backward(dy)
            }
            let raw = measure(flops) {
                BLAS.gemm(transposeB: true, m: m, n: n, k: k, x.data, layer.weight.value.data, y.data)
                BLAS.gemm(transposeA: true, m: n, n: k, k: m, dy.data, x.data, dw.data)
                BLAS.gemm(m: m, n: k, k: n, dy.data, layer.weight.value.data, dx.data)
            }
            print(String(format: "%7d  %14.2f  %13.2f  %12.3f", t, linear, raw, linear / raw))
        }
    }

    /// GFLOP/s of `body`, after a warm-up, over about `seconds`.
    func measure(_ flops: Double, _ body: () -> Void) -> Double {
        for _ in 0..<10 { body() }
        var iterations = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            for _ in 0..<10 { body() }
            iterations += 10
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return flops * Double(iterations) / elapsed / 1e9
    }
}

LinearBenchmark.main()
