import Dense
import Foundation

/// Augments a folder of PNG and JPEG images into another: `copies` outputs per image, named
/// `<stem>_aug<k>.png` (or `.jpg`, as `format` says) in the same relative subfolder (class labels
/// survive), plus a manifest.
///
/// Safe by construction: the output folder may not be, or lie inside, the input folder; an
/// existing output is never replaced unless `overwrite` is set, so an interrupted run is resumed
/// by running it again; every file is written to a temporary name and renamed; files that are
/// not PNG or JPEG (by extension, any case) are skipped and counted; an image that cannot be read, and every output or manifest that
/// cannot be written (a full disk), is reported with its reason ("path: problem") and the run goes
/// on. An output folder that cannot be created or written is reported before any image is read.
public struct FolderAugmentation: Sendable {
    /// The folder of source images, read recursively.
    public var input: URL
    /// The folder the outputs and the manifest go to; it may not be, or lie inside, `input`.
    public var output: URL
    /// Outputs per source image (> 0), named `<stem>_aug0` and on.
    public var copies: Int
    /// The transforms applied to each copy, and the seed they are drawn from.
    public var pipeline: Pipeline
    /// Whether existing outputs are replaced (false: they are kept, so a rerun resumes an interrupted run).
    public var overwrite = false
    /// The format written: PNG (lossless, every channel and depth kept) or JPEG (8-bit gray or
    /// RGB: alpha is dropped, 16-bit samples rounded).
    public var format = ImageFile.Format.png
    /// PNG's compression.
    public var compression = PNG.Compression.default
    /// JPEG's quality, 1-100.
    public var quality = JPEG.defaultQuality
    /// The images augmented at once, on as many threads (1 by default); the outputs are the same
    /// whatever the number.
    public var jobs = 1
    /// The largest image read, in pixels (100 million by default); a larger one is reported as a failure.
    public var pixelLimit = PNG.defaultPixelLimit

    /// An augmentation of `input` into `output`, `copies` outputs per image through `pipeline`; the
    /// other settings keep their defaults (PNG, one job, no overwriting).
    public init(input: URL, output: URL, copies: Int, pipeline: Pipeline) {
        (self.input, self.output, self.copies, self.pipeline) = (input, output, copies, pipeline)
    }

    /// A file the run could not read or write.
    public struct Failure: Sendable {
        /// The file's path.
        public let path: String
        /// The error that stopped it, as a sentence that names the file.
        public let reason: String
    }

    /// What a run did: counts, failures and speed.
    public struct Report: Sendable {
        /// The image files found in the input folder.
        public var sources = 0
        /// The outputs written by this run.
        public var written = 0
        /// Outputs that existed already and were kept.
        public var kept = 0
        /// Files that are not PNG or JPEG (by extension).
        public var notImage = 0
        /// Each image that could not be read and each output or manifest that could not be written, with
        /// its reason, in file order.
        public var failures: [Failure] = []
        /// The run's wall-clock time, in seconds.
        public var seconds = 0.0
        /// `written` per second of the run (0 when nothing was timed).
        public var imagesPerSecond: Double { seconds > 0 ? Double(written) / seconds : 0 }
        /// One line for a person: the counts, the failures and the speed.
        public var summary: String {
            String(format: "processed %d images: %d written, %d kept, %d skipped (not PNG or JPEG), %d failed, %.1f images/s",
                   sources, written, kept, notImage, failures.count, imagesPerSecond)
        }
    }

    /// The manifest's rows: source, output, transforms.
    struct Row { let source: String, output: String, transforms: String }

    /// Augments the folder, returning what was done; an image that fails is reported in the report,
    /// not thrown.
    /// - Parameters:
    ///   - progress: Called after each source image with (images done, images in all), from the worker
    ///     threads when `jobs` > 1.
    /// - Throws: `SynapseError.file` when the input is not a folder or the output folder cannot be
    ///   created or written; `SynapseError.invalidArgument` for an output inside the input, `copies` < 1
    ///   or a JPEG quality outside 1...100. Nothing is read before these checks.
    public func run(progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> Report {
        let start = Date()
        let (inputRoot, outputRoot) = (input.standardizedFileURL.resolvingSymlinksInPath(),
                                       output.standardizedFileURL.resolvingSymlinksInPath())
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: inputRoot.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw SynapseError.file(path: input.path, problem: "not a folder")
        }
        guard outputRoot.path != inputRoot.path, !outputRoot.path.hasPrefix(inputRoot.path + "/") else {
            throw SynapseError.invalidArgument("the output folder \(output.path) lies inside the input folder \(input.path)")
        }
        guard copies > 0 else { throw SynapseError.invalidArgument("copies must be positive") }
        guard (1...100).contains(quality) else { throw SynapseError.invalidArgument("JPEG quality must be 1...100, got \(quality)") }
        try pipeline.validate()  // a pipeline built in code is held to what a decoded one is
        try AtomicFile.createFolder(outputRoot)
        let probe = outputRoot.appendingPathComponent(".synapse-augment-probe-\(getpid())")
        let fd = open(probe.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SynapseError.file(path: output.path, problem: "cannot write in this folder: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe.path)

        var found: [String] = []
        var report = Report()
        let enumerator = FileManager.default.enumerator(atPath: inputRoot.path)
        while let relative = enumerator?.nextObject() as? String {
            var folder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: inputRoot.appendingPathComponent(relative).path, isDirectory: &folder)
            if !exists || folder.boolValue { continue }
            if ImageFile.isImage(relative) { found.append(relative) } else { report.notImage += 1 }
        }
        let files = found.sorted()
        report.sources = files.count

        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var rows: [[Row]]
            var written = 0, kept = 0, done = 0
            var failures: [Failure] = []
            init(count: Int) { rows = Array(repeating: [], count: count) }
        }
        let shared = Shared(count: files.count)
        let work: @Sendable (Int) -> Void = { index in
            let relative = files[index]
            let source = inputRoot.appendingPathComponent(relative)
            var rows: [Row] = []
            var (written, kept) = (0, 0)
            var failures: [Failure] = []
            do {
                let image = try ImageFile.read(source, pixelLimit: self.pixelLimit)
                let stem = (relative as NSString).deletingPathExtension
                for k in 0..<self.copies {
                    let outputRelative = "\(stem)_aug\(k).\(self.format.fileExtension)"
                    let target = outputRoot.appendingPathComponent(outputRelative)
                    do {
                        // Drawn even for an output that is kept, so its manifest row lists the same
                        // parameters the first run used (the draws depend only on file and copy).
                        let (augmented, applied) = try self.pipeline.apply(image, random: self.pipeline.random(for: relative, copy: k))
                        if !self.overwrite && FileManager.default.fileExists(atPath: target.path) {
                            kept += 1
                        } else {
                            try ImageFile.write(augmented, to: target, format: self.format, quality: self.quality,
                                                compression: self.compression)
                            written += 1
                        }
                        rows.append(Row(source: relative, output: outputRelative, transforms: applied.joined(separator: "; ")))
                    } catch {
                        // Every output that could not be made is reported; the other copies go on.
                        let named = (error as? SynapseError).map { if case .file(target.path, _) = $0 { true } else { false } } ?? false
                        failures.append(Failure(path: target.path, reason: named ? "\(error)" : "\(target.path): \(error)"))
                    }
                }
            } catch {
                failures.append(Failure(path: source.path, reason: "\(error)"))
            }
            shared.lock.lock()
            shared.rows[index] = rows
            shared.written += written
            shared.kept += kept
            shared.failures += failures
            shared.done += 1
            let done = shared.done
            shared.lock.unlock()
            progress(done, files.count)
        }
        if jobs <= 1 {
            for index in files.indices { work(index) }
        } else {
            // `jobs` workers take the files in turn; each output depends only on its file and
            // copy index, so the order does not matter.
            let next = Shared(count: 0)
            DispatchQueue.concurrentPerform(iterations: jobs) { _ in
                while true {
                    next.lock.lock()
                    let index = next.done
                    next.done += 1
                    next.lock.unlock()
                    guard index < files.count else { return }
                    work(index)
                }
            }
        }
        report.written = shared.written
        report.kept = shared.kept
        report.failures = shared.failures.sorted { $0.path < $1.path }
        let manifest = outputRoot.appendingPathComponent("manifest.csv")
        do { try writeManifest(shared.rows.flatMap { $0 }, to: manifest) } catch {
            let named = (error as? SynapseError).map { if case .file(manifest.path, _) = $0 { true } else { false } } ?? false
            report.failures.append(Failure(path: manifest.path, reason: named ? "\(error)" : "\(manifest.path): \(error)"))
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    func writeManifest(_ rows: [Row], to url: URL) throws {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        let lines = ["source,output,transforms"] + rows.map { [field($0.source), field($0.output), field($0.transforms)].joined(separator: ",") }
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: url)
    }
}
