import Foundation
import FuzzSupport
import Synapse

/// JPEG.decode (what JPEG.read does after reading the file): any bytes must give an image or an
/// error. The input is decoded at its stored size, as a truncated file allowed, and at a reduced
/// scale (fitting 16 x 16, so libjpeg-turbo's scaled IDCTs run); an accepted image must have the
/// size its header and scale say, and must survive encode -> decode with its size and channels.
///
/// The pixel limit is 4 megapixels, not the default 100: a few bytes of header can declare a
/// 100-megapixel image whose data is all missing, and libjpeg then decodes (to gray) every one
/// of its pixels, seconds under the address sanitizer. That is bounded, so it is no bug, but it
/// would only slow the search.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Fuzz.data(bytes, size)
    let limit = 1 << 22
    check(try? JPEG.decode(data, path: "fuzz.jpg", pixelLimit: limit))
    check(try? JPEG.decode(data, path: "fuzz.jpg", pixelLimit: limit, allowTruncated: true))
    check(try? JPEG.decode(data, path: "fuzz.jpg", fitting: (16, 16), pixelLimit: limit))
    return 0
}

func check(_ decoded: JPEG.Decoded?) {
    guard let decoded else { return }
    let image = decoded.image
    Fuzz.require(image.width > 0 && image.height > 0, "empty image \(image.width)x\(image.height) accepted")
    Fuzz.require(image.bitDepth == 8 && (image.channels == 1 || image.channels == 3), "\(image.channels) channels, \(image.bitDepth) bits")
    Fuzz.require((1...8).contains(decoded.orientation), "orientation \(decoded.orientation)")
    let (w, h) = ((decoded.storedWidth + decoded.scale - 1) / decoded.scale, (decoded.storedHeight + decoded.scale - 1) / decoded.scale)
    let expected = decoded.orientation >= 5 ? [h, w] : [w, h]
    Fuzz.require([image.width, image.height] == expected, "\(image.width)x\(image.height), expected \(expected) (orientation \(decoded.orientation), scale \(decoded.scale))")
    if let again = try? JPEG.decode(JPEG.encode(image, quality: 75), path: "again.jpg").image {
        Fuzz.require([again.width, again.height, again.channels] == [image.width, image.height, image.channels],
                     "an accepted image changes size or channels through encode -> decode")
    }
}
