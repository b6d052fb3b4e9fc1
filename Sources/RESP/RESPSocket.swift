import Glibc

/// Non-blocking socket plumbing (Glibc only).
enum RESPSocket {
    struct Address {
        var storage: sockaddr_storage
        var length: socklen_t
        var family: Int32
        var text: String
    }

    static func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// Resolves a host with getaddrinfo. Numeric addresses never touch DNS; a name may block
    /// for the resolver's time (getaddrinfo has no non-blocking form).
    static func resolve(host: String, port: UInt16) throws(RESPError) -> [Address] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG
        var res: UnsafeMutablePointer<addrinfo>? = nil
        var rc = getaddrinfo(host, String(port), &hints, &res)
        if rc == EAI_NONAME || rc == -9 /* EAI_ADDRFAMILY */ {
            // AI_ADDRCONFIG hides ::1 and 127.0.0.1 on hosts with no configured address.
            hints.ai_flags = AI_NUMERICSERV
            rc = getaddrinfo(host, String(port), &hints, &res)
        }
        guard rc == 0, let first = res else {
            throw RESPError(.dns, "cannot resolve '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var out: [Address] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let a = p {
            var st = sockaddr_storage()
            let len = Int(a.pointee.ai_addrlen)
            withUnsafeMutableBytes(of: &st) { $0.baseAddress!.copyMemory(from: a.pointee.ai_addr, byteCount: min(len, $0.count)) }
            let fam = a.pointee.ai_family
            let text = fam == AF_INET6 ? "[\(numericHost(a.pointee.ai_addr, a.pointee.ai_addrlen))]:\(port)"
                                       : "\(numericHost(a.pointee.ai_addr, a.pointee.ai_addrlen)):\(port)"
            out.append(Address(storage: st, length: a.pointee.ai_addrlen, family: fam, text: text))
            p = a.pointee.ai_next
        }
        if out.isEmpty { throw RESPError(.dns, "cannot resolve '\(host)': no address") }
        return out
    }

    static func numericHost(_ sa: UnsafePointer<sockaddr>, _ len: socklen_t) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        if getnameinfo(sa, len, &buf, 64, nil, 0, NI_NUMERICHOST) != 0 { return "?" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func unixAddress(_ path: String) throws(RESPError) -> Address {
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let cap = MemoryLayout.size(ofValue: sun.sun_path)
        guard bytes.count < cap else {
            throw RESPError(.badURL, "unix socket path longer than \(cap - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        var st = sockaddr_storage()
        withUnsafeMutableBytes(of: &st) { dst in
            withUnsafeBytes(of: &sun) { dst.copyMemory(from: $0) }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return Address(storage: st, length: len, family: AF_UNIX, text: path)
    }

    /// A non-blocking, close-on-exec stream socket with connect() started.
    /// Returns the fd and whether the connect already completed.
    static func startConnect(_ a: Address) -> (fd: Int32, done: Bool, err: Int32) {
        let fd = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return (-1, false, errno) }
        if a.family != AF_UNIX {
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var st = a.storage
        let rc = withUnsafePointer(to: &st) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, a.length) }
        }
        if rc == 0 { return (fd, true, 0) }
        let e = errno
        if e == EINPROGRESS || e == EINTR || (a.family == AF_UNIX && e == EAGAIN) {
            // EAGAIN on a unix socket: the listen backlog is full; treat as in progress.
            return (fd, false, e == EAGAIN ? EAGAIN : 0)
        }
        Glibc.close(fd)
        return (-1, false, e)
    }

    /// Zero-timeout poll: is `fd` ready for `events`?
    static func ready(_ fd: Int32, _ events: Int16) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        return poll(&p, 1, 0) > 0
    }

    static func pendingError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { return errno }
        return err
    }

    /// Is `s` a numeric IPv4/IPv6 address (no SNI for those)?
    static func isIPLiteral(_ s: String) -> Bool {
        var buf = in6_addr()
        return inet_pton(AF_INET, s, &buf) == 1 || inet_pton(AF_INET6, s, &buf) == 1
    }
}
