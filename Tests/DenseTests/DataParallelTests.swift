import Dense
import TestSupport
import XCTest

final class DataParallelTests: XCTestCase {
    func makeModel(seed: UInt64, batchNorm: Bool = false) throws -> Sequential {
        let random = RandomGenerator(seed: seed)
        var layers: [any Layer] = try [Linear(5, 12, random: random, name: "fc1")]
        if batchNorm { layers.append(try BatchNorm(features: 12, name: "bn")) }
        layers += try [Activation(.tanh), Linear(12, 3, random: random, name: "fc2")]
        return try Sequential(inputShape: [5], layers)
    }

    func batch(_ n: Int, seed: UInt64) -> (Tensor, Tensor) {
        let random = RandomGenerator(seed: seed)
        return (randomTensor([n, 5], random), Tensor(shape: [n], values: (0..<n).map { Float($0 % 3) }))
    }

    /// The gradient of the batch's mean loss does not depend on how many workers share the batch,
    /// including uneven slices (7 rows over 3 workers: 2, 2, 3) and more workers than rows.
    func testGradientsEqualOneWorkersForAnySplit() throws {
        for (rows, workers) in [(8, 2), (7, 3), (2, 4), (1, 2)] {
            let (x, y) = batch(rows, seed: UInt64(rows))
            let reference = try makeModel(seed: 1)
            let single = DataParallel(model: reference)
            let expected = single.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                                   random: RandomGenerator(seed: 2))
            let model = try makeModel(seed: 1)
            let parallel = try DataParallel(model: model, workers: workers)
            // Twice: the second batch must not see the first one's gradients.
            for _ in 0..<2 {
                let result = parallel.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                                       random: RandomGenerator(seed: 2))
                XCTAssertEqual(result.loss, expected.loss, accuracy: 1e-6, "\(rows) rows, \(workers) workers")
                XCTAssertEqual(result.metric.count, expected.metric.count)
                XCTAssertEqual(result.metric.sum, expected.metric.sum)
                for (p, q) in zip(model.parameters, reference.parameters) {
                    assertClose(p.gradient, q.gradient, relative: 1e-5, absolute: 1e-7, "\(p.name), \(rows) rows / \(workers)")
                }
            }
        }
    }

    func testReplicasFollowTheModelBetweenBatches() throws {
        let (x, y) = batch(6, seed: 3)
        let model = try makeModel(seed: 4), reference = try makeModel(seed: 4)
        let parallel = try DataParallel(model: model, workers: 2), single = DataParallel(model: reference)
        let (a, b) = (SGD(learningRate: 0.5), SGD(learningRate: 0.5))
        for _ in 0..<3 {
            _ = parallel.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                          random: RandomGenerator(seed: 1))
            a.step(model.parameters)
            _ = single.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                        random: RandomGenerator(seed: 1))
            b.step(reference.parameters)
        }
        // Tolerances of this file: two workers compute the same sums as one, but on slices (GEMMs
        // of other shapes) and with the slices' gradients added last, so each value may differ in
        // the order of its additions. Gradients here are sums of at most 8 rows x 12 units through
        // softmax and tanh; 2 x 100 x 2^-24 = 1.2e-5 bounds the relative rounding of such a sum
        // against its terms, so 1e-5 relative with a small absolute floor for cancelled values
        // (checked with OpenBLAS's Haswell, SkylakeX, Zen, Sandybridge and Prescott kernels on one
        // and two threads).
        for (p, q) in zip(model.parameters, reference.parameters) {
            assertClose(p.value, q.value, relative: 1e-5, absolute: 1e-6, p.name)
        }
        // Prediction: each output is 12 products and a bias over tanh of 5 products and a bias,
        // and tanh does not magnify an error, so the two paths agree within the bound of 19 terms
        // whose magnitudes are the same network on absolute values with the tanh left out
        // (|tanh z| <= |z|).
        let predicted = parallel.predict(x)
        let magnitudes = try absoluteNetwork(of: reference).forward(absolute(x), training: false)
        assertWithinRounding(predicted, reference.forward(x, training: false), terms: 19, magnitudes: magnitudes, "predict")
    }

    /// The model's linear layers with the absolute values of their weights, nothing between them.
    func absoluteNetwork(of model: Sequential) throws -> Sequential {
        let random = RandomGenerator(seed: 0)
        let linears = model.layers.compactMap { $0 as? Linear }
        let copies = try linears.map { layer in
            let copy = try Linear(layer.weight.shape[1], layer.weight.shape[0], random: random)
            copy.weight.value.assign(absolute(layer.weight.value))
            copy.bias!.value.assign(absolute(layer.bias!.value))
            return copy
        }
        return try Sequential(inputShape: model.inputShape, copies)
    }

    /// A replica reads the model's parameter block (same storage, same addresses) and owns its
    /// gradients and buffers; the model's writes reach it with no copy, batch after batch.
    func testReplicaSharesTheWeightsAndOwnsTheRest() throws {
        let model = try makeModel(seed: 5, batchNorm: true)
        let copy = try model.replica()
        XCTAssertEqual(copy.stateTensors.map(\.name), model.stateTensors.map(\.name))
        XCTAssertTrue(copy.parameterBlock.values.storage === model.parameterBlock.values.storage)
        XCTAssertEqual(copy.parameterBlock.values.data, model.parameterBlock.values.data)
        XCTAssertFalse(copy.parameterBlock.gradients.storage === model.parameterBlock.gradients.storage)
        for (p, q) in zip(copy.parameters, model.parameters) {
            XCTAssertEqual(p.value.data, q.value.data, "\(p.name): the same weights, not a copy")
            XCTAssertFalse(p.gradient.storage === q.gradient.storage, p.name)
        }
        for (p, q) in zip(copy.buffers, model.buffers) {
            XCTAssertEqual(p.value.array, q.value.array, p.name)
            XCTAssertFalse(p.value.storage === q.value.storage, p.name)
        }
        for (a, b) in zip(copy.layers, model.layers) { XCTAssertFalse(a === b) }
        model.parameters[0].value[3] = 9
        XCTAssertEqual(copy.parameters[0].value[3], 9, "the replica sees the model's write at once")
    }

    /// Through training steps the replicas keep pointing at the model's block: nothing rebinds or
    /// copies the parameters per batch.
    func testNoParameterCopyPerBatch() throws {
        let (x, y) = batch(8, seed: 12)
        let model = try makeModel(seed: 13)
        let parallel = try DataParallel(model: model, workers: 2)
        let optimizer = Adam(learningRate: 0.1)
        let addresses = model.parameters.map(\.value.data)
        for _ in 0..<3 {
            _ = parallel.computeGradients(inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy,
                                          random: RandomGenerator(seed: 1))
            optimizer.step(model.parameters)
        }
        XCTAssertEqual(model.parameters.map(\.value.data), addresses)
        XCTAssertNotNil(ParameterBlock.common(model.parameters))
        XCTAssertEqual(parallel.replicas.count, 1)
        for replica in parallel.replicas {
            XCTAssertEqual(replica.parameters.map(\.value.data), addresses, "the replica reads the model's block")
            XCTAssertFalse(replica.parameterBlock.gradients.storage === model.parameterBlock.gradients.storage)
        }
    }

    /// BatchNorm's running mean after a two-worker batch is the average of the slices' updates:
    /// the same as one worker's, since the mean of the slice means is the batch mean.
    func testBatchNormRunningMeanIsAveragedOverReplicas() throws {
        let (x, y) = batch(10, seed: 6)
        let model = try makeModel(seed: 7, batchNorm: true), reference = try makeModel(seed: 7, batchNorm: true)
        _ = try DataParallel(model: model, workers: 2).computeGradients(
            inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy, random: RandomGenerator(seed: 1))
        _ = DataParallel(model: reference).computeGradients(
            inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy, random: RandomGenerator(seed: 1))
        let mean = model.buffers.first { $0.name.hasSuffix("running_mean") }!
        let expected = reference.buffers.first { $0.name.hasSuffix("running_mean") }!
        XCTAssertNotEqual(mean.value.array, Array(repeating: 0, count: 12), "the running mean moved")
        assertClose(mean.value, expected.value, relative: 1e-5, absolute: 1e-6, "running mean")
    }

    func testTrainerWithTwoWorkersIsDeterministicAndLearns() throws {
        func run() throws -> (History, [Float]) {
            let random = RandomGenerator(seed: 8)
            let model = try Sequential(inputShape: [5], [
                Linear(5, 16, random: random), Activation(.relu), Dropout(rate: 0.3), Linear(16, 3, random: random),
            ])
            let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.02), random: random)
            try trainer.use(workers: 2)
            XCTAssertEqual(trainer.workers, 2)
            // Class c has feature c shifted up: learnable.
            let (x, y) = batch(240, seed: 9)
            for i in 0..<240 { x[i * 5 + Int(y[i])] += 2 }
            let history = try trainer.fit(try Dataset(inputs: x, targets: y), epochs: 6, batchSize: 16)
            return (history, model.parameters.flatMap(\.value.array))
        }
        // Bit for bit: the same process runs the same products with the same thread settings
        // (each worker holds OpenBLAS to one thread) and sums the workers' gradients in a fixed order.
        let (first, weights) = try run()
        let (second, again) = try run()
        XCTAssertEqual(first, second)
        XCTAssertEqual(weights, again, "same seed, same workers: the same weights")
        XCTAssertLessThan(first["loss"].last!, 0.5 * first["loss"].first!)
        XCTAssertGreaterThan(first["accuracy"].last!, 0.9)
    }

    /// While the workers run OpenBLAS is held to one thread; the caller's setting comes back after.
    func testOpenBLASThreadSettingIsRestored() throws {
        let saved = BLAS.threads
        defer { BLAS.threads = saved }
        BLAS.threads = 2
        let (x, y) = batch(6, seed: 10)
        let model = try makeModel(seed: 11), reference = try makeModel(seed: 11)
        _ = try DataParallel(model: model, workers: 2).computeGradients(
            inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy, random: RandomGenerator(seed: 1))
        XCTAssertEqual(BLAS.threads, 2)
        _ = DataParallel(model: reference).computeGradients(
            inputs: x, targets: y, loss: SoftmaxCrossEntropy(), metric: .accuracy, random: RandomGenerator(seed: 1))
        for (p, q) in zip(model.parameters, reference.parameters) {
            assertClose(p.gradient, q.gradient, relative: 1e-5, absolute: 1e-7, p.name)
        }
    }

    func testZeroWorkersIsAnError() throws {
        let model = try makeModel(seed: 1)
        XCTAssertThrowsError(try DataParallel(model: model, workers: 0)) { error in
            XCTAssertTrue("\(error)".contains("workers"), "\(error)")
        }
    }
}
