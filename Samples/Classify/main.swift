// Image classification on your own folders: `root/<class>/**/*.png` or `*.jpg`, one subfolder per
// class. `train` streams the PNG and JPEG files (decoded and augmented on loader threads) into LeNet-5 or a small
// VGG; `evaluate` scores a saved model on a folder; `predict` classifies files; `export` writes
// MNIST or Fashion-MNIST as such a folder.
import ArgumentParser
import Foundation
import SampleOptions
import Synapse

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify", abstract: "Train and use image classifiers on folders of PNG and JPEG files (one subfolder per class).",
        subcommands: [Train.self, Evaluate.self, Predict.self, Export.self])
}

extension Classify {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Train on an image folder; validate on another folder or a split.")

        enum ModelName: String, ExpressibleByArgument, CaseIterable { case lenet, vggSmall = "vgg-small", resnetSmall = "resnet-small" }

        @OptionGroup var common: TrainingOptions
        @Argument(help: "The training folder: one subfolder of PNG or JPEG files per class.") var folder: String
        @Option(help: "Network: lenet (LeNet-5), vgg-small (three conv-BN-ReLU x2 + pool blocks) or resnet-small (CIFAR ResNet).") var model = ModelName.lenet
        @Option(help: "resnet-small's depth, 6n + 2 (8, 14, 20, 32, ...).") var depth = 20
        @Option(help: "Images are brought to this size, WxH (default: 28x28 for lenet, 32x32 for vgg-small and resnet-small).") var imageSize: String?
        @Option(help: "1 (gray) or 3 (RGB) channels (default: 1 for lenet, 3 for vgg-small and resnet-small).") var channels: Int?
        @Option(help: "How other sizes are fitted: \(ImageFormat.Fit.allCases.map(\.rawValue).joined(separator: ", ")).") var fit = ImageFormat.Fit.resize
        @Option(help: "Alpha channels: \(ImageFormat.Alpha.allCases.map(\.rawValue).joined(separator: ", ")) (composite over black or white).") var alpha = ImageFormat.Alpha.drop
        @Option(help: "Augment training images with this pipeline (JSON, as `augment --save-pipeline` writes).") var augment: String?
        @Option(help: "Validate on this folder (same class names).") var validation: String?
        @Option(help: "Else hold out this fraction of the training folder (default 0.1).") var validationSplit: Double?
        @Option(help: "Epochs.") var epochs = 10
        @Option(help: "Mini-batch size.") var batchSize = 32
        @Option(help: "Adam learning rate (default: 0.002 for lenet, 0.001 for vgg-small and resnet-small).") var lr: Float?
        @Option(help: "Multiply the learning rate by this after every epoch.") var decay: Float = 0.7
        @Option(help: "Threads that decode and augment images ahead of training.") var loaderThreads = 2
        @Option(help: "Keep decoded images in memory up to this many MiB, so a data set that fits is decoded once (0: decode every epoch).") var cacheMb = 256
        @Option(help: "Folder for model.safetensors, model.json, classes.json, log.csv and curves.svg.") var output = "runs/classify"
        @Flag(help: "Keep a class folder without images as a class (an error otherwise).") var allowEmptyClasses = false

        func validate() throws {
            try checkTraining(epochs: epochs, batchSize: batchSize, lr: lr, decay: decay)
            if let channels, channels != 1 && channels != 3 { throw ValidationError("--channels must be 1 or 3, got \(channels)") }
            if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
                throw ValidationError("--validation-split must be between 0 and 1, got \(validationSplit)")
            }
            if validation != nil && validationSplit != nil { throw ValidationError("give --validation or --validation-split, not both") }
            guard (0...256).contains(loaderThreads) else { throw ValidationError("--loader-threads must be 0...256, got \(loaderThreads)") }
            guard (0...1 << 20).contains(cacheMb) else { throw ValidationError("--cache-mb must be 0...1048576, got \(cacheMb)") }
            _ = try parseSize(imageSize ?? "28x28")
        }

        func run() throws {
            _ = common.prepare()
            let run = try TrainingRun(output: output, options: common)
            let modelName = model
            let (width, height) = try parseSize(imageSize ?? (modelName == .lenet ? "28x28" : "32x32"))
            let format = try ImageFormat(width: width, height: height, channels: channels ?? (modelName == .lenet ? 1 : 3),
                                         fit: fit, alpha: alpha)
            let pipeline = try augment.map { try Pipeline.load(from: URL(fileURLWithPath: $0)) }
            let report: @Sendable (String) -> Void = { note("skipped: \($0)") }
            let trainFolder = try ImageFolder(root: URL(fileURLWithPath: folder, isDirectory: true), allowEmptyClasses: allowEmptyClasses)
            note(trainFolder.summary)
            let source = try ImageFolderSource(folder: trainFolder, format: format, pipeline: pipeline, loaderThreads: loaderThreads,
                                               cacheBytes: cacheMb << 20, report: report)
            let training: any DataSource, held: ImageFolderSource
            if let validation {
                let folder = try ImageFolder(root: URL(fileURLWithPath: validation, isDirectory: true), classes: trainFolder.classes)
                note(folder.summary)
                training = source
                held = try ImageFolderSource(folder: folder, format: format, loaderThreads: loaderThreads,
                                             cacheBytes: cacheMb << 20, report: report)
            } else {
                let split = try source.split(validationFraction: validationSplit ?? 0.1, seed: common.seed)
                training = split.training
                held = (split.validation as! ImageFolderSource).withoutAugmentation()
            }
            let classes = trainFolder.classes
            let random = RandomGenerator(seed: common.seed)
            let network: any Model = switch modelName {
            case .lenet: try LeNet5.make(classes: classes.count, channels: format.channels, height: height, width: width, random: random)
            case .vggSmall: try VGGSmall.make(channels: format.channels, height: height, width: width, classes: classes.count, random: random)
            case .resnetSmall: try ResNetSmall.make(channels: format.channels, height: height, width: width, classes: classes.count,
                                                    depth: depth, random: random)
            }
            print(network.summary())
            let rate = lr ?? (modelName == .lenet ? 2e-3 : 1e-3)
            let optimizer = Adam(learningRate: rate)
            let trainer = Trainer(model: network, loss: SoftmaxCrossEntropy(), optimizer: optimizer, random: random,
                                  schedule: ExponentialDecay(initial: rate, decay: decay))
            try common.configure(trainer, defaultWorkers: min(2, ProcessInfo.processInfo.activeProcessorCount))
            try run.start(trainer)
            let (start, firstEpoch) = (Date(), trainer.epoch)
            let history = try run.fit(trainer) {
                try trainer.fit(training, epochs: epochs, batchSize: batchSize, validation: .data(held),
                                callbacks: common.progressCallbacks)
            }
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "trained %d epochs in %.1f s (%.0f images/s, validation included)", trainer.epoch - firstEpoch,
                         seconds, Double((trainer.epoch - firstEpoch) * training.count) / seconds))
            let classifier = try ImageClassifier(model: network, classes: classes, format: format)
            let settings = optimizer.settings.merging(ImageClassifier.settings(format)) { a, _ in a }.merging(
                ["loss": .string("cross_entropy"), "epochs": .number(Double(epochs)), "batchSize": .number(Double(batchSize)),
                 "seed": .number(Double(common.seed)), "model": .string(modelName.rawValue)]
                    .merging(modelName == .resnetSmall ? ["depth": .number(Double(depth))] : [:]) { a, _ in a }) { a, _ in a }
            try run.save(network, training: settings, history: history, curves: "\(modelName.rawValue) on \(folder)") { staging in
                try AtomicFile.write(try JSONEncoder().encode(classes), to: staging.appendingPathComponent(ImageClassifier.classesName))
            }
            print("wrote \(run.weights.path), model.json, classes.json, log.csv and curves.svg in \(run.folder.url.path)")
            let matrix = try classifier.confusionMatrix(on: held)
            print(try matrix.table(names: classes))
            try common.report(testAccuracy: matrix.accuracy)
        }

        func parseSize(_ text: String) throws -> (Int, Int) {
            let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ $0 >= 1 && $0 <= 16_384 }) else {
                throw ValidationError("--image-size takes WxH, e.g. 28x28, got \(text)")
            }
            return (parts[0], parts[1])
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Score a saved model on an image folder.")
        @Argument(help: "The model set: its folder (the --output of train), or its model.safetensors or model.json.") var model: String
        @Argument(help: "A folder with one subfolder per class, named as in training.") var folder: String
        @Option(help: "Threads that decode images ahead.") var loaderThreads = 2
        @Option(help: "OpenBLAS threads.") var threads = 1

        func run() throws {
            BLAS.threads = threads
            let classifier = try ImageClassifier.load(from: URL(fileURLWithPath: model))
            let images = try ImageFolder(root: URL(fileURLWithPath: folder, isDirectory: true), classes: classifier.classes)
            note(images.summary)
            let source = try ImageFolderSource(folder: images, format: classifier.format, loaderThreads: loaderThreads,
                                               report: { note("skipped: \($0)") })
            let matrix = try classifier.confusionMatrix(on: source)
            print(try matrix.table(names: classifier.classes))
            print(String(format: "test accuracy: %.2f%%", 100 * matrix.accuracy))
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify PNG and JPEG files: one line per file, path<TAB>class<TAB>probability (the top k classes).")
        @Argument(help: "The model set: its folder (the --output of train), or its model.safetensors or model.json.") var model: String
        @Argument(help: "PNG or JPEG files.") var files: [String]
        @Option(help: "Print the k most probable classes per file.") var top = 1

        func run() throws {
            guard top >= 1 else { throw ValidationError("--top must be at least 1") }
            let classifier = try ImageClassifier.load(from: URL(fileURLWithPath: model))
            var failed = 0
            for path in files {
                do {
                    let ranked = try classifier.classify(URL(fileURLWithPath: path), top: top)
                    print(([path] + ranked.flatMap { [$0.className, String(format: "%.4f", $0.probability)] }).joined(separator: "\t"))
                } catch {
                    failed += 1
                    note(error is SynapseError ? "\(error)" : "\(path): \(error)")
                }
            }
            if failed > 0 {
                note("\(failed) of \(files.count) file(s) could not be classified")
                throw ExitCode.failure
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write MNIST or Fashion-MNIST as PNG (or JPEG) folders: DIR/train/<class>/<n>.png and DIR/test/<class>/<n>.png.")
        enum DataSetName: String, ExpressibleByArgument, CaseIterable { case mnist, fashionMNIST = "fashion-mnist" }

        @Argument(help: "The folder to write (its train/ and test/ must not exist yet).") var folder: String
        @Option(help: "mnist or fashion-mnist.") var dataset = DataSetName.mnist
        @Option(help: "Data root holding mnist/ (default: $SYNAPSE_DATA, else ~/.cache/synapse).") var data: String?
        @Option(help: "File format: png (lossless) or jpeg (<n>.jpg).") var format = "png"
        @Option(help: "JPEG quality, 1-100.") var quality = JPEG.defaultQuality

        func run() throws {
            guard let fileFormat = ImageFile.Format(rawValue: format) else { throw ValidationError("--format: png or jpeg") }
            guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1...100") }
            let directory = DataDirectory.resolve(data)
            let load = dataset == .mnist ? MNIST.load : FashionMNIST.load
            let root = URL(fileURLWithPath: folder, isDirectory: true)
            for (split, name) in [(Split.training, "train"), (.test, "test")] {
                let target = root.appendingPathComponent(name, isDirectory: true)
                guard !FileManager.default.fileExists(atPath: target.path) else {
                    throw SynapseError.file(path: target.path, problem: "exists already: export writes a new folder and never mixes with an old one")
                }
                let set = try load(split, directory, note)
                // Written under a temporary name and renamed when complete: a killed export leaves no half folder.
                let partial = root.appendingPathComponent(".\(name).partial", isDirectory: true)
                try? FileManager.default.removeItem(at: partial)
                let (pixels, count) = (set.inputs.sampleCount, set.count)
                var written = [Int](repeating: 0, count: 10)
                for k in 0..<10 {
                    try FileManager.default.createDirectory(at: partial.appendingPathComponent(String(k)), withIntermediateDirectories: true)
                }
                for i in 0..<count {
                    let label = Int(set.targets[i])
                    let bytes = (0..<pixels).map { UInt8((set.inputs[i * pixels + $0] * 255).rounded()) }
                    let image = try Image(width: 28, height: 28, channels: 1, bitDepth: 8, bytes: bytes)
                    let file = partial.appendingPathComponent("\(label)/\(String(format: "%05d", i)).\(fileFormat.fileExtension)")
                    do {
                        try (fileFormat == .png ? PNG.encode(image) : JPEG.encode(image, quality: quality)).write(to: file)
                    } catch {
                        throw SynapseError.file(path: file.path, problem: "cannot write: \(error.localizedDescription)")
                    }
                    written[label] += 1
                }
                try FileManager.default.moveItem(at: partial, to: target)
                print("wrote \(count) images to \(target.path)/<class>/ (\(written.map(String.init).joined(separator: ", ")) per class)")
            }
        }
    }
}

extension ImageFormat.Fit: ExpressibleByArgument {}
extension ImageFormat.Alpha: ExpressibleByArgument {}

useOpenBLASVectorKernels()
Classify.main()
