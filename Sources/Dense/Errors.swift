/// Errors Synapse reports to its users. Each names what was wrong and, for files, which file.
public enum SynapseError: Error, CustomStringConvertible, Equatable {
    /// A model whose layers do not fit together, reported when it is built.
    case shape(String)
    /// A file that is missing, unreadable or malformed.
    case file(path: String, problem: String)
    /// An argument outside what a function accepts.
    case invalidArgument(String)
    /// Data that cannot be fetched or verified.
    case data(String)

    /// The error as one line: `shape error: ...`, `<path>: <problem>`, `invalid argument: ...`, or
    /// the data message.
    public var description: String {
        switch self {
        case .shape(let message): return "shape error: \(message)"
        case .file(let path, let problem): return "\(path): \(problem)"
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .data(let message): return message
        }
    }
}
