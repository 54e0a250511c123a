import Dense
import Foundation

/// The IDX format of the MNIST files: a 4-byte magic number (0, 0, element type, dimension
/// count), the dimensions as big-endian UInt32, then the elements, row-major. Raw or gzip.
public enum IDX {
    /// An IDX file's dimensions and raw unsigned-byte elements.
    public struct File {
        /// The dimensions from the header, e.g. `[60000, 28, 28]` for MNIST's training images.
        public let dimensions: [Int]
        /// The elements, row-major, one byte each: the product of `dimensions` bytes.
        public let bytes: [UInt8]
    }

    /// The most data bytes an IDX file may declare (1 GiB; MNIST's largest file has 47 MB).
    public static let maxDataBytes = 1 << 30
    /// The largest IDX file, header included, that is inflated whole (to check its MD5).
    public static let maxFileBytes = maxDataBytes + 4 + 4 * 255

    /// Reads an unsigned-byte (type 0x08) IDX file, raw or gzip-compressed. A compressed file is
    /// inflated only as far as its header promises: the header first, then exactly the data
    /// bytes its dimensions declare (one byte more shows the file is longer than declared).
    public static func read(_ url: URL) throws -> File {
        let content: Data
        do {
            let raw: Data
            do { raw = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
                throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
            }
            if Gzip.isCompressed(raw) {
                let start = try Gzip.decompressPrefix(raw, path: url.path, count: 4)
                let rank = start.count == 4 ? Int(start[start.startIndex + 3]) : 0
                let header = try Gzip.decompressPrefix(raw, path: url.path, count: 4 + 4 * rank)
                let (headerSize, dataBytes) = try layout(header, path: url.path)
                // One byte beyond what the header declares, so decode can report a longer file.
                content = try Gzip.decompressPrefix(raw, path: url.path, count: headerSize + dataBytes + 1)
            } else {
                content = raw
            }
        }
        return try decode(content, path: url.path)
    }

    /// The header size and the number of data bytes the header declares, checked: known magic
    /// and type, positive dimensions whose product neither overflows nor exceeds `maxDataBytes`.
    static func layout(_ data: Data, path: String) throws -> (headerSize: Int, dataBytes: Int) {
        func fail(_ problem: String) -> SynapseError { .file(path: path, problem: "not a valid IDX file: \(problem)") }
        func byte(_ i: Int) -> UInt8 { data[data.startIndex + i] }
        guard data.count >= 4 else { throw fail("\(data.count) bytes, too short for the magic number") }
        guard byte(0) == 0, byte(1) == 0 else {
            throw fail(String(format: "wrong magic number %02x%02x%02x%02x (expected 0000 then type and rank)",
                              byte(0), byte(1), byte(2), byte(3)))
        }
        guard byte(2) == 0x08 else {
            throw fail(String(format: "element type 0x%02x; only unsigned bytes (0x08) are supported", byte(2)))
        }
        let rank = Int(byte(3))
        guard rank >= 1 else { throw fail("zero dimensions") }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else { throw fail("truncated header: \(data.count) bytes for \(rank) dimensions") }
        let dimensions = (0..<rank).map { d in
            (0..<4).reduce(0) { $0 << 8 | Int(byte(4 + 4 * d + $1)) }
        }
        var product = 1
        for d in dimensions {
            guard d > 0 else { throw fail("dimensions \(dimensions): a dimension of 0") }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maxDataBytes else {
                throw fail("dimensions \(dimensions) declare more than \(maxDataBytes) data bytes")
            }
            product = p
        }
        return (headerSize, product)
    }

    /// Decodes the bytes of an uncompressed IDX file; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> File {
        let (headerSize, expected) = try layout(data, path: path)
        let dimensions = (0..<(headerSize - 4) / 4).map { d in
            (0..<4).reduce(0) { $0 << 8 | Int(data[data.startIndex + 4 + 4 * d + $1]) }
        }
        guard data.count - headerSize == expected else {
            throw SynapseError.file(path: path, problem: "not a valid IDX file: dimensions \(dimensions) need \(expected) data bytes, "
                                    + (data.count - headerSize < expected ? "the file has \(data.count - headerSize) (truncated)"
                                                                          : "the file has more"))
        }
        return File(dimensions: dimensions, bytes: [UInt8](data[(data.startIndex + headerSize)...]))
    }
}
