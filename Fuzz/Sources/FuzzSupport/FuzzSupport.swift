import Foundation
import Synapse

/// Helpers shared by the harnesses: the input as `Data`, a per-process scratch folder for readers
/// that only take a URL, a gzip wrapper, and seed writing.
public enum Fuzz {
    /// The fuzzer's input as `Data` (copied: the reader may keep it).
    public static func data(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> Data {
        Data(bytes: bytes, count: size)
    }

    /// A folder of this process's own, removed at exit.
    public static let scratch: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("synapse-fuzz-\(getpid())", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Fuzz.scratch) }
        return url
    }()

    /// Writes `data` to `name` in the scratch folder (replacing it) and returns its URL.
    public static func file(_ name: String, _ data: Data) -> URL {
        let url = scratch.appendingPathComponent(name)
        do { try data.write(to: url) } catch { fatalError("fuzz harness: cannot write \(url.path): \(error)") }
        return url
    }

    /// A harness-side check on what a reader returned: a reader that accepts a file must return
    /// something consistent; a violation is a bug, reported as a crash.
    public static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("fuzz invariant violated: \(message())") }
    }

    /// `data` as a gzip file whose deflate stream is stored blocks (no compression), with a correct
    /// CRC: lets the fuzzer mutate the contents of a gzip'd format (an IDX file, a tar archive)
    /// directly instead of the compressed bits.
    public static func gzipStored(_ data: Data) -> Data {
        var out = Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])
        let bytes = [UInt8](data)
        var start = 0
        repeat {
            let length = min(65_535, bytes.count - start)
            let final: UInt8 = start + length == bytes.count ? 1 : 0
            out.append(final)
            out.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8),
                                    UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)])
            out.append(contentsOf: bytes[start..<(start + length)])
            start += length
        } while start < bytes.count
        let crc = crc32(bytes)
        let size = UInt32(truncatingIfNeeded: bytes.count)
        for value in [crc, size] {
            out.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
        }
        return out
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crcTable[Int(($0 ^ UInt32($1)) & 0xff)] ^ ($0 >> 8) }
    }

    /// When SYNAPSE_FUZZ_SEEDS names a folder, writes the harness's project-made seeds there and
    /// exits: how the committed seeds under Fuzz/Corpus were made. Call from LLVMFuzzerInitialize.
    public static func writeSeedsIfAsked(_ make: (URL) throws -> Void) {
        guard let folder = ProcessInfo.processInfo.environment["SYNAPSE_FUZZ_SEEDS"] else { return }
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try make(url)
        } catch {
            fatalError("cannot write seeds to \(folder): \(error)")
        }
        exit(0)
    }
}

extension Fuzz {
    /// The safetensors files an input stands for: the input itself, and, when it starts with `{`
    /// and holds a NUL byte, the file whose JSON header is the text before the first NUL and whose
    /// payload is the rest, with the 8-byte header length put in front. The second form lets the
    /// fuzzer grow or shrink the header (a metadata value, a shape) without breaking the length.
    public static func safetensorsFiles(_ data: Data) -> [Data] {
        guard data.first == UInt8(ascii: "{"), let nul = data.firstIndex(of: 0) else { return [data] }
        let header = data[data.startIndex..<nul]
        var file = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * $0)) })
        file.append(header)
        file.append(data[(nul + 1)...])
        return [data, file]
    }

    /// A safetensors file in the split form `safetensorsFiles` reads: header, NUL, payload.
    public static func splitForm(_ file: Data) -> Data {
        let length = file.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return file[8..<(8 + length)] + Data([0]) + file[(8 + length)...]
    }

    /// Writes the split form of every .safetensors file in `folder` beside it, as .split.
    public static func addSplitForms(in folder: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".safetensors") {
            let file = try Data(contentsOf: folder.appendingPathComponent(name))
            try splitForm(file).write(to: folder.appendingPathComponent(name.replacingOccurrences(of: ".safetensors", with: ".split")))
        }
    }
}
