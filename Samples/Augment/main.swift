// augment: N varied copies of every PNG or JPEG in a folder tree, the subfolders (class labels)
// mirrored, with a manifest of every transform's drawn parameters and an optional contact sheet.
// Copies are PNG files, or JPEG with --format jpeg.
//
//     augment photos/ augmented/ --copies 4 --flip horizontal --rotate -15:15 --crop 224x224 --seed 42 --jobs 2
//     augment photos/ augmented/ --copies 4 --flip horizontal --format jpeg --quality 90
import ArgumentParser
import Foundation
import SampleOptions
import Synapse

struct Augment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment", abstract: "Augment a folder of PNG and JPEG images into another folder.")

    enum FlipAxis: String, ExpressibleByArgument, CaseIterable { case horizontal, vertical, both }

    @Argument(help: "Folder of PNG and JPEG images (.png, .jpg, .jpeg; subfolders are kept).") var input: String
    @Argument(help: "Output folder (created; may not lie inside the input).") var output: String
    @Option(help: "Augmented copies per image.") var copies = 4
    @Option(help: "Random flips, each with probability 0.5: horizontal, vertical or both.") var flip: FlipAxis?
    @Option(parsing: .unconditional, help: "Rotation range in degrees, e.g. -15:15 (positive = counter-clockwise).") var rotate: String?
    @Option(help: "Rotation sampling: nearest or bilinear.") var interpolation = "bilinear"
    @Option(help: "Fill outside the image: black, white, edge, reflect or wrap.") var fill = "black"
    @Flag(help: "Rotate by a random multiple of 90 degrees (exact).") var rotate90 = false
    @Option(help: "Random crop WxH.") var crop: String?
    @Option(help: "Zero padding on each side before a random crop.") var cropPadding = 0
    @Option(help: "Random resized crop to WxH (scale 0.08-1, ratio 3/4-4/3, as torchvision).") var resizedCrop: String?
    @Option(help: "Resize every output to WxH (last step).") var resize: String?
    @Option(help: "A pipeline in JSON (instead of the transform flags); see --save-pipeline.") var pipeline: String?
    @Option(help: "Write the pipeline the flags describe as JSON to this file.") var savePipeline: String?
    @Option(help: "Random seed: each output depends only on the seed, the file's path and the copy index.") var seed: UInt64 = 1
    @Option(help: "Parallel jobs.") var jobs = 1
    @Option(help: "Output format: png (lossless, alpha and 16 bits kept) or jpeg (8-bit gray or RGB, alpha dropped).") var format = "png"
    @Option(help: "JPEG quality, 1-100 (with --format jpeg).") var quality = JPEG.defaultQuality
    @Option(help: "PNG compression: fast (Sub filter, zlib run-length), default (adaptive filters, zlib run-length) or best (adaptive filters, zlib level 9).") var compression = "default"
    @Option(help: "Largest image read, in pixels.") var pixelLimit = PNG.defaultPixelLimit
    @Option(help: "Write a contact sheet (originals beside their copies) to this PNG file.") var preview: String?
    @Flag(help: "Replace outputs that exist already (by default they are kept, so a rerun resumes).") var overwrite = false
    @Flag(help: "No progress display.") var quiet = false

    func size(_ text: String, _ option: String) throws -> (Int, Int) {
        let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("\(option) takes WxH, e.g. 224x224, got '\(text)'") }
        return (parts[0], parts[1])
    }

    func describedPipeline() throws -> Pipeline {
        if let pipeline {
            // Read and validated; an error names the file and the problem.
            var loaded = try Pipeline.load(from: URL(fileURLWithPath: pipeline))
            loaded.seed = seed
            return loaded
        }
        var steps: [Pipeline.Step] = []
        if flip == .horizontal || flip == .both { steps.append(.init(.flipHorizontal, probability: 0.5)) }
        if flip == .vertical || flip == .both { steps.append(.init(.flipVertical, probability: 0.5)) }
        if rotate90 { steps.append(.init(.rotate90)) }
        if let rotate {
            let bounds = rotate.split(separator: ":", omittingEmptySubsequences: false).compactMap { Double($0) }
            guard bounds.count == 2, bounds[0] <= bounds[1] else { throw ValidationError("--rotate takes LOW:HIGH degrees, e.g. -15:15") }
            guard let interpolation = Interpolation(rawValue: interpolation) else { throw ValidationError("--interpolation: nearest or bilinear") }
            guard let fill = Transform.FillMode(rawValue: fill) else { throw ValidationError("--fill: black, white, edge, reflect or wrap") }
            steps.append(.init(.rotate(degrees: bounds[0]...bounds[1], interpolation: interpolation, fill: fill, expand: false)))
        }
        if let crop {
            let (w, h) = try size(crop, "--crop")
            steps.append(.init(.randomCrop(width: w, height: h, padding: cropPadding)))
        }
        if let resizedCrop {
            let (w, h) = try size(resizedCrop, "--resized-crop")
            steps.append(.init(.randomResizedCrop(width: w, height: h, scale: 0.08...1, ratio: 0.75...(4.0 / 3))))
        }
        if let resize {
            let (w, h) = try size(resize, "--resize")
            steps.append(.init(.resize(width: w, height: h)))
        }
        let described = Pipeline(seed: seed, steps: steps)
        try described.validate()
        return described
    }

    func run() throws {
        let pipeline = try describedPipeline()
        if let savePipeline {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(pipeline), to: URL(fileURLWithPath: savePipeline))
        }
        guard let compression = PNG.Compression(rawValue: compression) else { throw ValidationError("--compression: fast, default or best") }
        guard let fileFormat = ImageFile.Format(rawValue: format) else { throw ValidationError("--format: png or jpeg") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1...100, got \(quality)") }
        var job = FolderAugmentation(input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output),
                                     copies: copies, pipeline: pipeline)
        (job.overwrite, job.compression, job.jobs, job.pixelLimit) = (overwrite, compression, jobs, pixelLimit)
        (job.format, job.quality) = (fileFormat, quality)
        let showProgress = !quiet && isatty(STDERR_FILENO) != 0
        let report = try job.run { done, total in
            if showProgress && (done == total || done % 10 == 0) { noteInPlace("\r\(done)/\(total) images\u{1B}[K" + (done == total ? "\n" : "")) }
        }
        // Each reason reads "path: problem" (an unreadable source, an output or the manifest that
        // could not be written).
        for failure in report.failures { note("failed: \(failure.reason)") }
        if let preview { try writePreview(pipeline: pipeline, format: fileFormat, to: preview) }
        print(report.summary)
        if !report.failures.isEmpty { throw ExitCode.failure }
    }

    /// The first eight images (in path order) beside their copies as the run wrote them.
    func writePreview(pipeline: Pipeline, format: ImageFile.Format, to path: String) throws {
        let inputURL = URL(fileURLWithPath: input), outputURL = URL(fileURLWithPath: output)
        let files = (FileManager.default.enumerator(atPath: inputURL.path)?.allObjects as? [String] ?? [])
            .filter { ImageFile.isImage($0) }.sorted()
        var rows: [[Image]] = []
        for relative in files {
            guard rows.count < 8, let original = try? ImageFile.read(inputURL.appendingPathComponent(relative)) else { continue }
            let stem = (relative as NSString).deletingPathExtension
            let copies = (0..<copies).compactMap {
                try? ImageFile.read(outputURL.appendingPathComponent("\(stem)_aug\($0).\(format.fileExtension)"))
            }
            rows.append([original] + copies)
        }
        try PNG.write(try contactSheet(rows), to: URL(fileURLWithPath: path))
    }
}

Augment.main()
