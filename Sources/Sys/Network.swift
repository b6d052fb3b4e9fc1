import Glibc

/// An address getaddrinfo gave, ready for connect(2).
public struct SocketAddress: Sendable {
    public let family: Int32
    /// "127.0.0.1", "::1".
    public let numeric: String
    let storage: [UInt8]
}

/// What resolving a name gave, and how long it took.
public struct Resolution: Sendable {
    public let host: String
    /// Each address once, in getaddrinfo's order (the order a client tries them in).
    public let addresses: [SocketAddress]
    public let seconds: Double

    public init(host: String, addresses: [SocketAddress], seconds: Double) {
        self.host = host
        self.addresses = addresses
        self.seconds = seconds
    }
}

public enum Network {
    /// Resolves `host` with getaddrinfo (the system resolver: /etc/hosts, DNS, nsswitch), as a
    /// client would before connecting. It blocks: from an event loop, run it on a thread.
    public static func resolve(_ host: String) throws(SysReadError) -> Resolution {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let start = SystemClock.monotonic()
        let rc = getaddrinfo(host, nil, &hints, &list)
        let seconds = SystemClock.monotonic() - start
        guard rc == 0 else {
            let code = rc == EAI_NONAME || rc == -5 /* EAI_NODATA (GNU) */ ? "not_found" : rc == EAI_AGAIN ? "temporary" : "resolve"
            let why = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            throw SysReadError(code: code, message: "cannot resolve \(host): \(why)")
        }
        defer { freeaddrinfo(list) }
        var out: [SocketAddress] = []
        var p = list
        while let a = p?.pointee {
            p = a.ai_next
            guard let sa = a.ai_addr, a.ai_family == AF_INET || a.ai_family == AF_INET6 else { continue }
            let bytes = Array(UnsafeRawBufferPointer(start: sa, count: Int(a.ai_addrlen)))
            guard let text = numeric(sockaddr: bytes, family: a.ai_family), !out.contains(where: { $0.numeric == text }) else { continue }
            out.append(SocketAddress(family: a.ai_family, numeric: text, storage: bytes))
        }
        return Resolution(host: host, addresses: out, seconds: seconds)
    }

    /// An address given as text ("127.0.0.1", "::1") without asking any resolver; nil for a name.
    public static func literal(_ host: String) -> SocketAddress? {
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            return SocketAddress(family: AF_INET, numeric: host, storage: withUnsafeBytes(of: v4) { Array($0) })
        }
        var v6 = sockaddr_in6()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if inet_pton(AF_INET6, bare, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            return SocketAddress(family: AF_INET6, numeric: bare, storage: withUnsafeBytes(of: v6) { Array($0) })
        }
        return nil
    }

    /// Text for 4 or 16 address bytes in network order.
    static func numeric(_ bytes: [UInt8]) -> String? {
        let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
        guard family >= 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard bytes.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }) != nil else { return nil }
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func numeric(sockaddr bytes: [UInt8], family: Int32) -> String? {
        bytes.withUnsafeBytes { raw -> String? in
            if family == AF_INET {
                return numeric(withUnsafeBytes(of: raw.loadUnaligned(as: sockaddr_in.self).sin_addr) { Array($0) })
            }
            return numeric(withUnsafeBytes(of: raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr) { Array($0) })
        }
    }
}
