import Augment
import Dense
import Foundation
import TestSupport
import XCTest

final class PipelineTests: FolderTestCase {
    let pipeline = Pipeline(seed: 42, steps: [
        .init(.flipHorizontal, probability: 0.5),
        .init(.rotate(degrees: -15...15, interpolation: .bilinear, fill: .reflect, expand: false)),
        .init(.randomCrop(width: 12, height: 10, padding: 2)),
    ])

    /// input/a/{gray,rgb}.png, input/b/rgba.png, input/b/readme.txt, input/b/broken.png
    func makeInput() throws -> URL {
        let input = folder.appendingPathComponent("input")
        for (name, sub) in [("gray", "a"), ("rgb", "a"), ("rgba", "b")] {
            try FileManager.default.createDirectory(at: input.appendingPathComponent(sub), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: fixtureURL(name), to: input.appendingPathComponent("\(sub)/\(name).png"))
        }
        try Data("not an image".utf8).write(to: input.appendingPathComponent("b/readme.txt"))
        try Data(try Data(contentsOf: fixtureURL("rgb")).prefix(100)).write(to: input.appendingPathComponent("b/broken.png"))
        return input
    }

    func contents(_ url: URL) throws -> [String: Data] {
        let names = (FileManager.default.enumerator(atPath: url.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".png") }
        return try Dictionary(uniqueKeysWithValues: names.map { ($0, try Data(contentsOf: url.appendingPathComponent($0))) })
    }

    func testFolderRunMirrorsFoldersCountsAndReports() throws {
        let input = try makeInput(), output = folder.appendingPathComponent("output")
        let report = try FolderAugmentation(input: input, output: output, copies: 3, pipeline: pipeline).run()
        XCTAssertEqual(report.sources, 4)
        XCTAssertEqual(report.written, 9)
        XCTAssertEqual(report.notImage, 1)
        XCTAssertEqual(report.failures.count, 1)
        XCTAssertTrue(report.failures[0].reason.contains("broken.png") && report.failures[0].reason.contains("truncated"), report.failures[0].reason)
        let files = try contents(output)
        XCTAssertEqual(files.keys.sorted(), ["a/gray_aug0.png", "a/gray_aug1.png", "a/gray_aug2.png", "a/rgb_aug0.png", "a/rgb_aug1.png",
                                             "a/rgb_aug2.png", "b/rgba_aug0.png", "b/rgba_aug1.png", "b/rgba_aug2.png"])
        let rgba = try PNG.read(output.appendingPathComponent("b/rgba_aug1.png"))
        XCTAssertEqual([rgba.width, rgba.height, rgba.channels, rgba.bitDepth], [12, 10, 4, 8], "channels and depth kept")
        let manifest = try String(contentsOf: output.appendingPathComponent("manifest.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(manifest.count, 10)
        XCTAssertEqual(manifest[0], "source,output,transforms")
        XCTAssertTrue(manifest.contains { $0.hasPrefix("a/rgb.png,a/rgb_aug2.png,") && $0.contains("rotate") && $0.contains("crop") })
    }

    func testSameSeedGivesTheSameBytesWithOneOrTwoJobs() throws {
        let input = try makeInput()
        var one = FolderAugmentation(input: input, output: folder.appendingPathComponent("one"), copies: 2, pipeline: pipeline)
        var two = one
        two.output = folder.appendingPathComponent("two")
        two.jobs = 2
        one.jobs = 1
        _ = try one.run()
        _ = try two.run()
        XCTAssertEqual(try contents(one.output), try contents(two.output))
        var other = one
        other.output = folder.appendingPathComponent("other")
        other.pipeline.seed = 43
        _ = try other.run()
        XCTAssertNotEqual(try contents(one.output), try contents(other.output))
    }

    func testARerunCompletesAnInterruptedRunWithoutRewritingFinishedFiles() throws {
        let input = try makeInput(), output = folder.appendingPathComponent("output")
        let job = FolderAugmentation(input: input, output: output, copies: 2, pipeline: pipeline)
        _ = try job.run()
        let complete = try contents(output)
        // An interrupted run: two outputs missing, one finished file replaced by a marker that a
        // rewrite would destroy.
        try FileManager.default.removeItem(at: output.appendingPathComponent("a/gray_aug1.png"))
        try FileManager.default.removeItem(at: output.appendingPathComponent("b/rgba_aug0.png"))
        try Data("kept".utf8).write(to: output.appendingPathComponent("a/rgb_aug0.png"))
        let report = try job.run()
        XCTAssertEqual(report.written, 2)
        XCTAssertEqual(report.kept, 4)
        XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("a/rgb_aug0.png")), Data("kept".utf8))
        XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("a/gray_aug1.png")), complete["a/gray_aug1.png"])
        var overwrite = job
        overwrite.overwrite = true
        XCTAssertEqual(try overwrite.run().written, 6)
        XCTAssertEqual(try contents(output), complete)
    }

    func testOutputInsideInputIsRefused() throws {
        let input = try makeInput()
        for output in [input, input.appendingPathComponent("a/out")] {
            XCTAssertThrowsError(try FolderAugmentation(input: input, output: output, copies: 1, pipeline: pipeline).run()) {
                XCTAssertTrue("\($0)".contains("inside the input"), "\($0)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: input.appendingPathComponent("a/out").path))
    }

    func testPipelineJSONRoundTripAndDraws() throws {
        let all = Pipeline(seed: 7, steps: [
            .init(.flipHorizontal, probability: 0.5), .init(.flipVertical, probability: 0.25), .init(.rotate90),
            .init(.rotate(degrees: -10...10, interpolation: .nearest, fill: .edge, expand: true)),
            .init(.randomCrop(width: 8, height: 8, padding: 4)), .init(.centerCrop(width: 6, height: 6)),
            .init(.randomResizedCrop(width: 5, height: 4, scale: 0.5...1, ratio: 0.75...1.33)), .init(.resize(width: 9, height: 9)),
        ])
        let json = try JSONEncoder().encode(all)
        XCTAssertEqual(try JSONDecoder().decode(Pipeline.self, from: json), all)
        let image = try PNG.read(fixtureURL("rgb"))
        let (a, stepsA) = try all.apply(image, random: all.random(for: "x.png", copy: 0))
        let (b, stepsB) = try all.apply(image, random: all.random(for: "x.png", copy: 0))
        XCTAssertEqual(a, b)
        XCTAssertEqual(stepsA, stepsB)
        XCTAssertEqual([a.width, a.height], [9, 9])
        let (c, _) = try all.apply(image, random: all.random(for: "x.png", copy: 1))
        XCTAssertNotEqual(a, c, "another copy index draws other parameters")
    }

    /// Pipeline files that decode but describe impossible steps: each is an error naming the
    /// file and the step; no NaN or infinity reaches an integer conversion.
    func testBadPipelineFilesAreErrorsNamingTheFile() throws {
        func step(_ transform: String, probability: String = "1") -> String {
            #"{"seed": 1, "steps": [{"probability": \#(probability), "transform": {\#(transform)}}]}"#
        }
        let rotate = #""interpolation": "bilinear", "fill": "black", "expand": false"#
        let cases: [(String, String, String)] = [
            ("huge-angles", step(#""rotate": {"degrees": [-1e308, 1e308], \#(rotate)}"#), "rotation range"),
            ("angle-too-wide", step(#""rotate": {"degrees": [0, 100000], \#(rotate)}"#), "rotation range"),
            ("zero-scale", step(#""randomResizedCrop": {"width": 4, "height": 4, "scale": [0, 1], "ratio": [0.75, 1.33]}"#), "scale"),
            ("scale-above-one", step(#""randomResizedCrop": {"width": 4, "height": 4, "scale": [0.5, 2], "ratio": [0.75, 1.33]}"#), "scale"),
            ("zero-ratio", step(#""randomResizedCrop": {"width": 4, "height": 4, "scale": [0.5, 1], "ratio": [0, 1]}"#), "ratio"),
            ("huge-ratio", step(#""randomResizedCrop": {"width": 4, "height": 4, "scale": [0.5, 1], "ratio": [1, 1e300]}"#), "ratio"),
            ("zero-crop", step(#""randomCrop": {"width": 0, "height": 4, "padding": 0}"#), "crop 0x4"),
            ("negative-crop", step(#""centerCrop": {"width": -3, "height": 4}"#), "center crop -3x4"),
            ("huge-padding", step(#""randomCrop": {"width": 4, "height": 4, "padding": 9223372036854775807}"#), "padding"),
            ("huge-resize", step(#""resize": {"width": 60000, "height": 60000}"#), "resize 60000x60000"),
            ("probability", step(#""flipHorizontal": {}"#, probability: "1.5"), "probability 1.5"),
            ("reversed-range", step(#""rotate": {"degrees": [15, -15], \#(rotate)}"#), "not a pipeline description"),
            ("not-json", "{", "not a pipeline description"),
        ]
        for (name, json, expected) in cases {
            let url = folder.appendingPathComponent("\(name).json")
            try Data(json.utf8).write(to: url)
            XCTAssertThrowsError(try Pipeline.load(from: url), name) { error in
                XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains(expected), "\(name): \(error)")
            }
        }
        // A pipeline built in code is checked before a folder run starts.
        let nan = Pipeline(seed: 1, steps: [.init(.rotate(degrees: -.infinity...0, interpolation: .nearest, fill: .black, expand: false))])
        XCTAssertThrowsError(try FolderAugmentation(input: makeInput(), output: folder.appendingPathComponent("out"), copies: 1,
                                                    pipeline: nan).run()) { XCTAssertTrue("\($0)".contains("rotation range"), "\($0)") }
        let good = folder.appendingPathComponent("good.json")
        try JSONEncoder().encode(pipeline).write(to: good)
        XCTAssertEqual(try Pipeline.load(from: good), pipeline)
    }

    func testRandomCropsStayInBoundsAndResizeKeepsConstants() throws {
        let image = try PNG.read(fixtureURL("gray"))
        let crop = Pipeline(seed: 1, steps: [.init(.randomCrop(width: 21, height: 17, padding: 0))])
        XCTAssertEqual(try crop.apply(image, random: RandomGenerator(seed: 3)).0, image, "a full-size crop is the image")
        let tooBig = Pipeline(seed: 1, steps: [.init(.randomCrop(width: 30, height: 5, padding: 0))])
        XCTAssertThrowsError(try tooBig.apply(image, random: RandomGenerator(seed: 3)))
        let flat = try Image(width: 5, height: 3, channels: 1, bitDepth: 8, bytes: [UInt8](repeating: 77, count: 15))
        XCTAssertEqual(try flat.resized(width: 11, height: 2).bytes, [UInt8](repeating: 77, count: 22))
        XCTAssertEqual(try image.resized(width: 21, height: 17), image, "resizing to the same size is the identity")
    }
}

final class BatchAugmentationTests: XCTestCase {
    func testEachSampleDrawsItsOwnParametersAndZeroStaysZero() {
        let random = RandomGenerator(seed: 1)
        // Two identical samples: a bright square in the middle of a dark 1 x 12 x 12 image.
        let batch = Tensor(shape: [2, 1, 12, 12])
        for s in 0..<2 { for y in 4..<8 { for x in 4..<8 { batch[s * 144 + y * 12 + x] = 1 } } }
        let augment = BatchAugmentation(degrees: -10...10, maxShift: 2)
        augment(batch, random: random)
        let first = Array(batch.buffer[0..<144]), second = Array(batch.buffer[144..<288])
        XCTAssertNotEqual(first, second, "the two samples were moved differently")
        XCTAssertTrue(batch.buffer.allSatisfy { $0 >= 0 && $0 <= 1.0001 })
        XCTAssertEqual(first.reduce(0, +), 16, accuracy: 2.5, "the square's mass is about kept")
        let zeros = Tensor(shape: [1, 1, 5, 5])
        augment(zeros, random: random)
        XCTAssertEqual(zeros.array, [Float](repeating: 0, count: 25))
    }

    func testNoRotationNoShiftIsTheIdentity() {
        let random = RandomGenerator(seed: 2)
        let batch = Tensor(shape: [1, 2, 6, 5], values: (0..<60).map { Float($0) })
        let before = batch.array
        BatchAugmentation(degrees: 0...0, maxShift: 0)(batch, random: random)
        for (a, b) in zip(batch.array, before) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }
}
