import Crypto
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

    public static func md5(_ data: Data) -> String { hex(Insecure.MD5.hash(data: data)) }
    public static func sha256(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
