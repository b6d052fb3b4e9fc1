/// A failure of the Docker client: the engine, the transfer, or what came back.
public struct DockerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Nothing answers at the endpoint: the daemon is not running (or not there).
        case daemonUnavailable = "daemon_unavailable"
        case usage
        case timeout
        /// The stream broke: cut in the middle of a frame, or a byte that no frame starts with.
        case stream
        case transfer
        case tooLarge = "too_large"
    }
    public let kind: Kind
    public let message: String
    public var description: String { message }
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
}
