import Dense
import Foundation

/// Reads ONNX tensors (initializers, `Constant` nodes) into Synapse tensors, checking before it
/// allocates: a known element type, dimensions that are non-negative and whose product stays
/// within `LayerLimits.maxElements`, and stored data of exactly that many elements.
enum ONNXTensorReader {
    /// The element count of `dims`, or a message saying why there is none.
    static func elementCount(_ dims: [Int64], name: String) throws -> Int {
        var count = 1
        for d in dims {
            guard d >= 0, d <= LayerLimits.maxDimension else {
                throw SynapseError.invalidArgument("tensor '\(name)' has dimension \(d) (dims \(dims)): outside 0...\(LayerLimits.maxDimension)")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= LayerLimits.maxElements else {
                throw SynapseError.invalidArgument("tensor '\(name)' of dims \(dims) has more than \(LayerLimits.maxElements) elements")
            }
            count = product
        }
        return count
    }

    /// A float32 tensor's values, with its dims as the shape.
    static func floats(_ tensor: Onnx_TensorProto) throws -> Tensor {
        let name = tensor.name
        guard tensor.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw SynapseError.invalidArgument("tensor '\(name)' has element type \(tensor.dataType), Synapse reads float32 (1) weights")
        }
        guard tensor.dataLocation != .external, tensor.externalData.isEmpty else {
            throw SynapseError.invalidArgument("tensor '\(name)' is stored in an external file: Synapse reads models with their weights inside")
        }
        let count = try elementCount(tensor.dims, name: name)
        let shape = tensor.dims.map { Int($0) }
        if tensor.hasRawData {
            guard tensor.rawData.count == count * 4 else {
                throw SynapseError.invalidArgument("tensor '\(name)' of dims \(tensor.dims) holds \(tensor.rawData.count) bytes, not \(count * 4)")
            }
            let values = tensor.rawData.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            return Tensor(shape: shape, values: values)
        }
        guard tensor.floatData.count == count else {
            throw SynapseError.invalidArgument("tensor '\(name)' of dims \(tensor.dims) holds \(tensor.floatData.count) values, not \(count)")
        }
        return Tensor(shape: shape, values: tensor.floatData)
    }

    /// An integer tensor's values (int64 or int32), flattened: shapes, axes, indices.
    static func integers(_ tensor: Onnx_TensorProto) throws -> [Int64] {
        let name = tensor.name
        let count = try elementCount(tensor.dims, name: name)
        guard count <= 1 << 16 else {
            throw SynapseError.invalidArgument("integer tensor '\(name)' has \(count) elements; Synapse reads small shape and axis tensors only")
        }
        switch tensor.dataType {
        case Int32(Onnx_TensorProto.DataType.int64.rawValue):
            if tensor.hasRawData {
                guard tensor.rawData.count == count * 8 else {
                    throw SynapseError.invalidArgument("tensor '\(name)' of dims \(tensor.dims) holds \(tensor.rawData.count) bytes, not \(count * 8)")
                }
                return tensor.rawData.withUnsafeBytes { raw in
                    (0..<count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                }
            }
            guard tensor.int64Data.count == count else {
                throw SynapseError.invalidArgument("tensor '\(name)' of dims \(tensor.dims) holds \(tensor.int64Data.count) values, not \(count)")
            }
            return tensor.int64Data
        case Int32(Onnx_TensorProto.DataType.int32.rawValue):
            if tensor.hasRawData {
                guard tensor.rawData.count == count * 4 else {
                    throw SynapseError.invalidArgument("tensor '\(name)' of dims \(tensor.dims) holds \(tensor.rawData.count) bytes, not \(count * 4)")
                }
                return tensor.rawData.withUnsafeBytes { raw in
                    (0..<count).map { Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
                }
            }
            guard tensor.int32Data.count == count else {
                throw SynapseError.invalidArgument("tensor '\(name)' of dims \(tensor.dims) holds \(tensor.int32Data.count) values, not \(count)")
            }
            return tensor.int32Data.map(Int64.init)
        default:
            throw SynapseError.invalidArgument("tensor '\(name)' has element type \(tensor.dataType), an integer tensor (int64 or int32) was expected")
        }
    }
}
