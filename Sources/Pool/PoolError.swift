/// Why a pool, breaker or sizing call did not give what was asked.
public struct PoolError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// An option was refused; `option` names it.
        case badOption = "bad_option"
        /// No connection became free before the acquire deadline.
        case timeout
        /// The endpoint's circuit breaker is open (or half-open with its probes taken).
        case circuitOpen = "circuit_open"
        /// The pool was closed.
        case closed
        /// The acquire was cancelled before it got a connection.
        case cancelled
        /// Making a new connection failed (the connector's message).
        case connect
    }

    public let kind: Kind
    public let message: String
    /// The option a `.badOption` error is about.
    public let option: String?

    public init(_ kind: Kind, _ message: String, option: String? = nil) {
        self.kind = kind
        self.message = message
        self.option = option
    }

    static func badOption(_ name: String, _ why: String) -> PoolError {
        PoolError(.badOption, "\(name): \(why)", option: name)
    }

    public var description: String { message }
}
