import Dense
import Foundation

/// An image folder as a training source: files are decoded when a batch needs them, on loader
/// threads that work ahead of the trainer, a bounded number of batches at a time.
///
/// Each sample goes: PNG file (every colour type and depth) or JPEG file -> the augmentation
/// `pipeline`, in training only -> the format's size (`ImageFormat.fit`) -> the format's channels
/// -> C x H x W floats in [0, 1]. The target is the class index. Where no augmentation applies
/// (no pipeline, or not training), a JPEG at least twice the format's size on both sides is
/// decoded at a reduced scale in the DCT domain (`JPEG`, `fitting`) before the exact resize;
/// augmentation always sees the stored size, so its steps mean what they say in pixels.
///
/// Reproducible: a sample's augmentation is drawn from a generator seeded by (the pipeline's
/// seed, the file's relative path, the epoch), as `augment` seeds copy k of a file, and each
/// batch is filled in its order by one thread, so the batches are the same, byte for byte,
/// whatever the number of loader threads. A file that cannot be read is reported once (through
/// `report`) and left out of its batch, which is then one sample shorter; later epochs skip it
/// without reading it again.
///
/// `cacheBytes` keeps decoded images in memory, up to that many bytes of pixels, so that data
/// sets that fit are decoded once; images are cached as decoded (before augmentation; a JPEG
/// decoded at a reduced scale is cached apart from its full-size decoding).
public final class ImageFolderSource: DataSource, @unchecked Sendable {
    /// The files and their classes.
    public let folder: ImageFolder
    /// What every image becomes: size, channels, fit, alpha.
    public let format: ImageFormat
    /// Positions in `folder.entries` of this source's samples.
    public let selection: [Int]
    /// The augmentation applied to training batches (never to evaluation), before the format.
    public let pipeline: Pipeline?
    /// Threads that decode ahead (0: decode on the trainer's thread, when a batch is asked for).
    public let loaderThreads: Int
    /// Batches decoded ahead at most.
    public let prefetch: Int
    /// Called once for every file that cannot be read, with "path: problem".
    public let report: @Sendable (String) -> Void
    let shared: Shared

    /// What the sources made from one folder share: the cache and the files found unreadable.
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        let budget: Int
        var used = 0
        var images: [CacheKey: Image] = [:]
        var unreadable: Set<Int> = []

        init(budget: Int) { self.budget = budget }
    }

    /// A cached decoding: the entry's position, and whether it was decoded to fit the format.
    struct CacheKey: Hashable {
        let position: Int
        let fitted: Bool
    }

    /// A source over every image of `folder`; throws a `SynapseError` naming the setting for
    /// `loaderThreads` outside 0-256, `prefetch` outside 1-1024 or a negative `cacheBytes`.
    public convenience init(folder: ImageFolder, format: ImageFormat, pipeline: Pipeline? = nil, loaderThreads: Int = 2,
                prefetch: Int = 4, cacheBytes: Int = 0, report: @escaping @Sendable (String) -> Void = { _ in }) throws {
        guard loaderThreads >= 0, loaderThreads <= 256 else {
            throw SynapseError.invalidArgument("loader threads must be 0...256, got \(loaderThreads)")
        }
        guard prefetch >= 1, prefetch <= 1024 else {
            throw SynapseError.invalidArgument("prefetch must be 1...1024 batches, got \(prefetch)")
        }
        guard cacheBytes >= 0 else { throw SynapseError.invalidArgument("cache size must not be negative") }
        self.init(folder: folder, format: format, selection: Array(folder.entries.indices), pipeline: pipeline,
                  loaderThreads: loaderThreads, prefetch: prefetch, report: report, shared: Shared(budget: cacheBytes))
    }

    init(folder: ImageFolder, format: ImageFormat, selection: [Int], pipeline: Pipeline?, loaderThreads: Int,
         prefetch: Int, report: @escaping @Sendable (String) -> Void, shared: Shared) {
        (self.folder, self.format, self.selection, self.pipeline) = (folder, format, selection, pipeline)
        (self.loaderThreads, self.prefetch, self.report, self.shared) = (loaderThreads, prefetch, report, shared)
    }

    /// The number of samples: the selected image files.
    public var count: Int { selection.count }
    /// The format's sample shape: (channels, height, width).
    public var sampleShape: [Int] { format.sampleShape }
    /// Empty: each target is one class index.
    public var targetShape: [Int] { [] }
    /// The class names, in label order (the folder's classes, whatever the selection).
    public var classes: [String] { folder.classes }

    /// The class index of each sample, in order.
    public var labels: [Int] { selection.map { folder.entries[$0].label } }

    /// A source of the samples at `indices` (positions in this source), sharing the folder, format,
    /// pipeline and loaders: a training/validation split.
    public func selecting(_ indices: [Int]) -> any DataSource {
        ImageFolderSource(folder: folder, format: format, selection: indices.map { selection[$0] }, pipeline: pipeline,
                          loaderThreads: loaderThreads, prefetch: prefetch, report: report, shared: shared)
    }

    /// The same samples without augmentation (for validation).
    public func withoutAugmentation() -> ImageFolderSource {
        ImageFolderSource(folder: folder, format: format, selection: selection, pipeline: nil,
                          loaderThreads: loaderThreads, prefetch: prefetch, report: report, shared: shared)
    }

    /// The batches of one epoch in `order`, decoded (and, in training, augmented) on the loader
    /// threads with bounded prefetch; a file that cannot be read is reported once and its sample left
    /// out.
    public func batches(order: [Int], batchSize: Int, epoch: Int, training: Bool) -> any BatchStream {
        FolderBatches(source: self, order: order, batchSize: max(1, batchSize), epoch: epoch, training: training)
    }

    /// Sample `index` (a position in this source) as floats at `output`; false if its file
    /// cannot be read (reported once).
    func load(_ index: Int, epoch: Int, training: Bool, into output: UnsafeMutablePointer<Float>) -> Bool {
        let position = selection[index]
        let entry = folder.entries[position]
        do {
            let augmented = training && pipeline != nil
            var image = try decoded(position, fitted: !augmented)
            if training, let pipeline {
                image = try pipeline.apply(image, random: pipeline.random(for: entry.path, copy: epoch)).0
            }
            format.write(try format.sized(image), to: output)
            return true
        } catch {
            shared.lock.lock()
            let first = shared.unreadable.insert(position).inserted
            shared.lock.unlock()
            if first { report(error is SynapseError ? "\(error)" : "\(folder.url(of: entry).path): \(error)") }
            return false
        }
    }

    /// The decoded image of entry `position`, from the cache or the file; `fitted`: it only needs
    /// to cover the format's size (a large JPEG is decoded at a reduced scale).
    private func decoded(_ position: Int, fitted: Bool) throws -> Image {
        let url = folder.url(of: folder.entries[position])
        // Only a JPEG decodes differently when fitted: a PNG keeps one cache entry.
        let isJPEG = ["jpg", "jpeg"].contains(url.pathExtension.lowercased())
        let key = CacheKey(position: position, fitted: fitted && isJPEG)
        shared.lock.lock()
        if let image = shared.images[key] { shared.lock.unlock(); return image }
        let known = shared.unreadable.contains(position)
        shared.lock.unlock()
        if known { throw SynapseError.file(path: url.path, problem: "unreadable") }
        let image = try ImageFile.read(url, fitting: fitted ? (format.width, format.height) : nil)
        shared.lock.lock()
        if shared.used + image.bytes.count <= shared.budget {
            shared.images[key] = image
            shared.used += image.bytes.count
        }
        shared.lock.unlock()
        return image
    }

    /// Reads the whole selection once, without augmentation, into memory tensors: for small
    /// folders and for tests.
    public func loadAll() throws -> Dataset {
        let inputs = Tensor(shape: [count] + sampleShape)
        let targets = Tensor(shape: [count])
        let stream = batches(order: Array(0..<count), batchSize: 256, epoch: 0, training: false)
        var filled = 0
        let chunk = Tensor(shape: [256] + sampleShape), labels = Tensor(shape: [256])
        while let rows = try stream.next(inputs: chunk, targets: labels) {
            (inputs.data + filled * inputs.sampleCount).update(from: chunk.data, count: rows * inputs.sampleCount)
            (targets.data + filled).update(from: labels.data, count: rows)
            filled += rows
        }
        return try Dataset(inputs: Tensor.reusing(inputs, shape: [filled] + sampleShape),
                           targets: Tensor.reusing(targets, shape: [filled]))
    }
}

/// One pass over an image folder source in a fixed order: loader threads fill batches ahead
/// into a ring of `prefetch` slots; `next` hands them out in order.
final class FolderBatches: BatchStream {
    /// What the loader threads and the consumer share, under one condition lock.
    final class State: @unchecked Sendable {
        let condition = NSCondition()
        let source: ImageFolderSource
        let order: [Int]
        let batchSize: Int
        let epoch: Int
        let training: Bool
        let batchCount: Int
        /// Per slot: the batch's floats and labels, its row count, and which batch it holds.
        var inputs: [[Float]]
        var labels: [[Float]]
        var rows: [Int]
        var holds: [Int]
        var nextToLoad = 0
        var consumed = 0
        var cancelled = false

        init(source: ImageFolderSource, order: [Int], batchSize: Int, epoch: Int, training: Bool) {
            (self.source, self.order, self.batchSize, self.epoch, self.training) = (source, order, batchSize, epoch, training)
            batchCount = (order.count + batchSize - 1) / batchSize
            let slots = min(source.prefetch, max(batchCount, 1))
            let size = batchSize * source.format.sampleShape.reduce(1, *)
            inputs = Array(repeating: [Float](repeating: 0, count: size), count: slots)
            labels = Array(repeating: [Float](repeating: 0, count: batchSize), count: slots)
            rows = Array(repeating: 0, count: slots)
            holds = Array(repeating: -1, count: slots)
        }

        var slots: Int { holds.count }

        /// Loads batch `b` into its slot's arrays (taken out of the shared state while loading).
        func load(_ b: Int, into floats: inout [Float], labels batchLabels: inout [Float]) -> Int {
            let sampleSize = source.format.sampleShape.reduce(1, *)
            var filled = 0
            floats.withUnsafeMutableBufferPointer { out in
                for index in order[(b * batchSize)..<min((b + 1) * batchSize, order.count)] {
                    if source.load(index, epoch: epoch, training: training, into: out.baseAddress! + filled * sampleSize) {
                        batchLabels[filled] = Float(source.folder.entries[source.selection[index]].label)
                        filled += 1
                    }
                }
            }
            return filled
        }

        /// A loader thread's loop: take the next batch whose slot is free, fill it, publish it.
        func work() {
            condition.lock()
            while true {
                while !cancelled && nextToLoad < batchCount && nextToLoad >= consumed + slots { condition.wait() }
                guard !cancelled && nextToLoad < batchCount else { break }
                let b = nextToLoad
                nextToLoad += 1
                let slot = b % slots
                var (floats, batchLabels) = (inputs[slot], labels[slot])
                (inputs[slot], labels[slot]) = ([], [])
                condition.unlock()
                let filled = load(b, into: &floats, labels: &batchLabels)
                condition.lock()
                (inputs[slot], labels[slot], rows[slot], holds[slot]) = (floats, batchLabels, filled, b)
                condition.broadcast()
            }
            condition.unlock()
        }
    }

    let state: State

    init(source: ImageFolderSource, order: [Int], batchSize: Int, epoch: Int, training: Bool) {
        state = State(source: source, order: order, batchSize: batchSize, epoch: epoch, training: training)
        for k in 0..<source.loaderThreads {
            let thread = Thread { [state] in state.work() }
            thread.name = "synapse-loader-\(k)"
            thread.start()
        }
    }

    deinit {
        state.condition.lock()
        state.cancelled = true
        state.condition.broadcast()
        state.condition.unlock()
    }

    func next(inputs: Tensor, targets: Tensor) throws -> Int? {
        let s = state
        while true {
            s.condition.lock()
            guard s.consumed < s.batchCount else { s.condition.unlock(); return nil }
            let b = s.consumed
            let slot = b % s.slots
            var filled: Int
            if s.source.loaderThreads == 0 {
                var (floats, labels) = (s.inputs[slot], s.labels[slot])
                s.condition.unlock()
                filled = s.load(b, into: &floats, labels: &labels)
                s.condition.lock()
                (s.inputs[slot], s.labels[slot], s.rows[slot], s.holds[slot]) = (floats, labels, filled, b)
            }
            while s.holds[slot] != b { s.condition.wait() }
            filled = s.rows[slot]
            let size = filled * s.source.format.sampleShape.reduce(1, *)
            s.inputs[slot].withUnsafeBufferPointer { inputs.data.update(from: $0.baseAddress!, count: size) }
            s.labels[slot].withUnsafeBufferPointer { targets.data.update(from: $0.baseAddress!, count: filled) }
            s.consumed += 1
            s.condition.broadcast()
            s.condition.unlock()
            if filled > 0 { return filled }
        }
    }
}
