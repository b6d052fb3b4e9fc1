/// A malformed reply: what was wrong and at which byte offset of the stream (counted from the
/// first byte the parser ever received). After one, the parser and its connection are unusable.
public struct RESPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public init(_ message: String, offset: Int) { self.message = message; self.offset = offset }
    public var description: String { "RESP protocol error at byte \(offset): \(message)" }
}

/// Every failure of the client. Server error replies are not errors here: they are
/// `RESPValue.error` values (see `RESPValue.errorCode`), except during the handshake, where
/// `RESPSession` throws `.handshake` carrying the server's code in `serverCode`.
public struct RESPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badURL            // the endpoint URL or options are invalid
        case dns               // the host name did not resolve
        case connectRefused    // nothing listens there (ECONNREFUSED, ENOENT for a socket path)
        case connectTimeout    // the TCP connect or TLS handshake passed its deadline
        case connect           // any other connect failure (unreachable, permission, ...)
        case tlsUnavailable    // libssl could not be loaded
        case tls               // TLS setup or handshake failure (not a verification failure)
        case tlsVerify         // the server certificate did not verify
        case protocolError     // malformed reply (the parser's RESPProtocolError)
        case io                // read/write failed (ECONNRESET, EPIPE, ...)
        case closedByServer    // EOF while a reply was expected or pending
        case timeout           // a read/write deadline passed (the connection is then broken)
        case broken            // the connection already failed or was closed; never reused
        case handshake         // AUTH/HELLO/SELECT was refused by the server
        case busy              // the session is running another call (one call at a time)
        case transactionLost   // a connection broke inside MULTI or after WATCH: that state is gone
        case cluster           // a Redis Cluster cannot serve the call: keys in several slots, a slot
                               // no node serves, a redirect loop, no seed node answering
        case sentinel          // no Sentinel named a primary that says it is one
    }
    public let kind: Kind
    public let message: String
    /// For `.handshake`: the first word of the server's error (`WRONGPASS`, `NOAUTH`, ...).
    public let serverCode: String?
    /// For `.protocolError`: the byte offset in the reply stream.
    public let offset: Int?

    public init(_ kind: Kind, _ message: String, serverCode: String? = nil, offset: Int? = nil) {
        self.kind = kind; self.message = message; self.serverCode = serverCode; self.offset = offset
    }

    public init(_ p: RESPProtocolError) {
        self.init(.protocolError, p.description, offset: p.offset)
    }

    public var description: String { message }
}

/// Number parsing and formatting shared by the parser, the encoder and the helpers.
enum RESPNumbers {
    /// A strict decimal Int64 (optional '-', digits only, no overflow), else nil.
    static func parseInt64<C: Collection>(_ b: C) -> Int64? where C.Element == UInt8 {
        var it = b.makeIterator()
        guard var c = it.next() else { return nil }
        var neg = false
        if c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
            neg = c == UInt8(ascii: "-")
            guard let n = it.next() else { return nil }
            c = n
        }
        var v: Int64 = 0
        while true {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let d = Int64(c &- 0x30)
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = neg ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = s
            guard let n = it.next() else { break }
            c = n
        }
        return v
    }

    /// Appends the decimal form of `v` to `out` (no allocation beyond `out`'s growth).
    @inline(__always)
    static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        if v >= 0 && v < 10 { out.append(UInt8(truncatingIfNeeded: v) &+ 0x30); return }
        var u = v.magnitude
        if v < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        while u > 0 { out.append(UInt8(truncatingIfNeeded: u % 10) &+ 0x30); u /= 10 }
        var i = start, j = out.count - 1
        while i < j { out.swapAt(i, j); i += 1; j -= 1 }
    }

    /// The form Redis reads back exactly (strtold): shortest round-trip digits, `inf`, `-inf`,
    /// `nan`; an integral value without a trailing ".0".
    static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        var s = d.description
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}
