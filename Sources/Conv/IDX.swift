import Dense
import Foundation

/// The IDX format of the MNIST files: a 4-byte magic number (0, 0, element type, dimension
/// count), the dimensions as big-endian UInt32, then the elements, row-major. Raw or gzip.
public enum IDX {
    /// An IDX file's dimensions and raw unsigned-byte elements.
    public struct File {
        public let dimensions: [Int]
        public let bytes: [UInt8]
    }

    /// Reads an unsigned-byte (type 0x08) IDX file, raw or gzip-compressed.
    public static func read(_ url: URL) throws -> File {
        let raw: Data
        do { raw = try Data(contentsOf: url) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        return try decode(Gzip.isCompressed(raw) ? Gzip.decompress(raw, path: url.path) : raw, path: url.path)
    }

    /// Decodes the bytes of an uncompressed IDX file; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> File {
        let bytes = [UInt8](data)
        func fail(_ problem: String) -> SynapseError { .file(path: path, problem: "not a valid IDX file: \(problem)") }
        guard bytes.count >= 4 else { throw fail("\(bytes.count) bytes, too short for the magic number") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw fail(String(format: "wrong magic number %02x%02x%02x%02x (expected 0000 then type and rank)",
                              bytes[0], bytes[1], bytes[2], bytes[3]))
        }
        guard bytes[2] == 0x08 else {
            throw fail(String(format: "element type 0x%02x; only unsigned bytes (0x08) are supported", bytes[2]))
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw fail("zero dimensions") }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else { throw fail("truncated header: \(bytes.count) bytes for \(rank) dimensions") }
        let dimensions = (0..<rank).map { d in
            (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) }
        }
        let expected = dimensions.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        guard dimensions.allSatisfy({ $0 > 0 && $0 < 1 << 28 }), bytes.count - headerSize == expected else {
            throw fail("dimensions \(dimensions) need \(expected) data bytes, the file has \(bytes.count - headerSize)"
                       + (bytes.count - headerSize < expected ? " (truncated)" : ""))
        }
        return File(dimensions: dimensions, bytes: Array(bytes[headerSize...]))
    }
}
