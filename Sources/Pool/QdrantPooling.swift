/// What a pool of Qdrant requests needs: its "connection" and what each failure means to the
/// breaker. Qdrant is HTTP on libcurl's multi interface, whose connection cache keeps the TCP
/// connections; a pool slot is the right to one request in flight (so the pool's size bounds
/// the connections libcurl opens to the endpoint), and the unit affinity learns about.
public enum QdrantPooling {
    /// One slot of a Qdrant pool.
    public final class Slot: @unchecked Sendable {
        public init() {}
    }

    public static let connector = Pool<Slot>.Connector(close: { _ in })

    /// The outcome of a request that ended with the error `code` (opsh's error codes: nil for
    /// a success) and HTTP `status`: unreachable, TLS or cut-off transfers count as connection
    /// failures, timeouts as timeouts, 429/503/507 as resource, other 5xx as query failures;
    /// 4xx and requests refused before sending are the caller's and leave the breaker alone.
    public static func outcome(code: String?, status: Int?, message: String) -> CallOutcome {
        guard let code else { return .success }
        switch code {
        case "connect", "tls", "transfer", "unavailable": return .failure(.connection, message)
        case "timeout": return .failure(.timeout, message)
        case "too_large": return .failure(.resource, message)
        default:
            guard let status else { return .rejectedByServer }
            if status == 429 || status == 503 || status == 507 { return .failure(.resource, message) }
            if status >= 500 { return .failure(.query, message) }
            return .rejectedByServer
        }
    }
}
