import Foundation

/// Reads and writes the safetensors format (the one PyTorch and the Hugging Face tools use):
///
///     8 bytes   N, the header length, little-endian UInt64
///     N bytes   JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
///               "__metadata__": {"key": "value"}}, padded with spaces to a multiple of 8
///     rest      raw little-endian tensor data; offsets count from the end of the header
///
/// Synapse writes F32 only. It reads F32, F16, BF16 and F64, and the integer types I64, I32, I16,
/// I8, U8 (as PyTorch's `num_batches_tracked`), converting to Float32.
public enum SafeTensors {
    /// Tensors in file order, with the file's metadata.
    public struct Contents {
        /// The tensors, in file order (by data offset), converted to Float32.
        public var tensors: [(name: String, tensor: Tensor)]
        /// The file's `__metadata__` entries (empty when it has none).
        public var metadata: [String: String]
        /// The dtype each tensor had in the file, before conversion to Float32.
        public var dtypes: [String: String]

        /// Contents of `tensors` (names unique) with `metadata` and, for each tensor read from a file, its
        /// dtype there.
        public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], dtypes: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
            self.dtypes = dtypes
        }

        /// The tensor named `name`, or nil.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
        /// The tensor names, in file order.
        public var names: [String] { tensors.map(\.name) }
    }

    /// The encoded file: header and data.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, tensor) in tensors {
            guard header[name] == nil, name != "__metadata__" else {
                throw SynapseError.invalidArgument("tensor name '\(name)' is repeated or reserved")
            }
            let bytes = tensor.count * 4
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, tensor) in tensors {
            data.append(UnsafeBufferPointer(start: tensor.data, count: tensor.count))
        }
        return data
    }

    /// Writes the file atomically (temporary file, then rename).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata), to: url)
    }

    /// Reads a safetensors file, converting every tensor to Float32.
    /// - Throws: `SynapseError.file` naming the path when the file cannot be read, or its header or
    ///   data is malformed (bad lengths, overlapping or out-of-file ranges, an unknown dtype).
    public static func read(from url: URL) throws -> Contents {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: url.path)
    }

    /// What a file's header says about one tensor.
    public struct TensorInfo: Equatable, Sendable {
        /// The tensor's name (its key in the header).
        public var name: String
        /// The element type as the file spells it: `F32`, `F16`, `BF16`, `F64`, `I64`, ...
        public var dtype: String
        /// The tensor's shape; empty for a scalar.
        public var shape: [Int]
        /// Byte range in the data section (after the header).
        public var begin: Int, end: Int
    }

    /// A file's header, checked against the file's size: every tensor's element count times its
    /// element size (overflow-checked) fills exactly its byte range, and the ranges lie inside
    /// the file and do not overlap.
    public struct Header: Sendable {
        /// In file order (by data offset).
        public var tensors: [TensorInfo]
        /// The `__metadata__` entries (empty when the file has none).
        public var metadata: [String: String]
        /// Where the data section starts in the file.
        public var dataStart: Int

        /// The header entry of the tensor named `name`, or nil.
        public subscript(name: String) -> TensorInfo? { tensors.first { $0.name == name } }
    }

    /// Reads and checks the header of a safetensors file without converting any tensor.
    public static func readHeader(from url: URL) throws -> Header {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SynapseError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        return try header(of: data, path: url.path)
    }

    /// The checked header of a file's bytes; `path` names the file in errors.
    public static func header(of data: Data, path: String) throws -> Header {
        func fail(_ problem: String) -> SynapseError { .file(path: path, problem: "not a valid safetensors file: \(problem)") }
        guard data.count >= 8 else { throw fail("\(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength <= 100_000_000 else {
            throw fail("header length \(headerLength) exceeds the file (\(data.count) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + dataStart))
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let strings = meta as? [String: String] else { throw fail("__metadata__ is not a map of strings") }
            metadata = strings
        }
        let payload = data.count - dataStart
        var entries: [TensorInfo] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = wholeNumbers(info["shape"]), let offsets = wholeNumbers(info["data_offsets"]),
                  offsets.count == 2
            else { throw fail("tensor '\(name)' lacks dtype, shape or data_offsets (whole numbers)") }
            guard let size = elementSize[dtype] else {
                throw fail("tensor '\(name)' has dtype \(dtype); supported: \(elementSize.keys.sorted().joined(separator: ", "))")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("tensor '\(name)' has invalid shape \(shape) or offsets \(offsets)")
            }
            guard offsets[1] <= payload else {
                throw fail("truncated: tensor '\(name)' needs data bytes \(offsets[0])..<\(offsets[1]), the file has \(payload)")
            }
            // Element count times element size, each step checked: a shape whose byte count
            // overflows must not wrap around to the size of its byte range.
            var bytes: Int? = size
            for d in shape {
                guard let b = bytes else { break }
                let (product, overflow) = b.multipliedReportingOverflow(by: d)
                bytes = overflow ? nil : product
            }
            guard let bytes else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(dtype) has a byte count that overflows")
            }
            guard bytes == offsets[1] - offsets[0] else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(dtype) does not fill its \(offsets[1] - offsets[0]) bytes")
            }
            entries.append(TensorInfo(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
        }
        entries.sort { $0.begin < $1.begin }
        for (a, b) in zip(entries, entries.dropFirst()) where a.end > b.begin {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        return Header(tensors: entries, metadata: metadata, dataStart: dataStart)
    }

    /// A JSON array of whole numbers that fit in Int, or nil.
    private static func wholeNumbers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for element in array {
            guard let number = element as? NSNumber else { return nil }
            // Checked as a Double first: a fraction, or a number beyond 2^53 (far beyond any
            // real tensor), is not taken.
            let d = number.doubleValue
            guard d.isFinite, abs(d) < 0x1p53, d == d.rounded(), Double(number.int64Value) == d else { return nil }
            result.append(Int(number.int64Value))
        }
        return result
    }

    /// Decodes a file's bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> Contents {
        let header = try header(of: data, path: path)
        let dataStart = header.dataStart
        let tensors = data.withUnsafeBytes { raw -> [(name: String, tensor: Tensor)] in
            header.tensors.map { entry in
                let tensor = Tensor(shape: entry.shape)
                convert(UnsafeRawBufferPointer(rebasing: raw[(dataStart + entry.begin)..<(dataStart + entry.end)]),
                        dtype: entry.dtype, into: tensor.data, count: tensor.count)
                return (entry.name, tensor)
            }
        }
        return Contents(tensors: tensors, metadata: header.metadata,
                        dtypes: Dictionary(uniqueKeysWithValues: header.tensors.map { ($0.name, $0.dtype) }))
    }

    /// The dtypes that hold real numbers (as opposed to counters).
    public static let floatingDtypes: Set<String> = ["F32", "F16", "BF16", "F64"]

    private static let elementSize = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1]

    private static func convert(_ bytes: UnsafeRawBufferPointer, dtype: String, into out: UnsafeMutablePointer<Float>, count: Int) {
        func each<T: FixedWidthInteger>(_: T.Type, _ body: (T) -> Float) {
            for i in 0..<count { out[i] = body(T(littleEndian: bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))) }
        }
        switch dtype {
        case "F32": each(UInt32.self) { Float(bitPattern: $0) }
        case "F16": each(UInt16.self) { Float(Float16(bitPattern: $0)) }
        case "BF16": each(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
        case "F64": each(UInt64.self) { Float(Double(bitPattern: $0)) }
        case "I64": each(Int64.self) { Float($0) }
        case "I32": each(Int32.self) { Float($0) }
        case "I16": each(Int16.self) { Float($0) }
        case "I8": each(Int8.self) { Float($0) }
        default: each(UInt8.self) { Float($0) }
        }
    }
}
