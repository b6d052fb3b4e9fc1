import CDyn
import EventLoop
import Glibc

/// One client TLS session over a connected non-blocking socket, through libssl opened with
/// dlopen (CDyn). Handshake, read and write map OpenSSL's WANT_READ/WANT_WRITE to `IONeed`.
final class RESPTLS {
    private let api: UnsafePointer<opsh_ssl_api>
    private let ctx: OpaquePointer
    let ssl: OpaquePointer
    private let verify: Bool
    private let expectedName: String

    // OpenSSL ABI constants (stable across 1.1 and 3.x).
    static let errorWantRead: Int32 = 2, errorWantWrite: Int32 = 3, errorSyscall: Int32 = 5, errorZeroReturn: Int32 = 6
    private static let verifyNone: Int32 = 0, verifyPeer: Int32 = 1
    private static let filetypePEM: Int32 = 1
    private static let ctrlMode: Int32 = 33
    private static let modePartialWrite: Int = 0x1, modeMovingBuffer: Int = 0x2

    init(fd: Int32, host: String, options: RESPTLSOptions) throws(RESPError) {
        guard let api = opsh_ssl() else {
            throw RESPError(.tlsUnavailable, "TLS unavailable: cannot load libssl: \(String(cString: opsh_dyn_error()))")
        }
        self.api = api
        guard let ctx = api.pointee.SSL_CTX_new(api.pointee.TLS_client_method()) else {
            throw RESPError(.tls, "TLS: SSL_CTX_new failed: \(RESPTLS.errorQueue())")
        }
        self.ctx = ctx
        verify = options.verify
        expectedName = options.serverName ?? host
        if options.verify {
            api.pointee.SSL_CTX_set_verify(ctx, RESPTLS.verifyPeer, nil)
            if let ca = options.caFile {
                guard api.pointee.SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                    api.pointee.SSL_CTX_free(ctx)
                    throw RESPError(.tls, "TLS: cannot load CA file '\(ca)': \(RESPTLS.errorQueue())")
                }
            } else {
                _ = api.pointee.SSL_CTX_set_default_verify_paths(ctx)
            }
        } else {
            api.pointee.SSL_CTX_set_verify(ctx, RESPTLS.verifyNone, nil)
        }
        if let cert = options.certFile, let key = options.keyFile {
            guard api.pointee.SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 else {
                api.pointee.SSL_CTX_free(ctx)
                throw RESPError(.tls, "TLS: cannot load client certificate '\(cert)': \(RESPTLS.errorQueue())")
            }
            guard api.pointee.SSL_CTX_use_PrivateKey_file(ctx, key, RESPTLS.filetypePEM) == 1 else {
                api.pointee.SSL_CTX_free(ctx)
                throw RESPError(.tls, "TLS: cannot load client key '\(key)': \(RESPTLS.errorQueue())")
            }
        }
        guard let ssl = api.pointee.SSL_new(ctx) else {
            api.pointee.SSL_CTX_free(ctx)
            throw RESPError(.tls, "TLS: SSL_new failed: \(RESPTLS.errorQueue())")
        }
        self.ssl = ssl
        _ = api.pointee.SSL_ctrl(ssl, RESPTLS.ctrlMode, RESPTLS.modePartialWrite | RESPTLS.modeMovingBuffer, nil)
        _ = api.pointee.SSL_set_fd(ssl, fd)
        if !RESPSocket.isIPLiteral(expectedName) { _ = opsh_ssl_set_hostname(ssl, expectedName) }
        // SSL_set1_host checks an IP literal against the certificate's IP SANs (OpenSSL 3).
        if options.verify { _ = api.pointee.SSL_set1_host(ssl, expectedName) }
    }

    deinit {
        api.pointee.SSL_free(ssl)
        api.pointee.SSL_CTX_free(ctx)
    }

    /// One handshake step.
    func handshake() throws(RESPError) -> IONeed {
        let rc = withoutSIGPIPE { api.pointee.SSL_connect(ssl) }
        if rc == 1 { return .done }
        let e = api.pointee.SSL_get_error(ssl, rc)
        if e == RESPTLS.errorWantRead { return .readable }
        if e == RESPTLS.errorWantWrite { return .writable }
        let vr = api.pointee.SSL_get_verify_result(ssl)
        if verify && vr != 0 {
            throw RESPError(.tlsVerify, "TLS: certificate verification failed for '\(expectedName)': \(RESPTLS.verifyText(vr)) (X509 error \(vr))")
        }
        let queue = RESPTLS.errorQueue()
        if e == RESPTLS.errorSyscall && queue.isEmpty {
            let en = errno
            throw RESPError(.tls, "TLS handshake failed: connection closed by the server" + (en != 0 ? " (\(RESPSocket.errnoText(en)))" : ""))
        }
        throw RESPError(.tls, "TLS handshake failed: \(queue.isEmpty ? "SSL error \(e)" : queue)")
    }

    enum Result { case bytes(Int), need(IONeed), eof, failed(String) }

    func read(_ p: UnsafeMutableRawPointer, _ n: Int) -> Result {
        let rc = api.pointee.SSL_read(ssl, p, Int32(min(n, Int(Int32.max))))
        if rc > 0 { return .bytes(Int(rc)) }
        return classify(rc)
    }

    func write(_ p: UnsafeRawPointer, _ n: Int) -> Result {
        let rc = withoutSIGPIPE { api.pointee.SSL_write(ssl, p, Int32(min(n, 1 << 20))) }
        if rc > 0 { return .bytes(Int(rc)) }
        return classify(rc)
    }

    private func classify(_ rc: Int32) -> Result {
        let en = errno
        let e = api.pointee.SSL_get_error(ssl, rc)
        switch e {
        case RESPTLS.errorWantRead: return .need(.readable)
        case RESPTLS.errorWantWrite: return .need(.writable)
        case RESPTLS.errorZeroReturn: return .eof
        case RESPTLS.errorSyscall:
            let q = RESPTLS.errorQueue()
            if q.isEmpty && (rc == 0 || en == 0) { return .eof }
            return .failed(q.isEmpty ? RESPSocket.errnoText(en) : q)
        default:
            let q = RESPTLS.errorQueue()
            return .failed(q.isEmpty ? "SSL error \(e)" : q)
        }
    }

    /// OpenSSL's queued errors as text (and clears the queue).
    static func errorQueue() -> String {
        var buf = [CChar](repeating: 0, count: 2048)
        _ = opsh_crypto_error_text(&buf, buf.count)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// X509_verify_cert_error_string from the already loaded libcrypto.
    static func verifyText(_ code: Int) -> String {
        typealias Fn = @convention(c) (Int) -> UnsafePointer<CChar>?
        if let h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD), let sym = dlsym(h, "X509_verify_cert_error_string") {
            let f = unsafeBitCast(sym, to: Fn.self)
            if let s = f(code) { return String(cString: s) }
        }
        return "X509 verify error \(code)"
    }
}
