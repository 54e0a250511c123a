// Data-parallel LeNet-5 training speed, in release mode: images/s of one epoch of `Trainer.fit`
// (batch 64, Adam, random 1 x 28 x 28 inputs) for 1 process x 1 worker and 1 x 2 workers, and,
// under mpirun, for N processes x 1 worker, plus the time of one all-reduce of LeNet-5's gradient
// block (61,706 floats). Run both:
//   .build/release/distributed-benchmark
//   mpirun -np 2 --oversubscribe .build/release/distributed-benchmark --distributed
// Numbers only: compare them on an idle machine, medians of three runs.
import ArgumentParser
import Conv
import Dense
import Distributed
import Foundation

struct DistributedBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributed-benchmark", abstract: "LeNet-5 training across workers and MPI ranks.")

    @Flag(help: "Measure across the ranks of this MPI job (start with mpirun).") var distributed = false
    @Option(help: "Training images per epoch.") var images = 64 * 60
    @Option(help: "All-reduces to time.") var reductions = 200
    @Flag(help: "Tab-separated lines (name, value) for scripts.") var tsv = false

    func run() throws {
        BLAS.threads = 1
        if distributed {
            let world = MPICommunicator.world
            let name = "lenet_train_images_per_s_\(world.size)x1"
            let speed = try training(workers: 1, communicator: world)
            let reduce = allReduceMicroseconds(world)
            if world.isRoot {
                emit(name, speed)
                emit("allreduce_61706_floats_us_median", reduce)
            }
            world.finalize()
        } else {
            emit("lenet_train_images_per_s_1x1", try training(workers: 1, communicator: SingleProcess()))
            emit("lenet_train_images_per_s_1x2", try training(workers: 2, communicator: SingleProcess()))
        }
    }

    func emit(_ name: String, _ value: Double) {
        print(tsv ? "\(name)\t\(value)" : String(format: "%-40@ %10.1f", name, value))
    }

    /// Images/s of the second of two epochs (the first sizes the buffers).
    func training(workers: Int, communicator: any Communicator) throws -> Double {
        let random = RandomGenerator(seed: 1)
        let model = try LeNet5.make(random: random)
        let x = Tensor(shape: [images, 1, 28, 28])
        for i in 0..<x.count { x[i] = random.uniform() }
        let y = Tensor(shape: [images, 10])
        for i in 0..<images { y[i * 10 + i % 10] = 1 }
        let data = try Dataset(inputs: x, targets: y)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(), random: random)
        try trainer.use(workers: workers, communicator: communicator)
        try trainer.fit(data, epochs: 1, batchSize: 64)
        communicator.barrier()
        let start = Date()
        try trainer.fit(data, epochs: 2, batchSize: 64)
        communicator.barrier()
        return Double(images) / Date().timeIntervalSince(start)
    }

    /// The median time of one in-place all-reduce of LeNet-5's gradient block, in microseconds.
    func allReduceMicroseconds(_ communicator: any Communicator) -> Double {
        let block = Tensor(shape: [61_706], repeating: 1e-3)
        var times: [Double] = []
        communicator.barrier()
        for _ in 0..<reductions {
            let start = DispatchTime.now().uptimeNanoseconds
            communicator.allReduceSum(block)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
            block.fill(1e-3)
        }
        times.sort()
        return times[times.count / 2]
    }
}

DistributedBenchmark.main()
