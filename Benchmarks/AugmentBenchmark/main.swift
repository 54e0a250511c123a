// The augmentation pipeline's speed, in release mode, on a folder of PNG images repeated to a
// fixed count: load -> horizontal flip -> rotate 15 degrees bilinear -> random crop of 80 % of
// each side -> save, end to end with 1 and 2 jobs, time per stage, and transform-only images/s,
// as three calls and as a Pipeline (which folds the three into one pass).
// Scripts/bench/augment_vs_pillow.py runs this and the same work in Pillow, and prints the ratios.
//
// With --loader, instead: the streamed image-folder loader (ImageFolderSource, no cache, no
// augmentation) on a class folder of PNG or JPEG files fitted to --size, three passes, images/s
// each and their median, and the peak resident memory. Scripts/bench/loader_vs_torchvision.py
// runs it beside torchvision's ImageFolder + DataLoader.
import ArgumentParser
import Augment
import Dense
import Foundation

struct AugmentBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-benchmark", abstract: "PNG augmentation speed: end to end and per stage.")

    @Argument(help: "Folder of PNG images.") var images: String
    @Option(help: "Images processed (the folder's files repeated).") var count = 200
    @Option(help: "PNG compression: fast, default or best.") var compression = "default"
    @Flag(help: "Tab-separated lines (name, value) for scripts.") var tsv = false
    @Flag(help: "Time the streamed folder loader on a class folder (IMAGES/<class>/...) instead.") var loader = false
    @Option(help: "With --loader: the size images are fitted to, WxH.") var size = "64x64"
    @Option(help: "With --loader: loader threads.") var loaderThreads = 2
    @Option(help: "With --loader: batch size.") var batchSize = 64
    @Flag(help: "With --loader: decode every JPEG at its stored size (an empty augmentation pipeline, as in training).") var storedSize = false

    func emit(_ name: String, _ value: Double) {
        print(tsv ? "\(name)\t\(value)" : name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%12.3f", value))
    }

    func run() throws {
        if loader { return try runLoader() }
        guard let compression = PNG.Compression(rawValue: compression) else { throw ValidationError("--compression: fast, default or best") }
        let folder = URL(fileURLWithPath: images)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }.sorted()
        guard !names.isEmpty else { throw ValidationError("no PNG files in \(images)") }
        let files = (0..<count).map { folder.appendingPathComponent(names[$0 % names.count]) }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("augment-benchmark-\(getpid())")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }

        @Sendable func transform(_ image: Image, _ random: RandomGenerator) throws -> Image {
            let rotated = image.flippedHorizontally().rotated(degrees: 15)
            let (w, h) = (Int(Double(rotated.width) * 0.8), Int(Double(rotated.height) * 0.8))
            return try rotated.cropped(x: random.below(rotated.width - w + 1), y: random.below(rotated.height - h + 1), width: w, height: h)
        }

        // Stages, one job.
        var times = [String: Double]()
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { times[stage, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            return try body()
        }
        let random = RandomGenerator(seed: 1)
        var decoded: [Image] = []
        var bytes = 0
        for (i, file) in files.enumerated() {
            let image = try timed("decode") { try PNG.read(file) }
            if decoded.count < names.count { decoded.append(image) }
            let flipped = timed("flip") { image.flippedHorizontally() }
            let rotated = timed("rotate") { flipped.rotated(degrees: 15) }
            let (w, h) = (Int(Double(rotated.width) * 0.8), Int(Double(rotated.height) * 0.8))
            let cropped = try timed("crop") {
                try rotated.cropped(x: random.below(rotated.width - w + 1), y: random.below(rotated.height - h + 1), width: w, height: h)
            }
            let data = try timed("encode") { try PNG.encode(cropped, compression: compression) }
            try timed("write") { try AtomicFile.write(data, to: out.appendingPathComponent("\(i).png")) }
            bytes += data.count
        }
        let total = times.values.reduce(0, +)
        emit("end_to_end_images_per_s_1_job", Double(count) / total)
        emit("output_bytes", Double(bytes))
        for stage in ["decode", "flip", "rotate", "crop", "encode", "write"] { emit("seconds_\(stage)", times[stage] ?? 0) }

        // Transform only, on decoded images.
        let start = DispatchTime.now().uptimeNanoseconds
        for i in 0..<count { _ = try transform(decoded[i % decoded.count], random) }
        emit("transform_only_images_per_s", Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))

        // The same three steps as a Pipeline, which folds them into one resampling of the box.
        let pipelines = decoded.map { image in
            Pipeline(seed: 1, steps: [
                .init(.flipHorizontal),
                .init(.rotate(degrees: 15...15, interpolation: .bilinear, fill: .black, expand: false)),
                .init(.randomCrop(width: Int(Double(image.width) * 0.8), height: Int(Double(image.height) * 0.8), padding: 0)),
            ])
        }
        let foldedStart = DispatchTime.now().uptimeNanoseconds
        for i in 0..<count { _ = try pipelines[i % decoded.count].apply(decoded[i % decoded.count], random: random) }
        emit("transform_only_fused_images_per_s", Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - foldedStart) / 1e9))

        // End to end with two jobs.
        let twoStart = DispatchTime.now().uptimeNanoseconds
        final class Box: @unchecked Sendable { var error: Error?; let lock = NSLock() }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 2) { job in
            let random = RandomGenerator(seed: UInt64(job + 2))
            do {
                for i in stride(from: job, to: files.count, by: 2) {
                    let image = try transform(try PNG.read(files[i]), random)
                    try PNG.write(image, to: out.appendingPathComponent("two-\(i).png"), compression: compression)
                }
            } catch {
                box.lock.lock(); box.error = error; box.lock.unlock()
            }
        }
        if let error = box.error { throw error }
        emit("end_to_end_images_per_s_2_jobs", Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - twoStart) / 1e9))
    }
}

extension AugmentBenchmark {
    func runLoader() throws {
        let sides = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard sides.count == 2 else { throw ValidationError("--size takes WxH") }
        let folder = try ImageFolder(root: URL(fileURLWithPath: images))
        let format = try ImageFormat(width: sides[0], height: sides[1], channels: 3)
        // A pipeline applies in training only, and then the image is decoded at its stored size.
        let source = try ImageFolderSource(folder: folder, format: format, pipeline: storedSize ? Pipeline(seed: 1, steps: []) : nil,
                                           loaderThreads: loaderThreads, cacheBytes: 0, report: { print("unreadable: \($0)") })
        let inputs = Tensor(shape: [batchSize] + format.sampleShape), targets = Tensor(shape: [batchSize])
        var rates: [Double] = []
        for pass in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let stream = source.batches(order: Array(0..<source.count), batchSize: batchSize, epoch: pass, training: storedSize)
            var count = 0
            while let rows = try stream.next(inputs: inputs, targets: targets) { count += rows }
            rates.append(Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            emit("loader_images_per_s_pass_\(pass + 1)", rates.last!)
        }
        emit("loader_images_per_s_median", rates.sorted()[1])
        emit("loader_images", Double(source.count))
        // Peak resident memory (VmHWM), in MB.
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        emit("peak_resident_mb", peak / 1024)
    }
}

AugmentBenchmark.main()
