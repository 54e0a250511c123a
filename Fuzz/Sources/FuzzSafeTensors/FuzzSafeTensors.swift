import Foundation
import FuzzSupport
import Synapse

/// SafeTensors.decode (what SafeTensors.read does after reading the file), on the input and on
/// the file its split form stands for (see Fuzz.safetensorsFiles). Every tensor of an
/// accepted file must have as many elements as its shape says.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    for file in Fuzz.safetensorsFiles(Fuzz.data(bytes, size)) { check(file) }
    return 0
}

func check(_ data: Data) {
    guard let contents = try? SafeTensors.decode(data, path: "fuzz.safetensors") else { return }
    for (name, tensor) in contents.tensors {
        let elements = tensor.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        Fuzz.require(tensor.shape.allSatisfy { $0 >= 0 } && elements == tensor.count,
                     "tensor '\(name)' of shape \(tensor.shape) has \(tensor.count) elements")
        Fuzz.require(contents.dtypes[name] != nil, "tensor '\(name)' has no dtype")
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        let random = RandomGenerator(seed: 1)
        let a = Tensor(shape: [2, 3]), b = Tensor(shape: [4])
        for i in 0..<a.count { a.data[i] = random.uniform(-1, 1) }
        for i in 0..<b.count { b.data[i] = Float(i) }
        try SafeTensors.write([("weight", a), ("bias", b)], metadata: ["format": "pt"],
                              to: folder.appendingPathComponent("two-tensors.safetensors"))
        try SafeTensors.write([("scalar", Tensor(shape: []))], to: folder.appendingPathComponent("scalar.safetensors"))
        try Fuzz.addSplitForms(in: folder)
    }
    return 0
}
