import RESP

/// What a pool of Redis connections needs from Sources/RESP: how to make, check and close a
/// blocking client, and what each failure means to the breaker.
public enum RESPPooling {
    /// Clients that never reconnect or resend by themselves (retry attempts 1): a broken
    /// connection is the pool's to close, and its breaker's to count.
    public static func connector(endpoint: RESPEndpoint, connectTimeout: Double, timeout: Double) -> Pool<RESPSession>.Connector {
        Pool<RESPSession>.Connector(
            close: { $0.close() },
            create: { deadline in
                try RESPSession.connect(endpoint: endpoint, connectTimeout: min(connectTimeout, max(deadline.secondsFromNow, 0.001)),
                                        timeout: timeout, retry: RESPRetryPolicy(maxAttempts: 1))
            },
            validate: { c in
                guard let r = try? c.command(["PING"]) else { return false }
                return !r.isError
            })
    }

    /// A thrown error's failure type (nil: the endpoint answered; not its health) and whether
    /// the connection must be closed.
    public static func classify(_ error: Error) -> (type: FailureType?, broken: Bool) {
        guard let e = error as? RESPError else { return (.query, true) }
        switch e.kind {
        case .timeout, .connectTimeout: return (.timeout, true)
        case .dns, .connectRefused, .connect, .io, .closedByServer, .broken, .handshake, .tls, .tlsVerify, .tlsUnavailable:
            return (.connection, true)
        case .protocolError, .busy: return (.query, true)
        case .cluster: return (.query, false)
        case .sentinel: return (.connection, true)
        case .transactionLost: return (.transaction, true)
        case .badURL: return (nil, true)
        }
    }

    /// A server's error reply: the resource errors (out of memory, loading, busy script,
    /// replica cut off) and an aborted transaction count against the endpoint; the others
    /// (WRONGTYPE, a syntax error) are the caller's and leave the breaker alone.
    public static func failureType(ofReply r: RESPValue) -> FailureType? {
        guard r.isError, let code = r.errorCode else { return nil }
        switch code {
        case "OOM", "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "NOREPLICAS": return .resource
        case "EXECABORT": return .transaction
        default: return nil
        }
    }
}
