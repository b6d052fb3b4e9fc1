import CDyn
import Glibc

/// libcrypto's X.509 table and libssl, loaded on first use (docs/ARCHITECTURE.md §2 "Start-up").
enum TLSLibrary {
    static func x509(_ subject: String) throws(TLSError) -> UnsafePointer<opsh_x509_api> {
        guard let api = opsh_x509() else {
            throw TLSError(.unavailable, subject, "\(subject): libcrypto is not available: \(String(cString: opsh_dyn_error()))")
        }
        return api
    }

    static func ssl(_ subject: String) throws(TLSError) -> UnsafePointer<opsh_ssl_api> {
        guard let api = opsh_ssl() else {
            throw TLSError(.unavailable, subject, "\(subject): libssl is not available: \(String(cString: opsh_dyn_error()))")
        }
        return api
    }

    /// OpenSSL's queued errors as text (the queue is emptied).
    static func errorQueue() -> String {
        var buf = [CChar](repeating: 0, count: 2048)
        _ = opsh_crypto_error_text(&buf, buf.count)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func isIPLiteral(_ s: String) -> Bool {
        var buf = in6_addr()
        return inet_pton(AF_INET, s, &buf) == 1 || inet_pton(AF_INET6, s, &buf) == 1
    }
}
