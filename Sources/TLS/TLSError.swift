/// Why a certificate could not be read or an endpoint's could not be fetched. A chain that does
/// not verify is not an error: `TLSReport.verification` says so.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// libcrypto or libssl could not be loaded.
        case unavailable
        /// The file could not be read.
        case file
        /// The bytes hold no certificate (neither PEM nor DER), or a broken one.
        case parse
        /// The CA file given for verification could not be loaded.
        case caFile = "ca_file"
        /// The host name did not resolve.
        case resolve
        /// The TCP connection failed.
        case connect
        /// The deadline passed.
        case timeout
        /// The TLS handshake failed.
        case handshake
    }
    public let kind: Kind
    public let message: String
    /// The file or `host:port` the error is about.
    public let subject: String

    public init(_ kind: Kind, _ subject: String, _ message: String) {
        self.kind = kind
        self.subject = subject
        self.message = message
    }

    public var description: String { message }
}
