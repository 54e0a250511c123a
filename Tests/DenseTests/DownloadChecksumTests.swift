@testable import Dense
import Foundation
import XCTest

/// The checksums data downloads are verified with, against digests published for them (RFC 1321's
/// and FIPS 180-2's test vectors) and one computed independently (Python's hashlib) over a 1 MiB
/// buffer, which crosses many of the digests' 64-byte blocks.
final class DownloadChecksumTests: XCTestCase {
    func testMD5MatchesRFC1321Vectors() {
        XCTAssertEqual(Download.md5(Data()), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(Download.md5(Data("abc".utf8)), "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(Download.md5(Data("message digest".utf8)), "f96b697d7cb7938d525a2f31aaf161d0")
    }

    func testSHA256MatchesFIPSVectors() {
        XCTAssertEqual(Download.sha256(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Download.sha256(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Download.sha256(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testLargeBufferMatchesHashlib() {
        let data = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        XCTAssertEqual(Download.md5(data), "3f2c8bd9cfde6550fdff4b36617c3261")
        XCTAssertEqual(Download.sha256(data), "06b7bbfb7824aa03382051691630eb26de85102d1b08a81e907ec0744cd8a286")
    }
}
