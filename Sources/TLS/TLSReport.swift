/// Whether a chain verified, and against what.
public struct Verification: Sendable, Equatable {
    public let verified: Bool
    /// OpenSSL's X509_V_* code (0 when verified).
    public let code: Int
    /// OpenSSL's text for `code` ("certificate has expired", "unable to get local issuer
    /// certificate", ...), nil when verified.
    public let error: String?
    /// "system" (the system's trust store) or the CA file's path.
    public let trustStore: String
}

/// What a file or an endpoint presented, and what was checked.
public struct TLSReport: Sendable {
    /// The file's path or "host:port".
    public let source: String
    /// Leaf first, then what came with it (the rest of the file, or the server's chain).
    public let chain: [Certificate]
    public let verification: Verification
    /// The name checked against the leaf, and whether it matched (nil when none was asked).
    public let hostname: String?
    public let hostnameMatches: Bool?
    /// What was negotiated, for an endpoint ("TLSv1.3", "TLS_AES_256_GCM_SHA384").
    public let protocolVersion: String?
    public let cipher: String?

    public var leaf: Certificate { chain[0] }
}
