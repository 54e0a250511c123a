// Convolution and LeNet-5 speed, in release mode:
//   1. LeNet-5 training images/s (batch 32 as `lenet`, Adam, softmax cross-entropy) and inference images/s
//      (batch 1000), on random 1 x 28 x 28 inputs, with 1 and 2 data-parallel workers;
//   2. each benchmark convolution's forward and forward + backward GFLOP/s, beside cblas_sgemm on
//      the GEMM of the same shape (O x CkHkW times CkHkW x N oH oW);
//   3. peak resident memory of the process.
// Scripts/bench/conv_vs_pytorch.py runs this and the same work in PyTorch, and prints the ratios.
// With --resnet-depth D, only resnet-small's training images/s (depth D, 3 x 32 x 32, batch 32, Adam)
// per thread count (data-parallel workers of one OpenBLAS thread each); Scripts/bench/resnet_vs_pytorch.py.
// With --network vgg or resnet: that network's training images/s (3 x 32 x 32, batch 32, Adam) and
// inference images/s (batch 256) per thread count (data-parallel workers of one OpenBLAS thread
// each), each 3x3 layer's forward GFLOP/s (its batch-32 input, that many OpenBLAS threads), and the
// machine's multiply-add peak from a loop of independent multiply-adds (CPeak), on one core; the
// layers and the peak in wall-clock and in CPU time (the machine may be shared);
// Scripts/bench/cnn_vs_pytorch.py.
import ArgumentParser
import CPeak
import Conv
import Dense
import Foundation

struct ConvBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv-benchmark", abstract: "LeNet-5 and Conv2D speed against raw sgemm.")

    @Option(help: "Thread counts to measure (comma-separated): LeNet-5 runs that many data-parallel workers of one OpenBLAS thread each, as `lenet` does; the single convolutions run that many OpenBLAS threads.")
    var threads = "1,2"
    @Option(help: "Seconds per measurement.") var seconds = 2.0
    @Flag(help: "Tab-separated lines (name, threads, value) for scripts.") var tsv = false
    @Flag(help: "Only the LeNet-5 measurements (for profiling).") var lenetOnly = false
    @Option(help: ArgumentHelp("Run exactly this many LeNet-5 training steps (one OpenBLAS thread, --step-workers workers) and nothing else.",
                               discussion: "For instruction counts under callgrind: run two step counts; the difference of the totals divided by the difference of the counts is the cost of one step, without the setup. For profiles of the data-parallel step: --step-workers 2."))
    var steps: Int?
    @Option(help: "Data-parallel workers for --steps.") var stepWorkers = 1
    @Option(help: "LeNet-5 training batch size (lenet's default).") var batchSize = 32
    @Option(help: "Measure only resnet-small of this depth (6n + 2) training on 3 x 32 x 32 images, batch --batch-size.")
    var resnetDepth: Int?
    @Option(help: "Measure only this network (vgg: vgg-small, resnet: resnet-small of depth 20) and the multiply-add peak.")
    var network: String?
    @Option(help: "How every convolution is computed: automatic, im2col (im2col + GEMM), winograd, or before-winograd (automatic without Winograd: the direct kernels for up to 16 channels, im2col + GEMM above, as before Winograd).")
    var algorithm = "automatic"

    var convolutionAlgorithm: Conv2D.Algorithm {
        switch algorithm {
        case "im2col": return .im2colGEMM
        case "winograd": return .winograd
        default: return .automatic
        }
    }

    func setAlgorithm(_ layers: [any Layer]) {
        for case let conv as Conv2D in layers {
            let small = conv.inputChannels <= 16 && conv.outputChannels <= 16
            conv.algorithm = algorithm == "before-winograd" ? (small ? .automatic : .im2colGEMM) : convolutionAlgorithm
        }
    }

    /// (name, N, C, H, W, O, kernel, stride, padding)
    static let layers = [
        ("conv_64x1x28x28_k5p2_o6", 64, 1, 28, 28, 6, 5, 1, 2),
        ("conv_64x6x14x14_k5_o16", 64, 6, 14, 14, 16, 5, 1, 0),
        ("conv_32x64x56x56_k3p1_o64", 32, 64, 56, 56, 64, 3, 1, 1),
        ("conv_32x64x56x56_k3p1s2_o128", 32, 64, 56, 56, 128, 3, 2, 1),
    ]

    func run() throws {
        if let steps {
            BLAS.threads = 1
            let step = try lenetTrainingStep(workers: stepWorkers)
            for _ in 0..<steps { step() }
            return
        }
        if let network {
            try measureNetwork(network)
            return
        }
        if let resnetDepth {
            BLAS.threads = 1
            for t in threads.split(separator: ",").compactMap({ Int($0) }) {
                emit("resnet\(resnetDepth)_train_images_per_s", t, Double(batchSize) / time(try resnetTrainingStep(depth: resnetDepth, workers: t)))
            }
            return
        }
        for t in threads.split(separator: ",").compactMap({ Int($0) }) {
            // LeNet runs as `lenet` trains: t data-parallel workers, one OpenBLAS thread each.
            BLAS.threads = 1
            emit("lenet_train_images_per_s", t, try lenetTraining(workers: t))
            emit("lenet_inference_images_per_s", t, try lenetInference(workers: t))
            BLAS.threads = t
            if lenetOnly { continue }
            for (name, n, c, h, w, o, k, s, p) in ConvBenchmark.layers {
                let (forward, both, gemm) = try convolution(n, c, h, w, o, k, s, p)
                emit("\(name)_forward_gflops", t, forward)
                emit("\(name)_forward_backward_gflops", t, both)
                emit("\(name)_sgemm_gflops", t, gemm)
            }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        emit("peak_rss_mb", 0, Double(usage.ru_maxrss) / 1024)
    }

    func emit(_ name: String, _ threads: Int, _ value: Double) {
        print(tsv ? "\(name)\t\(threads)\t\(value)" : String(format: "%-46@ threads %d  %10.1f", name, threads, value))
    }

    func lenetTraining(workers: Int) throws -> Double {
        Double(batchSize) / time(try lenetTrainingStep(workers: workers))
    }

    /// One LeNet-5 training step (gradients and an Adam update) on a fixed random batch.
    func lenetTrainingStep(workers: Int) throws -> () -> Void {
        let random = RandomGenerator(seed: 1)
        let model = try LeNet5.make(random: random)
        let n = batchSize
        let x = Tensor(shape: [n, 1, 28, 28])
        for i in 0..<x.count { x[i] = random.uniform() }
        let y = Tensor(shape: [n], values: (0..<n).map { Float($0 % 10) })
        let loss = SoftmaxCrossEntropy(), optimizer = Adam()
        let parameters = model.parameters
        let parallel = try DataParallel(model: model, workers: workers)
        return {
            _ = parallel.computeGradients(inputs: x, targets: y, loss: loss, metric: .accuracy, random: random)
            optimizer.step(parameters)
        }
    }

    /// One resnet-small training step (gradients and an Adam update) on a fixed random batch.
    func resnetTrainingStep(depth: Int, workers: Int) throws -> () -> Void {
        let random = RandomGenerator(seed: 1)
        let model = try ResNetSmall.make(channels: 3, height: 32, width: 32, classes: 10, depth: depth, random: random)
        let n = batchSize
        let x = Tensor(shape: [n, 3, 32, 32])
        for i in 0..<x.count { x[i] = random.uniform(-1, 1) }
        let y = Tensor(shape: [n], values: (0..<n).map { Float($0 % 10) })
        let loss = SoftmaxCrossEntropy(), optimizer = Adam()
        let parameters = model.parameters
        let parallel = try DataParallel(model: model, workers: workers)
        return {
            _ = parallel.computeGradients(inputs: x, targets: y, loss: loss, metric: .accuracy, random: random)
            optimizer.step(parameters)
        }
    }

    /// The network's image classifier for 3 x 32 x 32 images and 10 classes.
    func makeNetwork(_ network: String, random: RandomGenerator) throws -> any Model {
        let model: any Model
        switch network {
        case "vgg": model = try VGGSmall.make(channels: 3, height: 32, width: 32, classes: 10, random: random)
        case "resnet": model = try ResNetSmall.make(channels: 3, height: 32, width: 32, classes: 10, depth: 20, random: random)
        default: throw ValidationError("--network is vgg or resnet, got \(network)")
        }
        if let sequential = model as? Sequential { setAlgorithm(sequential.layers) }
        if let graph = model as? Graph { setAlgorithm(graph.layers) }
        return model
    }

    /// --network: training and inference images/s per thread count, each 3x3 layer's forward
    /// GFLOP/s, the multiply-add peak.
    func measureNetwork(_ network: String) throws {
        let counts = threads.split(separator: ",").compactMap { Int($0) }
        for t in counts {
            BLAS.threads = 1
            let random = RandomGenerator(seed: 1)
            let model = try makeNetwork(network, random: random)
            let n = batchSize
            let x = Tensor(shape: [n, 3, 32, 32])
            for i in 0..<x.count { x[i] = random.uniform(-1, 1) }
            let y = Tensor(shape: [n], values: (0..<n).map { Float($0 % 10) })
            let loss = SoftmaxCrossEntropy(), optimizer = Adam()
            let parameters = model.parameters
            let parallel = try DataParallel(model: model, workers: t)
            emit("\(network)_train_images_per_s", t, Double(n) / time {
                _ = parallel.computeGradients(inputs: x, targets: y, loss: loss, metric: .accuracy, random: random)
                optimizer.step(parameters)
            })
            let xi = Tensor(shape: [256, 3, 32, 32])
            for i in 0..<xi.count { xi[i] = random.uniform(-1, 1) }
            emit("\(network)_inference_images_per_s", t, 256 / time { _ = parallel.predict(xi) })
        }
        // Each distinct 3x3 layer of the network (stride 1), alone on a batch of its input.
        let shapes: [(String, Int, Int, Int)] = network == "vgg"
            ? [("block1_conv1", 3, 16, 32), ("block1_conv2", 16, 16, 32), ("block2_conv1", 16, 32, 16),
               ("block2_conv2", 32, 32, 16), ("block3_conv1", 32, 64, 8), ("block3_conv2", 64, 64, 8)]
            : [("conv1", 3, 16, 32), ("layer1_conv", 16, 16, 32), ("layer2_conv2", 32, 32, 16), ("layer3_conv2", 64, 64, 8)]
        for t in counts {
            BLAS.threads = t
            for (name, c, o, side) in shapes {
                let random = RandomGenerator(seed: 3)
                let conv = try Conv2D(c, o, kernelSize: 3, padding: .same, bias: false, random: random)
                setAlgorithm([conv])
                let x = Tensor(shape: [batchSize, c, side, side])
                for i in 0..<x.count { x[i] = random.uniform(-1, 1) }
                let flops = 2 * Double(batchSize * o * side * side * c * 9)
                let (wall, cpu) = timeWithCPU { _ = conv.forward(x, training: true) }
                emit("\(network)_\(name)_forward_gflops", t, flops / wall / 1e9)
                if t == 1 { emit("\(network)_\(name)_forward_cpu_gflops", t, flops / cpu / 1e9) }
            }
        }
        BLAS.threads = 1
        let rounds = 20_000_000
        let (wall, cpu) = timeWithCPU { _ = synapse_peak_fma(rounds) }
        let flops = synapse_peak_fma(1) * Double(rounds)
        emit("peak_fma_gflops", 1, flops / wall / 1e9)
        emit("peak_fma_cpu_gflops", 1, flops / cpu / 1e9)
    }

    /// Seconds per call of `body` in wall-clock and in this process's CPU time (which leaves out
    /// the time other processes had the core).
    func timeWithCPU(_ body: () -> Void) -> (wall: Double, cpu: Double) {
        func cpuNow() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        let cpuStart = cpuNow()
        var calls = 0
        let wall = time { body(); calls += 1 }
        // time() runs 3 warm-up calls first; the CPU time covers them too.
        return (wall, (cpuNow() - cpuStart) / Double(calls))
    }

    func lenetInference(workers: Int) throws -> Double {
        let random = RandomGenerator(seed: 2)
        let model = try LeNet5.make(random: random)
        let x = Tensor(shape: [1000, 1, 28, 28])
        for i in 0..<x.count { x[i] = random.uniform() }
        let parallel = try DataParallel(model: model, workers: workers)
        return 1000 / time { _ = parallel.predict(x) }
    }

    func convolution(_ n: Int, _ c: Int, _ h: Int, _ w: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int) throws -> (Double, Double, Double) {
        let random = RandomGenerator(seed: 3)
        let conv = try Conv2D(c, o, kernelSize: k, stride: s, padding: .explicit(p, p), random: random)
        let x = Tensor(shape: [n, c, h, w])
        for i in 0..<x.count { x[i] = random.uniform(-1, 1) }
        let outShape = try conv.outputShape(for: [c, h, w])
        let area = outShape[1] * outShape[2]
        let flops = 2 * Double(n * o * area * c * k * k)
        let dy = Tensor(shape: [n] + outShape, repeating: 0.01)
        let forward = flops / time { _ = conv.forward(x, training: true) } / 1e9
        let both = 3 * flops / time {
            conv.weight.zeroGradient()
            conv.bias?.zeroGradient()
            _ = conv.forward(x, training: true)
            _ = conv.backward(dy)
        } / 1e9
        // The forward GEMM alone, on buffers of the same shape.
        let (m, cols, depth) = (o, n * area, c * k * k)
        let a = Tensor(shape: [m, depth], repeating: 0.01), b = Tensor(shape: [depth, cols], repeating: 0.01)
        let product = Tensor(shape: [m, cols])
        let gemm = flops / time { BLAS.gemm(m: m, n: cols, k: depth, a.data, b.data, product.data) } / 1e9
        return (forward, both, gemm)
    }

    /// Seconds per call of `body`, after a warm-up, timed over about `seconds`.
    func time(_ body: () -> Void) -> Double {
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

ConvBenchmark.main()
