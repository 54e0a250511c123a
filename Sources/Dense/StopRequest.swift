import Foundation

/// Thrown by `fit` when its `stopRequest` was requested: training stopped after `batch` of
/// `batches` batches of epoch `epoch` (0-based), and the checkpoint (if any) holds that position.
public struct TrainingStopped: Error, CustomStringConvertible {
    /// Where training stopped: the epoch (0-based), the batches of it trained on, and its batch count.
    public let epoch: Int, batch: Int, batches: Int
    /// The checkpoint holding the stopping position, or nil when `fit` was given no checkpoint.
    public let checkpoint: URL?
    /// Where training stopped, as a sentence (epochs counted from 1), and the checkpoint if any.
    public var description: String {
        "training stopped in epoch \(epoch + 1) after batch \(batch) of \(batches)"
            + (checkpoint.map { "; checkpoint written to \($0.path)" } ?? "")
    }
}

/// A request to stop training, safe to make from any thread: `fit` polls it after every batch.
/// `StopRequest.onSignals()` makes one that Ctrl-C (SIGINT) and SIGTERM set; a second such signal
/// ends the process at once.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var signalNumber: Int32?

    /// A request not yet made.
    public init() {}

    /// Whether `request()` (or a signal) has asked training to stop.
    public var isRequested: Bool { lock.withLock { requested } }
    /// The signal that made the request, if a signal did.
    public var signal: Int32? { lock.withLock { signalNumber } }

    /// Asks training to stop after the current batch; safe from any thread, and repeatable.
    public func request() { lock.withLock { requested = true } }

    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// A request that the first SIGINT or SIGTERM sets (printing `message` on standard error);
    /// the second exits the process at once with status 128 + the signal number. The signals'
    /// default action is turned off for the rest of the process.
    public static func onSignals(_ signals: [Int32] = [SIGINT, SIGTERM],
                                 message: String = "stopping after this batch (press Ctrl-C again to quit at once)") -> StopRequest {
        let request = StopRequest()
        for number in signals {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let first = request.lock.withLock { () -> Bool in
                    defer { request.requested = true }
                    if request.signalNumber == nil && !request.requested { request.signalNumber = number; return true }
                    return false
                }
                guard first else { _exit(128 + number) }
                FileHandle.standardError.write(Data(("\n" + message + "\n").utf8))
            }
            source.resume()
            sources.append(source)
        }
        return request
    }
}
