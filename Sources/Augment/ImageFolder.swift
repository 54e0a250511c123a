import Dense
import Foundation

/// A labelled image collection laid out as `root/<class>/**/*.png` (or `.jpg`, `.jpeg`), the way
/// torchvision's `ImageFolder` and Keras's `image_dataset_from_directory` read one.
///
/// Classes are the subfolders of `root`, sorted by name (class k is the k-th name); every PNG or
/// JPEG file (by extension, any case: `ImageFile.isImage`) under a class folder, at any depth, is
/// a sample of that class. Files are listed in sorted
/// order of their relative paths, so the sample numbering does not depend on the file system.
/// Hidden files and folders are skipped; symbolic links are followed (a link back to a folder
/// already being listed is skipped, so a loop ends). What does not fit is counted and named, never
/// fatal: files that are not PNG or JPEG, files directly under `root`. A class folder without an
/// image is an error when the classes come from the folder (training on a class with no example
/// would quietly never predict it), unless `allowEmptyClasses`.
public struct ImageFolder: Sendable {
    /// One image file and its class.
    public struct Entry: Sendable, Equatable {
        /// The path relative to the root (`cat/0001.png`).
        public let path: String
        /// The class index: the position of its class folder in `classes`.
        public let label: Int
    }

    /// The folder whose subfolders are the classes.
    public let root: URL
    /// The class names (the class folders' names), sorted: class k is `classes[k]`.
    public let classes: [String]
    /// Every image file, in sorted order of relative path: sample i is `entries[i]`.
    public let entries: [Entry]
    /// Class folders that hold no image file (they keep their class index).
    public let emptyClasses: [String]
    /// Relative paths of files that are not PNG or JPEG (by extension), or that lie outside a class folder.
    public let skipped: [String]

    /// Lists the folder.
    ///
    /// - Parameters:
    ///   - root: The folder holding one subfolder per class.
    ///   - classes: the class names to use, in order (a saved model's, when a validation
    ///     or test folder must number its classes as the training folder did). A class folder not
    ///     in the list is an error; a listed class without a folder or without images is an
    ///     empty class (a test folder may lack a class).
    ///   - allowEmptyClasses: without `classes`, keep a class folder that holds no image as a
    ///     class (it is an error otherwise).
    public init(root: URL, classes: [String]? = nil, allowEmptyClasses: Bool = false) throws {
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
            if found.contains(name) {
                Self.walk(folder, relative: name, visited: [folder.resolvingSymlinksInPath().path]) { relative, isImage in
                    if isImage { files.append(relative) } else { skipped.append(relative) }
                }
            }
            if files.isEmpty { empty.append(name) }
            entries += files.sorted().map { Entry(path: $0, label: label) }
        }
        guard !entries.isEmpty else {
            let loose = skipped.filter { !$0.contains("/") && ImageFile.isImage($0) }
            if !loose.isEmpty {
                throw SynapseError.file(path: root.path, problem:
                    "\(loose.count) image file(s) lie directly in this folder and none in a class subfolder: an image folder holds one subfolder per class (this looks like one class's folder; pass the folder above it)")
            }
            throw SynapseError.file(path: root.path, problem: "no PNG or JPEG files in any class folder")
        }
        if classes == nil && !allowEmptyClasses && !empty.isEmpty {
            throw SynapseError.file(path: root.path, problem:
                "class folder(s) \(empty.joined(separator: ", ")) hold no PNG or JPEG file: a class without examples is never learned; remove the folder(s), or allow empty classes (classify: --allow-empty-classes)")
        }
        self.root = root
        self.classes = names
        self.entries = entries
        self.emptyClasses = empty
        self.skipped = skipped.sorted()
    }

    /// The file of `entry`: its relative path under `root`.
    public func url(of entry: Entry) -> URL { root.appendingPathComponent(entry.path) }

    /// Calls `found` with the path (relative to the root) of every file under `folder`, at any
    /// depth, and whether it is an image; hidden entries skipped, symbolic links followed, a
    /// folder whose real path is already in `visited` (a link loop) not entered again.
    private static func walk(_ folder: URL, relative: String, visited: Set<String>, _ found: (String, Bool) -> Void) {
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where !name.hasPrefix(".") {
            let url = folder.appendingPathComponent(name)
            let path = relative + "/" + name
            var isFolder: ObjCBool = false
            // fileExists follows links: a dangling link is neither, and is reported as skipped.
            guard manager.fileExists(atPath: url.path, isDirectory: &isFolder) else { found(path, false); continue }
            if isFolder.boolValue {
                let real = url.resolvingSymlinksInPath().path
                guard !visited.contains(real) else { continue }
                walk(url, relative: path, visited: visited.union([real]), found)
            } else {
                found(path, ImageFile.isImage(name))
            }
        }
    }

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
