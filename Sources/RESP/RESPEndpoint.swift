/// TLS settings of an endpoint. Verification is on unless `verify` is set to false explicitly.
public struct RESPTLSOptions: Sendable, Equatable {
    /// PEM file of trusted CAs; nil: the system's default trust store.
    public var caFile: String?
    /// PEM certificate chain and private key for client authentication (both or neither).
    public var certFile: String?
    public var keyFile: String?
    /// Verify the server's certificate chain and name. Turning it off is explicit.
    public var verify: Bool
    /// The name sent as SNI and checked against the certificate; nil: the URL's host.
    public var serverName: String?

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                verify: Bool = true, serverName: String? = nil) {
        self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
        self.verify = verify; self.serverName = serverName
    }
}

/// Where and how to connect, as operators write it:
///
/// - `redis://[user:pass@]host[:port][/db]` and `rediss://...` (TLS); IPv6 as `redis://[::1]:6379`
/// - `redis://:pass@host` (password only: `AUTH pass`), user and password percent-decoded
/// - `unix:///path/to.sock?db=1&password=...` (also `redis+unix://` / `redis-socket://`)
/// - query options on any form: `db`, `user`/`username`, `password`, `protocol=3` (RESP3 via
///   HELLO 3; the default is RESP2), `name` (CLIENT SETNAME), and for TLS `ca`, `cert`, `key`,
///   `sni`, `verify=no` (also `ssl_cert_reqs=none`, redis-py's spelling)
///
/// Defaults: port 6379, db 0, RESP2, TLS verified.
public struct RESPEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: UInt16)
        case unix(path: String)
    }
    public var address: Address
    public var username: String?
    public var password: String?
    public var database: Int
    /// nil: plain TCP (or a unix socket).
    public var tls: RESPTLSOptions?
    /// 2 (default) or 3.
    public var protocolVersion: Int
    public var clientName: String?

    public init(address: Address, username: String? = nil, password: String? = nil, database: Int = 0,
                tls: RESPTLSOptions? = nil, protocolVersion: Int = 2, clientName: String? = nil) {
        self.address = address; self.username = username; self.password = password
        self.database = database; self.tls = tls; self.protocolVersion = protocolVersion
        self.clientName = clientName
    }

    public static func tcp(_ host: String, _ port: UInt16 = 6379) -> RESPEndpoint {
        RESPEndpoint(address: .tcp(host: host, port: port))
    }

    public static func unix(_ path: String) -> RESPEndpoint {
        RESPEndpoint(address: .unix(path: path))
    }

    /// The URL with the password replaced by `***` (for logs and messages).
    public var description: String {
        var auth = ""
        if username != nil || password != nil {
            auth = (username ?? "") + (password != nil ? ":***" : "") + "@"
        }
        switch address {
        case .tcp(let h, let p):
            let host = h.contains(":") ? "[\(h)]" : h
            return (tls != nil ? "rediss://" : "redis://") + auth + host + ":\(p)/\(database)"
        case .unix(let path):
            return "unix://" + auth + path + (database != 0 ? "?db=\(database)" : "")
        }
    }

    public init(url: String) throws(RESPError) {
        func bad(_ why: String) -> RESPError { RESPError(.badURL, "invalid Redis URL: \(why)") }
        var rest = Substring(url)
        guard let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") else {
            throw bad("missing scheme (expected redis://, rediss:// or unix://)")
        }
        let scheme = rest[rest.startIndex..<colon].lowercased()
        rest = rest[rest.index(colon, offsetBy: 3)...]
        let isUnix: Bool
        var tls: RESPTLSOptions? = nil
        switch scheme {
        case "redis": isUnix = false
        case "rediss": isUnix = false; tls = RESPTLSOptions()
        case "unix", "redis+unix", "redis-socket": isUnix = true
        default: throw bad("unknown scheme '\(scheme)' (expected redis://, rediss:// or unix://)")
        }
        // Fragment: ignored. Query: options.
        if let h = rest.firstIndex(of: "#") { rest = rest[..<h] }
        var query: [(String, String)] = []
        if let q = rest.firstIndex(of: "?") {
            for part in rest[rest.index(after: q)...].split(separator: "&", omittingEmptySubsequences: true) {
                let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let k = try RESPEndpoint.percentDecode(kv[0], what: "query key")
                let v = kv.count > 1 ? try RESPEndpoint.percentDecode(kv[1], what: "query value") : ""
                query.append((k.lowercased(), v))
            }
            rest = rest[..<q]
        }
        // Userinfo: up to the last '@' before the path.
        var user: String? = nil, pass: String? = nil
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        if let at = rest[rest.startIndex..<authorityEnd].lastIndex(of: "@") {
            let info = rest[rest.startIndex..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                let u = try RESPEndpoint.percentDecode(info[info.startIndex..<colon], what: "user name")
                user = u.isEmpty ? nil : u
                pass = try RESPEndpoint.percentDecode(info[info.index(after: colon)...], what: "password")
            } else if !info.isEmpty {
                // redis://secret@host: a lone word is the password (redis-py, redis-cli -u).
                pass = try RESPEndpoint.percentDecode(info, what: "password")
            }
        }
        var db = 0
        var address: Address
        if isUnix {
            let path = try RESPEndpoint.percentDecode(rest, what: "socket path")
            guard path.hasPrefix("/") else { throw bad("a unix socket path must be absolute (unix:///path/to.sock)") }
            address = .unix(path: path)
        } else {
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let hostport = rest[rest.startIndex..<slash]
            var path = rest[slash...]
            while path.hasPrefix("/") { path = path.dropFirst() }
            while path.hasSuffix("/") { path = path.dropLast() }
            if !path.isEmpty {
                guard let n = Int(path), n >= 0 else { throw bad("database '\(path)' is not a non-negative number") }
                db = n
            }
            var host: Substring
            var portText: Substring? = nil
            if hostport.hasPrefix("[") {
                guard let close = hostport.firstIndex(of: "]") else { throw bad("unterminated IPv6 address '[...'") }
                host = hostport[hostport.index(after: hostport.startIndex)..<close]
                let after = hostport[hostport.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw bad("unexpected '\(after)' after the IPv6 address") }
                    portText = after.dropFirst()
                }
            } else {
                if let colon = hostport.lastIndex(of: ":") {
                    host = hostport[hostport.startIndex..<colon]
                    portText = hostport[hostport.index(after: colon)...]
                    if host.contains(":") { throw bad("an IPv6 address must be in brackets: redis://[::1]:6379") }
                } else {
                    host = hostport
                }
            }
            guard !host.isEmpty else { throw bad("missing host") }
            var port: UInt16 = 6379
            if let pt = portText {
                guard let p = UInt16(pt), p > 0 else { throw bad("port '\(pt)' is not a number between 1 and 65535") }
                port = p
            }
            address = .tcp(host: try RESPEndpoint.percentDecode(host, what: "host"), port: port)
        }
        var proto = 2
        var name: String? = nil
        for (k, v) in query {
            switch k {
            case "db", "database":
                guard let n = Int(v), n >= 0 else { throw bad("db '\(v)' is not a non-negative number") }
                db = n
            case "password": pass = v
            case "user", "username": user = v.isEmpty ? nil : v
            case "protocol", "resp":
                guard v == "2" || v == "3" else { throw bad("protocol must be 2 or 3, not '\(v)'") }
                proto = v == "3" ? 3 : 2
            case "name", "client_name": name = v
            case "ca", "cacert", "ssl_ca_certs", "tls_ca":
                guard tls != nil else { throw bad("'\(k)' needs rediss://") }
                tls!.caFile = v
            case "cert", "ssl_certfile", "tls_cert":
                guard tls != nil else { throw bad("'\(k)' needs rediss://") }
                tls!.certFile = v
            case "key", "ssl_keyfile", "tls_key":
                guard tls != nil else { throw bad("'\(k)' needs rediss://") }
                tls!.keyFile = v
            case "sni", "server_name":
                guard tls != nil else { throw bad("'\(k)' needs rediss://") }
                tls!.serverName = v
            case "verify", "ssl_cert_reqs", "insecure":
                guard tls != nil else { throw bad("'\(k)' needs rediss://") }
                let lv = v.lowercased()
                if k == "insecure" {
                    tls!.verify = !(lv.isEmpty || ["yes", "true", "1"].contains(lv))
                } else {
                    tls!.verify = !["no", "false", "0", "none", "off"].contains(lv)
                }
            default:
                throw bad("unknown option '\(k)'")
            }
        }
        if let t = tls, (t.certFile == nil) != (t.keyFile == nil) {
            throw bad("a client certificate needs both 'cert' and 'key'")
        }
        self.init(address: address, username: user, password: pass, database: db, tls: tls,
                  protocolVersion: proto, clientName: name)
    }

    static func percentDecode(_ s: Substring, what: String) throws(RESPError) -> String {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while i < u.count {
            if u[i] == UInt8(ascii: "%") {
                guard i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) else {
                    throw RESPError(.badURL, "invalid Redis URL: bad percent-escape in the \(what)")
                }
                out.append(h << 4 | l); i += 3
            } else { out.append(u[i]); i += 1 }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
