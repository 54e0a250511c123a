import Foundation
import FuzzSupport
import Synapse

/// PNG.decode (what PNG.read does after reading the file): any bytes must give an image or an
/// error. An accepted image is encoded and decoded again and must come back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    guard let decoded = try? PNG.decode(data, path: "fuzz.png") else { return 0 }
    let image = decoded.image
    Fuzz.require(image.width > 0 && image.height > 0, "empty image \(image.width)x\(image.height) accepted")
    if let again = try? PNG.decode(PNG.encode(image, compression: .fast), path: "again.png").image {
        Fuzz.require(again == image, "an accepted image does not survive encode -> decode")
    }
    return 0
}
