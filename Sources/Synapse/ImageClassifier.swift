import Foundation

/// A trained image classifier as one model set: the network, its class names and the image format
/// its inputs were prepared in. It turns image files into class names.
///
/// On disk it is a folder holding `model.safetensors` (the weights), `model.json` (the
/// architecture, with the image format among its training settings) and `classes.json` (the class
/// names, in output order): what `classify train` writes and `classify evaluate`/`predict` read.
///
///     let classifier = try ImageClassifier.load(from: URL(fileURLWithPath: "runs/classify"))
///     for file in files {
///         let best = try classifier.classify(file, top: 1)[0]
///         print(file.lastPathComponent, best.className, best.probability)
///     }
public struct ImageClassifier {
    /// One class of a file's prediction.
    public struct Prediction: Equatable, Sendable {
        /// The class's name (its folder name in training).
        public let className: String
        /// Its index in the model's output.
        public let index: Int
        /// Its probability (softmax of the model's logits).
        public let probability: Float
    }

    /// The network (a `Sequential` or a `Graph`): logits for `classes.count` classes from
    /// `format.sampleShape` inputs.
    public let model: any Model
    /// The class names, in the order of the model's outputs.
    public let classes: [String]
    /// How a file becomes one input.
    public let format: ImageFormat

    /// The names of the set's files in its folder.
    public static let weightsName = "model.safetensors", classesName = "classes.json"

    /// Throws unless `model` takes `format`'s samples and gives one logit per class.
    public init(model: any Model, classes: [String], format: ImageFormat) throws {
        guard model.inputShape == format.sampleShape else {
            throw SynapseError.shape("the model takes \(model.inputShape) samples, but the image format gives \(format.sampleShape)")
        }
        guard classes.count >= 2, model.outputShape == [classes.count] else {
            throw SynapseError.shape("the model gives \(model.outputShape) outputs for \(classes.count) class names; it must give one logit per class, at least 2")
        }
        guard Set(classes).count == classes.count else {
            throw SynapseError.invalidArgument("class names repeat: \(classes.joined(separator: ", "))")
        }
        (self.model, self.classes, self.format) = (model, classes, format)
    }

    /// The training settings that record `format` in `model.json`.
    public static func settings(_ format: ImageFormat) -> [String: ConfigValue] {
        ["image_width": .number(Double(format.width)), "image_height": .number(Double(format.height)),
         "image_channels": .number(Double(format.channels)), "image_fit": .string(format.fit.rawValue),
         "image_alpha": .string(format.alpha.rawValue)]
    }

    /// Loads a set from its folder, its `model.safetensors` or its `model.json` (all three name
    /// the same set). After a crash in the middle of a save, the complete set waiting beside
    /// the folder is read (`ModelFolder.readableWeights`).
    public static func load(from url: URL, registry: LayerRegistry = .standard) throws -> ImageClassifier {
        let weights = ModelFolder.readableWeights(try weightsURL(url))
        let model = try SavedModel.load(from: weights, registry: registry)
        let configURL = Sequential.configURL(forWeights: weights)
        // The training settings, whichever kind of model the architecture file describes.
        struct Settings: Decodable { var training: [String: ConfigValue] }
        let training = try JSONDecoder().decode(Settings.self, from: Data(contentsOf: configURL)).training
        func number(_ key: String) throws -> Int {
            guard case .number(let value)? = training[key], value >= 1, value <= 16_384, value == value.rounded() else {
                throw SynapseError.file(path: configURL.path, problem: "no image setting '\(key)': not an image classifier (classify train writes one)")
            }
            return Int(value)
        }
        func text(_ key: String) -> String? { if case .string(let s)? = training[key] { return s } else { return nil } }
        let format = try ImageFormat(width: number("image_width"), height: number("image_height"), channels: number("image_channels"),
                                     fit: text("image_fit").flatMap(ImageFormat.Fit.init) ?? .resize,
                                     alpha: text("image_alpha").flatMap(ImageFormat.Alpha.init) ?? .drop)
        let classesURL = weights.deletingLastPathComponent().appendingPathComponent(classesName)
        let classes: [String]
        do {
            classes = try JSONDecoder().decode([String].self, from: Data(contentsOf: classesURL))
        } catch {
            throw SynapseError.file(path: classesURL.path, problem: "cannot read the class names (a JSON list of strings): \(error.localizedDescription)")
        }
        do {
            return try ImageClassifier(model: model, classes: classes, format: format)
        } catch let error as SynapseError {
            throw SynapseError.file(path: weights.path, problem: "\(error)")
        }
    }

    /// The weights file a user's path names: the file itself, the `.safetensors` beside a `.json`,
    /// or `model.safetensors` in a folder.
    static func weightsURL(_ url: URL) throws -> URL {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
        if exists && isFolder.boolValue { return url.appendingPathComponent(weightsName) }
        if url.pathExtension.lowercased() == "json" { return url.deletingPathExtension().appendingPathExtension("safetensors") }
        return url
    }

    /// Writes the set (weights, architecture with the image format and `training`, class names)
    /// into `folder`, which must exist and hold nothing of value: for a set replaced as a whole,
    /// call this inside `ModelFolder.replace` (as `save(to:)` does).
    public func write(into folder: URL, training: [String: ConfigValue] = [:]) throws {
        try model.save(to: folder.appendingPathComponent(Self.weightsName),
                       training: training.merging(Self.settings(format)) { _, image in image })
        try AtomicFile.write(try JSONEncoder().encode(classes), to: folder.appendingPathComponent(Self.classesName))
    }

    /// Saves the set as the folder `folder`, replacing an earlier set there as a whole: a crash
    /// leaves the old set or the new one, never a mix (`ModelFolder.replace`).
    public func save(to folder: URL, training: [String: ConfigValue] = [:]) throws {
        try ModelFolder(folder).replace { try write(into: $0, training: training) }
    }

    /// The `k` most probable classes of one PNG or JPEG file, most probable first.
    public func classify(_ file: URL, top k: Int = 1) throws -> [Prediction] {
        try classify([file], top: k)[0]
    }

    /// The `k` most probable classes of each file, in `batchSize` batches; throws, naming the
    /// file, at the first one that cannot be read.
    public func classify(_ files: [URL], top k: Int = 1, batchSize: Int = 64) throws -> [[Prediction]] {
        guard batchSize >= 1 else { throw SynapseError.invalidArgument("batch size must be at least 1, got \(batchSize)") }
        var result: [[Prediction]] = []
        for start in stride(from: 0, to: files.count, by: batchSize) {
            let inputs = try format.tensor(from: Array(files[start..<min(start + batchSize, files.count)]))
            let ranked = try model.predict(inputs, batchSize: batchSize).probabilities().top(k)
            result += ranked.map { row in
                row.map { Prediction(className: classes[$0.index], index: $0.index, probability: $0.probability) }
            }
        }
        return result
    }

    /// The confusion matrix of the model on the image folder at `url` (one subfolder per class,
    /// named as this set's classes; a class may be missing, a folder of another name is an error),
    /// its files prepared in this set's format. Unreadable files are skipped and passed to `report`.
    public func confusionMatrix(onFolder url: URL, loaderThreads: Int = 2,
                                report: @escaping @Sendable (String) -> Void = { _ in }) throws -> ConfusionMatrix {
        let folder = try ImageFolder(root: url, classes: classes)
        return try confusionMatrix(on: ImageFolderSource(folder: folder, format: format, loaderThreads: loaderThreads, report: report))
    }

    /// The confusion matrix of the model on `source`, whose folder must be listed with this set's
    /// classes and whose format must be this set's.
    public func confusionMatrix(on source: ImageFolderSource, batchSize: Int = 256) throws -> ConfusionMatrix {
        guard source.folder.classes == classes else {
            throw SynapseError.file(path: source.folder.root.path, problem:
                "listed with classes \(source.folder.classes.joined(separator: ", ")), the model's are \(classes.joined(separator: ", ")): list it with ImageFolder(root:classes:) and the model's classes")
        }
        guard source.format == format else {
            throw SynapseError.invalidArgument("the source prepares images as \(source.format), the model was trained on \(format)")
        }
        guard batchSize >= 1 else { throw SynapseError.invalidArgument("batch size must be at least 1, got \(batchSize)") }
        var matrix = try ConfusionMatrix(classes: classes.count)
        let stream = source.batches(order: Array(0..<source.count), batchSize: batchSize, epoch: 0, training: false)
        let inputs = Tensor(shape: [batchSize] + source.sampleShape), labels = Tensor(shape: [batchSize])
        while let rows = try stream.next(inputs: inputs, targets: labels) {
            let output = model.forward(Tensor.reusing(inputs, shape: [rows] + source.sampleShape), training: false)
            try matrix.add(predicted: argmaxRows(output), actual: (0..<rows).map { Int(labels[$0]) })
        }
        return matrix
    }
}
