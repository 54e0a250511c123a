import Foundation
import FuzzSupport
import Synapse

/// The augmentation pipeline JSON (`augment --pipeline FILE`): Pipeline decoding, then the
/// pipeline applied, as the augment command does, to small gray and RGBA images (two copies
/// each). Any JSON must give an error or images, in bounded memory and time.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let pipeline = try? JSONDecoder().decode(Pipeline.self, from: Fuzz.data(bytes, size)) else { return 0 }
    for (name, image) in images {
        for copy in 0..<2 {
            guard let (result, applied) = try? pipeline.apply(image, random: pipeline.random(for: name, copy: copy)) else { continue }
            Fuzz.require(result.channels == image.channels, "\(applied) changed the channel count")
            Fuzz.require(result.bytes.count == result.width * result.height * result.pixelSize,
                         "\(applied) gave \(result.bytes.count) bytes for \(result.width)x\(result.height)")
        }
    }
    return 0
}

let images: [(String, Image)] = {
    func image(_ width: Int, _ height: Int, _ channels: Int) -> Image {
        let bytes = (0..<(width * height * channels)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 >> 3) }
        return try! Image(width: width, height: height, channels: channels, bitDepth: 8, bytes: bytes)
    }
    return [("gray.png", image(13, 9, 1)), ("sub/rgba.png", image(10, 16, 4))]
}()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    Fuzz.writeSeedsIfAsked { folder in
        let pipelines: [String: Pipeline] = [
            "augment-command": Pipeline(seed: 42, steps: [
                .init(.flipHorizontal, probability: 0.5),
                .init(.rotate(degrees: -15...15, interpolation: .bilinear, fill: .black, expand: false)),
                .init(.randomCrop(width: 8, height: 8, padding: 0)),
            ]),
            "every-step": Pipeline(seed: 7, steps: [
                .init(.flipVertical, probability: 0.5),
                .init(.rotate90),
                .init(.rotate(degrees: 0...360, interpolation: .nearest, fill: .reflect, expand: true)),
                .init(.randomCrop(width: 6, height: 6, padding: 2)),
                .init(.centerCrop(width: 5, height: 4)),
                .init(.randomResizedCrop(width: 7, height: 7, scale: 0.08...1, ratio: 0.75...(4.0 / 3))),
                .init(.resize(width: 9, height: 5)),
                .init(.rotate(degrees: -5...5, interpolation: .bilinear, fill: .wrap, expand: false), probability: 0.3),
                .init(.rotate(degrees: -5...5, interpolation: .bilinear, fill: .edge, expand: false), probability: 0.3),
                .init(.rotate(degrees: -5...5, interpolation: .nearest, fill: .white, expand: true), probability: 0.3),
            ]),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (name, pipeline) in pipelines {
            try encoder.encode(pipeline).write(to: folder.appendingPathComponent("\(name).json"))
        }
    }
    return 0
}
