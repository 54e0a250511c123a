import CLibCrypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches files over HTTP(S) and checks them.
public enum Download {
    /// The body of `url`, or an error naming the address and what went wrong.
    public static func fetch(_ url: URL, timeout: TimeInterval = 60) throws -> Data {
        final class Box: @unchecked Sendable { var result: Result<Data, Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.setValue("synapse", forHTTPHeaderField: "User-Agent")
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(SynapseError.data("\(url.absoluteString): \(error.localizedDescription)"))
            } else if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                box.result = .failure(SynapseError.data("\(url.absoluteString): HTTP \(http.statusCode)"))
            } else {
                box.result = .success(data ?? Data())
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return try box.result!.get()
    }

    /// Where the data loaders say what they fetch and where it goes, unless given another `log`:
    /// one line to standard error.
    public static func note(_ line: String) {
        FileHandle.standardError.write(Data(("synapse: " + line + "\n").utf8))
    }

    /// The MD5 digest of `data` as 32 lowercase hex digits (the form data sets publish).
    public static func md5(_ data: Data) -> String { digest(data, EVP_md5()) }
    /// The SHA-256 digest of `data` as 64 lowercase hex digits.
    public static func sha256(_ data: Data) -> String { digest(data, EVP_sha256()) }

    /// One-shot digest through OpenSSL's EVP interface. It fails only when the process cannot
    /// allocate a digest context, which no input causes.
    private static func digest(_ data: Data, _ kind: OpaquePointer?) -> String {
        var bytes = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let status = data.withUnsafeBytes { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &bytes, &length, kind, nil)
        }
        precondition(status == 1, "OpenSSL EVP_Digest failed (out of memory)")
        return bytes.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}
