import CDyn
import EventLoop
import Glibc

/// The certificate chain a live `host:port` presents: a non-blocking TCP connect, a TLS handshake
/// with SNI, the peer's chain read, verified afterwards against the system store or a CA file,
/// and its leaf checked against the host name. The handshake itself verifies nothing, so a chain
/// that does not verify is still read and described (`TLSReport.verification` says why).
///
/// Its steps never block (except name resolution in `init`: getaddrinfo has no non-blocking
/// form). Drive it from an event loop (`step()` until `.done`, waiting on `fd` for what it
/// needs, the deadline being the driver's), or call `fetch`, which polls with a deadline.
public final class TLSProbe {
    public enum Need: Sendable, Equatable { case done, readable, writable }

    /// "host:port" as given, for messages and the report.
    public let target: String
    public let host: String
    public let port: Int
    /// The name sent as SNI (none for an IP literal) and checked against the leaf.
    public let serverName: String
    public let caFile: String?
    /// The socket being connected (-1 once closed).
    public private(set) var fd: Int32 = -1

    private enum State { case connecting, handshaking, done, closed }
    private var state = State.connecting
    private var addresses: [(storage: sockaddr_storage, length: socklen_t, family: Int32, text: String)] = []
    private var addressIndex = 0
    private var connectErrors: [String] = []
    private let api: UnsafePointer<opsh_ssl_api>
    private var ctx: OpaquePointer?
    private var ssl: OpaquePointer?

    /// Resolves `host` and starts connecting to its first address.
    public init(host: String, port: Int, serverName: String? = nil, caFile: String? = nil) throws(TLSError) {
        self.host = host
        self.port = port
        target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.serverName = serverName ?? host
        self.caFile = caFile
        api = try TLSLibrary.ssl(target)
        guard (1...65535).contains(port) else { throw TLSError(.connect, target, "\(target): port must be 1..65535") }
        try resolve()
        try startNextAddress()
    }

    deinit { close() }

    /// "host:port", "[v6]:port", or a bare host (port `defaultPort`), split; nil when malformed.
    public static func parseTarget(_ s: String, defaultPort: Int = 443) -> (host: String, port: Int)? {
        if s.hasPrefix("[") {
            guard let end = s.firstIndex(of: "]") else { return nil }
            let host = String(s[s.index(after: s.startIndex)..<end])
            let rest = s[s.index(after: end)...]
            if rest.isEmpty { return host.isEmpty ? nil : (host, defaultPort) }
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), !host.isEmpty else { return nil }
            return (host, p)
        }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 1 { return s.isEmpty ? nil : (s, defaultPort) }
        guard parts.count == 2, !parts[0].isEmpty, let p = Int(parts[1]) else { return nil }
        return (String(parts[0]), p)
    }

    private func resolve() throws(TLSError) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw TLSError(.resolve, target, "\(target): cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let a = p {
            var st = sockaddr_storage()
            memcpy(&st, a.pointee.ai_addr, Int(a.pointee.ai_addrlen))
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            getnameinfo(a.pointee.ai_addr, a.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST)
            addresses.append((st, a.pointee.ai_addrlen, a.pointee.ai_family, text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }))
            p = a.pointee.ai_next
        }
        if addresses.isEmpty { throw TLSError(.resolve, target, "\(target): \(host) has no address") }
    }

    private func startNextAddress() throws(TLSError) {
        while addressIndex < addresses.count {
            let a = addresses[addressIndex]
            fd = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw TLSError(.connect, target, "\(target): socket: \(String(cString: strerror(errno)))") }
            var st = a.storage
            let rc = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, a.length) } }
            if rc == 0 || errno == EINPROGRESS { return }
            connectErrors.append("\(a.text): \(String(cString: strerror(errno)))")
            Glibc.close(fd); fd = -1
            addressIndex += 1
        }
        throw TLSError(.connect, target, "\(target): cannot connect: \(connectErrors.joined(separator: "; "))")
    }

    /// Advances the connect and the handshake. `.done` once the peer's chain can be read.
    public func step() throws(TLSError) -> Need {
        while true {
            switch state {
            case .closed: throw TLSError(.connect, target, "\(target): the probe is closed")
            case .done: return .done
            case .connecting:
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, 0) == 0 { return .writable }
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                if err == 0 { try startHandshake(); continue }
                connectErrors.append("\(addresses[addressIndex].text): \(String(cString: strerror(err)))")
                Glibc.close(fd); fd = -1
                addressIndex += 1
                try startNextAddress()
            case .handshaking:
                guard let ssl else { throw TLSError(.handshake, target, "\(target): no TLS session") }
                let rc = withoutSIGPIPE { api.pointee.SSL_connect(ssl) }
                if rc == 1 { state = .done; continue }
                let en = errno
                let e = api.pointee.SSL_get_error(ssl, rc)
                if e == 2 { return .readable }   // SSL_ERROR_WANT_READ
                if e == 3 { return .writable }   // SSL_ERROR_WANT_WRITE
                let queue = TLSLibrary.errorQueue()
                if e == 5 && queue.isEmpty {     // SSL_ERROR_SYSCALL without a reason: the peer closed
                    throw TLSError(.handshake, target, "\(target): TLS handshake failed: connection closed by the server" + (en != 0 ? " (\(String(cString: strerror(en))))" : "") + " (is it a TLS port?)")
                }
                throw TLSError(.handshake, target, "\(target): TLS handshake failed: \(queue.isEmpty ? "SSL error \(e)" : queue)")
            }
        }
    }

    private func startHandshake() throws(TLSError) {
        let a = api.pointee
        guard let c = a.SSL_CTX_new(a.TLS_client_method()) else { throw TLSError(.unavailable, target, "\(target): SSL_CTX_new failed") }
        ctx = c
        // verified afterwards, so that a chain that does not verify is still read and described
        a.SSL_CTX_set_verify(c, 0, nil)
        guard let s = a.SSL_new(c) else { throw TLSError(.unavailable, target, "\(target): SSL_new failed") }
        ssl = s
        _ = a.SSL_set_fd(s, fd)
        if !TLSLibrary.isIPLiteral(serverName) { _ = opsh_ssl_set_hostname(s, serverName) }
        state = .handshaking
    }

    /// After `.done`: the chain described, verified and checked against `serverName`.
    public func report() throws(TLSError) -> TLSReport {
        guard state == .done, let ssl else { throw TLSError(.handshake, target, "\(target): the handshake has not finished") }
        let x = try TLSLibrary.x509(target)
        guard let stack = api.pointee.SSL_get_peer_cert_chain(ssl) else {
            throw TLSError(.handshake, target, "\(target): the server sent no certificate")
        }
        let chain = X509Chain(x, stack: stack)
        guard !chain.certificates.isEmpty else { throw TLSError(.handshake, target, "\(target): the server sent no certificate") }
        let version = api.pointee.SSL_get_version(ssl).map { String(cString: $0) }
        let cipher = api.pointee.SSL_get_current_cipher(ssl).flatMap { api.pointee.SSL_CIPHER_get_name($0) }.map { String(cString: $0) }
        return try chain.report(source: target, caFile: caFile, hostname: serverName, protocolVersion: version, cipher: cipher)
    }

    /// Ends the session (a close_notify when it can be sent at once) and closes the socket. Idempotent.
    public func close() {
        if state == .closed { return }
        if state == .done, let ssl { _ = withoutSIGPIPE { api.pointee.SSL_shutdown(ssl) } }
        state = .closed
        if let ssl { api.pointee.SSL_free(ssl) }
        if let ctx { api.pointee.SSL_CTX_free(ctx) }
        ssl = nil; ctx = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Connects, handshakes and reports, blocking this thread until done or `timeout` seconds pass.
    public static func fetch(host: String, port: Int, serverName: String? = nil, caFile: String? = nil,
                             timeout: Double = 10) throws(TLSError) -> TLSReport {
        let deadline = Deadline.after(seconds: timeout)
        let probe = try TLSProbe(host: host, port: port, serverName: serverName, caFile: caFile)
        defer { probe.close() }
        while true {
            let need = try probe.step()
            if need == .done { return try probe.report() }
            let left = deadline.secondsFromNow
            guard left > 0 else { throw probe.timedOut(after: timeout) }
            var pfd = pollfd(fd: probe.fd, events: Int16(need == .readable ? POLLIN : POLLOUT), revents: 0)
            _ = poll(&pfd, 1, Int32(min(left * 1000 + 1, 1e9)))
        }
    }

    /// The error for a deadline that passed, saying which step was under way.
    public func timedOut(after seconds: Double) -> TLSError {
        let what = state == .connecting ? "connecting" : "in the TLS handshake"
        return TLSError(.timeout, target, "\(target): timed out after \(seconds) s \(what)")
    }
}
