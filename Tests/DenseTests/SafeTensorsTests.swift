import Dense
import Foundation
import XCTest

final class SafeTensorsTests: FolderTestCase {
    func testFilesWrittenByPyTorchLoad() throws {
        let contents = try SafeTensors.read(from: fixtureURL("pytorch_mlp", "safetensors"))
        XCTAssertEqual(Set(contents.names), ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        XCTAssertEqual(contents["fc1.weight"]?.shape, [5, 6])
        assertClose(contents["fc2.bias"]!, fixture("mlp.fc2_bias"), relative: 0, absolute: 0, "fc2.bias")
    }

    func testRoundTripKeepsNamesShapesValuesAndMetadata() throws {
        let a = Tensor(shape: [2, 3], values: [1, -2, 3.5, .pi, 0, -0])
        let b = Tensor(shape: [4], values: [1e-30, 1e30, -7, 8])
        let url = folder.appendingPathComponent("t.safetensors")
        try SafeTensors.write([("layer.a", a), ("b", b)], metadata: ["k": "v"], to: url)
        let back = try SafeTensors.read(from: url)
        XCTAssertEqual(back.names.sorted(), ["b", "layer.a"])
        XCTAssertEqual(back["layer.a"]?.shape, [2, 3])
        XCTAssertEqual(back["layer.a"]?.array, a.array)
        XCTAssertEqual(back["b"]?.array, b.array)
        XCTAssertEqual(back.metadata, ["k": "v"])
        XCTAssertEqual(back.dtypes["b"], "F32")
        // The header length is 8-byte aligned, as the format recommends.
        let data = try Data(contentsOf: url)
        XCTAssertEqual(Int(data[0]) % 8, 0)
    }

    func testMalformedFilesGiveErrorsNamingTheFile() throws {
        let good = try SafeTensors.encode([("w", Tensor(shape: [2, 2], values: [1, 2, 3, 4]))])
        var hugeHeader = good
        hugeHeader.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        var badJSON = good
        badJSON[8] = UInt8(ascii: "[")
        let cases: [(String, Data, String)] = [
            ("short", Data([1, 2, 3]), "shorter than"),
            ("truncated", good.prefix(good.count - 4), "truncated"),
            ("huge-header", hugeHeader, "exceeds the file"),
            ("not-json", badJSON, "not a JSON object"),
            ("size-mismatch", try withHeader(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, dataBytes: 16), "does not fill"),
            ("bad-dtype", try withHeader(#"{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4), "dtype Q9"),
            ("out-of-range", try withHeader(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), "truncated"),
            ("overlap", try withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12), "overlap"),
        ]
        for (name, bytes, expected) in cases {
            let url = folder.appendingPathComponent("\(name).safetensors")
            try bytes.write(to: url)
            XCTAssertThrowsError(try SafeTensors.read(from: url), name) { error in
                XCTAssertTrue("\(error)".contains(url.path), "\(name): \(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
            }
        }
    }

    /// Shapes whose element count, or element count times element size, overflows Int must not
    /// wrap around to the size of their byte range (2^30 x 2^30 F64 is 2^63 bytes; 2^32 x 2^32 x
    /// 2^32 is 2^96 elements), nor may a dimension be a fraction or beyond 2^53.
    func testElementCountOverflowIsAnErrorNamingTheFile() throws {
        let cases: [(String, Data, String)] = [
            ("bytes-overflow", try withHeader(#"{"w":{"dtype":"F64","shape":[1073741824,1073741824],"data_offsets":[0,0]}}"#, dataBytes: 0), "overflows"),
            ("count-overflow", try withHeader(#"{"w":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}"#, dataBytes: 0), "overflows"),
            ("wraps-to-zero", try withHeader(#"{"w":{"dtype":"I64","shape":[2,1152921504606846976],"data_offsets":[0,0]}}"#, dataBytes: 0), "whole numbers"),
            ("huge-dimension", try withHeader(#"{"w":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}"#, dataBytes: 4), "whole numbers"),
            ("fraction", try withHeader(#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, dataBytes: 4), "whole numbers"),
            ("huge-offset", try withHeader(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,4]}}"#, dataBytes: 4), "whole numbers"),
        ]
        for (name, bytes, expected) in cases {
            let url = folder.appendingPathComponent("\(name).safetensors")
            try bytes.write(to: url)
            for read in [{ _ = try SafeTensors.read(from: url) }, { _ = try SafeTensors.readHeader(from: url) }] {
                XCTAssertThrowsError(try read(), name) { error in
                    XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains(expected), "\(name): \(error)")
                }
            }
        }
    }

    func testHeaderAloneGivesNamesShapesAndDtypes() throws {
        let url = folder.appendingPathComponent("h.safetensors")
        try SafeTensors.write([("b", Tensor(shape: [3])), ("a", Tensor(shape: [2, 2]))], metadata: ["k": "v"], to: url)
        let header = try SafeTensors.readHeader(from: url)
        XCTAssertEqual(header.tensors.map(\.name), ["b", "a"])
        XCTAssertEqual(header["a"]?.shape, [2, 2])
        XCTAssertEqual(header["b"]?.dtype, "F32")
        XCTAssertEqual(header.metadata, ["k": "v"])
    }

    func testHalfPrecisionAndIntegerTensorsConvert() throws {
        // F16 1.5 = 0x3e00, BF16 -2 = 0xc000, I64 7.
        var payload = Data([0x00, 0x3e, 0x00, 0xc0])
        payload.append(contentsOf: [7, 0, 0, 0, 0, 0, 0, 0])
        let header = #"{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]},"i":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}"#
        let contents = try SafeTensors.decode(try withHeader(header, payload: payload), path: "mixed")
        XCTAssertEqual(contents["h"]?.array, [1.5])
        XCTAssertEqual(contents["b"]?.array, [-2])
        XCTAssertEqual(contents["i"]?.array, [7])
        XCTAssertEqual(contents["i"]?.shape, [])
    }

    func withHeader(_ json: String, dataBytes: Int) throws -> Data {
        try withHeader(json, payload: Data(count: dataBytes))
    }

    func withHeader(_ json: String, payload: Data) throws -> Data {
        var data = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(json.utf8))
        data.append(payload)
        return data
    }
}
