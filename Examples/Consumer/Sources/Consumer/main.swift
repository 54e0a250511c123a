// Synapse from outside its repository, through `import Synapse` alone: writes a small folder of
// real images (MNIST digits as PNG files), trains a small CNN on it, saves the model, loads it
// again and checks that the loaded model predicts exactly what the trained one does.
// Exits non-zero when anything fails.
//
//     swift run --package-path Examples/Consumer Consumer [DATA_ROOT]
//
// The data root is the argument, else $SYNAPSE_DATA, else ~/.cache/synapse (MNIST is fetched
// there when missing).
import Foundation
import Synapse

/// Writes the first `perClass` images of each digit in `images` as `folder/<digit>/<n>.png`.
func writeDigits(_ images: Dataset, perClass: Int, to folder: URL) throws {
    var written = [Int](repeating: 0, count: 10)
    for i in 0..<images.count {
        let digit = Int(images.targets[i])
        guard written[digit] < perClass else { continue }
        let sample = images.inputs.rows(i..<(i + 1)).reshaped(images.sampleShape)   // (1, 28, 28) in [0, 1]
        let classFolder = folder.appendingPathComponent("\(digit)")
        try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
        try PNG.write(try Image(tensor: sample), to: classFolder.appendingPathComponent("\(written[digit]).png"))
        written[digit] += 1
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("consumer: \(message)\n".utf8))
    exit(1)
}

do {
    let arguments = CommandLine.arguments.dropFirst()
    let data = DataDirectory.resolve(arguments.first)
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("synapse-consumer-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: work) }

    // 1. A folder of real images: 100 training and 20 test digits of each class.
    let mnist = try MNIST.load(.training, from: data).prefix(3000)
    try writeDigits(mnist.prefix(2500), perClass: 100, to: work.appendingPathComponent("train"))
    try writeDigits(mnist.subset(Array(2500..<3000)), perClass: 20, to: work.appendingPathComponent("test"))

    // 2. The folder as a data source: classes are the subfolders, images fitted to 1 x 28 x 28.
    let format = try ImageFormat(width: 28, height: 28, channels: 1)
    let trainFolder = try ImageFolder(root: work.appendingPathComponent("train"))
    let testFolder = try ImageFolder(root: work.appendingPathComponent("test"), classes: trainFolder.classes)
    let train = try ImageFolderSource(folder: trainFolder, format: format, loaderThreads: 2)
    let test = try ImageFolderSource(folder: testFolder, format: format, loaderThreads: 2).loadAll()
    print("images: \(trainFolder.entries.count) training, \(test.count) test, classes \(trainFolder.classes)")

    // 3. A small CNN.
    let random = RandomGenerator(seed: 1)
    let model = try Sequential(inputShape: [1, 28, 28], [
        try Conv2D(1, 8, kernelSize: 3, padding: .same, random: random),   // (N, 8, 28, 28)
        Activation(.relu),
        try MaxPool2D(2),                                                   // (N, 8, 14, 14)
        Flatten(),                                                          // (N, 1568)
        Linear(8 * 14 * 14, trainFolder.classes.count, random: random),     // (N, 10): logits
    ])
    print(model.summary())

    // 4. Train briefly, then score the test folder.
    let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 2e-3), random: random)
    try trainer.fit(train, epochs: 5, batchSize: 32)
    let accuracy = try trainer.evaluate(test)["accuracy"] ?? 0
    print(String(format: "test accuracy: %.2f%%", 100 * accuracy))
    // Ten classes: chance is 10 %; a model that learned nothing fails here.
    guard accuracy >= 0.6 else { fail(String(format: "test accuracy %.2f%% is below 60%%: the model did not learn", 100 * accuracy)) }

    // 5. Save, load, predict: the loaded model must give the same outputs, bit for bit.
    let saved = work.appendingPathComponent("model/model.safetensors")
    try FileManager.default.createDirectory(at: saved.deletingLastPathComponent(), withIntermediateDirectories: true)
    try model.save(to: saved)
    let loaded = try Sequential.load(from: saved, registry: .standard)
    let before = try model.predict(test.inputs)
    let after = try loaded.predict(test.inputs)
    guard before.shape == after.shape, before.array == after.array else {
        fail("the loaded model predicts differently from the trained one (\(saved.path))")
    }

    // 6. One image file, as a user would classify it.
    let file = testFolder.url(of: testFolder.entries[0])
    let input = try format.tensor(from: file)                                    // (1, 1, 28, 28), fitted
    let logits = try loaded.predict(input).array                                 // (1, 10)
    let best = logits.indices.max { logits[$0] < logits[$1] }!
    print("\(file.lastPathComponent) in \(testFolder.classes[testFolder.entries[0].label]): predicted \(trainFolder.classes[best])")
    print("consumer: saved, loaded and predicted \(test.count) images identically")
} catch {
    fail("\(error)")
}
