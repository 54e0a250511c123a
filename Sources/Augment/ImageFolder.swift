import Dense
import Foundation

/// A labelled image collection laid out as `root/<class>/**/*.png` (or `.jpg`, `.jpeg`), the way
/// torchvision's `ImageFolder` and Keras's `image_dataset_from_directory` read one.
///
/// Classes are the subfolders of `root`, sorted by name (class k is the k-th name); every PNG or
/// JPEG file (by extension, any case: `ImageFile.isImage`) under a class folder, at any depth, is
/// a sample of that class. Files are listed in sorted
/// order of their relative paths, so the sample numbering does not depend on the file system.
/// Hidden files and folders are skipped. What does not fit is counted and named, never fatal:
/// files that are not PNG or JPEG, files directly under `root`, class folders without an image.
public struct ImageFolder: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The path relative to the root (`cat/0001.png`).
        public let path: String
        public let label: Int
    }

    public let root: URL
    public let classes: [String]
    public let entries: [Entry]
    /// Class folders that hold no image file (they keep their class index).
    public let emptyClasses: [String]
    /// Relative paths of files that are not PNG or JPEG (by extension), or that lie outside a class folder.
    public let skipped: [String]

    /// Lists the folder.
    ///
    /// - Parameter classes: the class names to use, in order (a saved model's, when a validation
    ///   or test folder must number its classes as the training folder did). A class folder not
    ///   in the list is an error; a listed class without a folder is an empty class.
    public init(root: URL, classes: [String]? = nil) throws {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw SynapseError.file(path: root.path, problem: "not a folder (an image folder holds one subfolder per class)")
        }
        let top: [String]
        do {
            top = try manager.contentsOfDirectory(atPath: root.path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw SynapseError.file(path: root.path, problem: "cannot list the folder: \(error.localizedDescription)")
        }
        var skipped: [String] = []
        var found: [String] = []
        for name in top {
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory), isDirectory.boolValue {
                found.append(name)
            } else {
                skipped.append(name)
            }
        }
        let names = classes ?? found
        if let classes {
            let unknown = found.filter { !classes.contains($0) }
            guard unknown.isEmpty else {
                throw SynapseError.file(path: root.path, problem:
                    "class folder(s) \(unknown.joined(separator: ", ")) are not among the model's classes: \(classes.joined(separator: ", "))")
            }
        }
        guard !names.isEmpty else {
            throw SynapseError.file(path: root.path, problem: "no class folders: an image folder holds one subfolder per class")
        }
        var entries: [Entry] = []
        var empty: [String] = []
        for (label, name) in names.enumerated() {
            let folder = root.appendingPathComponent(name, isDirectory: true)
            var files: [String] = []
            if found.contains(name), let walker = manager.enumerator(
                at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) {
                for case let url as URL in walker {
                    guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
                    let relative = name + "/" + url.path.dropFirst(folder.path.count + 1)
                    if ImageFile.isImage(url.path) { files.append(relative) } else { skipped.append(relative) }
                }
            }
            if files.isEmpty { empty.append(name) }
            entries += files.sorted().map { Entry(path: $0, label: label) }
        }
        guard !entries.isEmpty else {
            throw SynapseError.file(path: root.path, problem: "no PNG or JPEG files in any class folder")
        }
        self.root = root
        self.classes = names
        self.entries = entries
        self.emptyClasses = empty
        self.skipped = skipped.sorted()
    }

    public func url(of entry: Entry) -> URL { root.appendingPathComponent(entry.path) }

    /// One line per class with its count, then what was skipped.
    public var summary: String {
        var counts = [Int](repeating: 0, count: classes.count)
        for entry in entries { counts[entry.label] += 1 }
        var lines = ["\(root.path): \(entries.count) images in \(classes.count) classes"]
        lines += zip(classes, counts).map { "  \($0): \($1)" + ($1 == 0 ? " (empty class folder)" : "") }
        if !skipped.isEmpty {
            lines.append("  skipped \(skipped.count) file(s) that are not PNG or JPEG or lie outside a class folder, e.g. \(skipped.prefix(3).joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}

/// How an image file becomes one input sample: its size, channels and what to do with alpha.
public struct ImageFormat: Codable, Equatable, Sendable {
    /// How an image of another size is brought to `width` x `height`.
    public enum Fit: String, Codable, Sendable, CaseIterable {
        /// Bilinear resize to the size, whatever the aspect ratio.
        case resize
        /// The largest centred box of the target's aspect ratio, then resized.
        case centerCrop = "center-crop"
    }

    /// What becomes of an alpha channel.
    public enum Alpha: String, Codable, Sendable, CaseIterable {
        /// Dropped: the colour as stored.
        case drop
        /// Composited over black (colour x alpha).
        case black
        /// Composited over white.
        case white
    }

    public var width: Int
    public var height: Int
    /// 1 (gray: colour images become luminance) or 3 (RGB: gray images are repeated).
    public var channels: Int
    public var fit: Fit
    public var alpha: Alpha

    public init(width: Int, height: Int, channels: Int, fit: Fit = .resize, alpha: Alpha = .drop) throws {
        guard width >= 1, height >= 1, width <= 16_384, height <= 16_384 else {
            throw SynapseError.invalidArgument("image size must be 1...16384 on each side, got \(width)x\(height)")
        }
        guard channels == 1 || channels == 3 else {
            throw SynapseError.invalidArgument("channels must be 1 (gray) or 3 (RGB), got \(channels)")
        }
        (self.width, self.height, self.channels, self.fit, self.alpha) = (width, height, channels, fit, alpha)
    }

    /// The shape of one sample: C x H x W.
    public var sampleShape: [Int] { [channels, height, width] }

    /// `image` at this format's size (`fit`), any channels and depth kept.
    public func sized(_ image: Image) throws -> Image {
        guard image.width != width || image.height != height else { return image }
        switch fit {
        case .resize:
            return try image.resized(width: width, height: height)
        case .centerCrop:
            // The largest box of ratio width:height, in whole pixels, centred.
            var (w, h) = (image.width, image.width * height / width)
            if h > image.height { (w, h) = (image.height * width / height, image.height) }
            let box = try image.cropped(x: (image.width - max(w, 1)) / 2, y: (image.height - max(h, 1)) / 2,
                                        width: max(w, 1), height: max(h, 1))
            return try box.resized(width: width, height: height)
        }
    }

    /// Writes `image` (already at this format's size) as C x H x W floats in [0, 1] to `output`.
    ///
    /// Gray to RGB repeats the gray; RGB to gray is the luminance of ITU-R 601-2
    /// (0.299 R + 0.587 G + 0.114 B, as Pillow's `convert("L")`); 16-bit samples are scaled by
    /// 1/65535, 8-bit ones by 1/255.
    public func write(_ image: Image, to output: UnsafeMutablePointer<Float>) {
        precondition(image.width == width && image.height == height, "image not at the format's size")
        let plane = width * height
        let source = image.channels
        let colour = source >= 3
        let hasAlpha = source == 2 || source == 4
        let scale: Float = image.bitDepth == 8 ? 1 / 255 : 1 / 65535
        let background: Float = alpha == .white ? 1 : 0
        let composite = hasAlpha && alpha != .drop
        image.bytes.withUnsafeBytes { raw in
            func sample(_ index: Int) -> Float {
                image.bitDepth == 8 ? Float(raw[index])
                    : Float(raw.loadUnaligned(fromByteOffset: 2 &* index, as: UInt16.self))
            }
            for p in 0..<plane {
                let base = p &* source
                var (r, g, b) = colour
                    ? (sample(base) * scale, sample(base &+ 1) * scale, sample(base &+ 2) * scale)
                    : (sample(base) * scale, sample(base) * scale, sample(base) * scale)
                if composite {
                    let a = sample(base &+ source &- 1) * scale
                    r = r * a + background * (1 - a)
                    g = g * a + background * (1 - a)
                    b = b * a + background * (1 - a)
                }
                if channels == 1 {
                    output[p] = colour ? 0.299 * r + 0.587 * g + 0.114 * b : r
                } else {
                    output[p] = r
                    output[plane &+ p] = g
                    output[2 &* plane &+ p] = b
                }
            }
        }
    }
}
