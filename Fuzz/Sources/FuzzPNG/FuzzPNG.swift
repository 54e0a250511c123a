import Foundation
import FuzzSupport
import Synapse

/// PNG.decode (what PNG.read does after reading the file): any bytes must give an image or an
/// error. The input is decoded as it is and, when it is a PNG whose chunk CRCs are wrong, again
/// with the CRCs put right, so that a mutated IHDR (a width, a bit depth) reaches the decoder
/// instead of stopping at libpng's CRC check. An accepted image is encoded and decoded again and
/// must come back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    check(data)
    let fixed = withCorrectCRCs(data)
    if fixed != data { check(fixed) }
    return 0
}

func check(_ data: Data) {
    guard let decoded = try? PNG.decode(data, path: "fuzz.png") else { return }
    let image = decoded.image
    Fuzz.require(image.width > 0 && image.height > 0, "empty image \(image.width)x\(image.height) accepted")
    if let again = try? PNG.decode(PNG.encode(image, compression: .fast), path: "again.png").image {
        Fuzz.require(again == image, "an accepted image does not survive encode -> decode")
    }
}

/// The PNG with the CRC of every complete chunk recomputed (type + data).
func withCorrectCRCs(_ data: Data) -> Data {
    var bytes = [UInt8](data)
    guard bytes.count >= 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) else { return data }
    var offset = 8
    while offset + 12 <= bytes.count {
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - offset - 12 else { break }
        let crc = Fuzz.crc32(Array(bytes[(offset + 4)..<(offset + 8 + length)]))
        for k in 0..<4 { bytes[offset + 8 + length + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
        offset += 12 + length
    }
    return Data(bytes)
}
