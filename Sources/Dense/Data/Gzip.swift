import CZlibSystem
import Foundation

/// gzip decompression through zlib.
public enum Gzip {
    /// The default largest output of `decompress` (1 GiB): far above any data set read here
    /// (the IMDB archive inflates to about 300 MB), far below what a gzip bomb asks for.
    public static let defaultLimit = 1 << 30

    /// True when `data` starts with the gzip magic bytes 1f 8b.
    public static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// The decompressed bytes of a gzip stream (concatenated members are joined).
    /// - Parameters:
    ///   - data: The gzip stream.
    ///   - path: names the file in errors.
    ///   - limit: the most bytes the stream may inflate to; a stream that inflates to more is an
    ///     error, found after `limit` + 1 bytes of output.
    public static func decompress(_ data: Data, path: String, limit: Int = defaultLimit) throws -> Data {
        var output = Data()
        let complete = try inflate(data, path: path, upTo: limit, into: &output)
        guard complete else {
            throw SynapseError.file(path: path, problem: "gzip data inflates to more than the limit of \(limit) bytes")
        }
        return output
    }

    /// The first `count` decompressed bytes of a gzip stream (fewer if it is shorter): enough to
    /// read a header without inflating the rest.
    public static func decompressPrefix(_ data: Data, path: String, count: Int) throws -> Data {
        var output = Data()
        // One allocation for a known size, but never more than the input could inflate to:
        // deflate expands at most 1032-fold, so a header cannot make a 12-byte file reserve 600 MB.
        let possible = data.count.multipliedReportingOverflow(by: 1032)
        output.reserveCapacity(min(count, defaultLimit, possible.overflow ? Int.max : possible.partialValue + 1024) + 1)
        _ = try inflate(data, path: path, upTo: count, into: &output)
        return output.count > count ? output.prefix(count) : output
    }

    /// Inflates into `output` until the stream ends (returns true) or more than `limit` bytes
    /// have come out (returns false; `output` then holds exactly `limit` + 1 bytes).
    private static func inflate(_ data: Data, path: String, upTo limit: Int, into output: inout Data) throws -> Bool {
        precondition(limit >= 0, "negative gzip limit")
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw SynapseError.file(path: path, problem: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        // Small reads need small chunks: a header costs a few bytes of inflation, not a megabyte.
        let chunk = min(1 << 20, max(limit, 64))
        var buffer = [UInt8](repeating: 0, count: chunk)
        return try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) -> Bool in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                // Never more than one byte beyond the limit.
                let room = limit - output.count >= chunk ? chunk : limit - output.count + 1
                let status = buffer.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(room)
                    return CZlibSystem.inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: buffer[0..<(room - Int(stream.avail_out))])
                if output.count > limit { return false }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another gzip member may follow.
                    guard stream.avail_in > 0 else { return true }
                    inflateReset(&stream)
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw SynapseError.file(path: path, problem: "gzip data is truncated")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw SynapseError.file(path: path, problem: "gzip data is corrupt: \(message)")
                }
            }
        }
    }
}
