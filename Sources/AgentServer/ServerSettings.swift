import Engine
import Glibc
import LuaRuntime

/// What the agent reads from opsh's configuration (config.lua, .env, environment, --set):
/// docs/agent.md lists each key. A reload (SIGHUP) makes a new value of this type and applies
/// it only when every key is valid.
public struct ServerSettings: Sendable, Equatable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 8000
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var redisURL = "redis://localhost:6379"
    public var qdrantURL = "http://localhost:6333"
    public var qdrantAPIKey: String?
    /// Endpoints served without a key (default /health and /metrics).
    public var openEndpoints: [String] = ["/health", "/metrics"]
    /// Requests a second per user (key) and per client address; bursts of twice that.
    public var rateLimitPerKey = 50.0
    public var rateLimitPerAddress = 100.0
    public var maxBodyBytes = 65_536
    /// Seconds a client has to send a request's body once its headers arrived.
    public var bodyTimeout = 10.0
    /// Seconds an open connection may stay without a request.
    public var idleTimeout = 60.0
    public var maxConnections = 512
    /// Seconds a verified key is remembered (0: every request asks Redis).
    public var keyCacheSeconds = 5.0
    /// Seconds SIGTERM waits for running work before the agent exits anyway.
    public var gracePeriod = 30.0
    public var poolMax = 10
    /// The history database (runs, the audit trail, the pools' snapshots): the scheduler's
    /// (agent_history_db, else state_dir/agent.db), set by ServerMain.load.
    public var historyDatabase: String
    public var roles = RoleMatrix()
    /// Where the pools' predictors are saved and loaded (pool_state_dir).
    public var poolStateDir: String
    /// Seconds between two CPU samples (agent_cpu_sample_interval; 0: none), written to
    /// state_dir/cpu for `opsh run system/resources` on this host (docs/agent.md "CPU samples").
    public var cpuSampleInterval = 5.0
    public var cpuSampleDirectory: String

    public static func defaultStateDirectory() -> String {
        (getenvString("XDG_STATE_HOME") ?? ((getenvString("HOME") ?? ".") + "/.local/state")) + "/opsh"
    }

    public init() {
        historyDatabase = Self.defaultStateDirectory() + "/agent.db"
        poolStateDir = Self.defaultStateDirectory() + "/pool"
        cpuSampleDirectory = Self.defaultStateDirectory() + "/cpu"
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the settings from a resolved configuration; a bad value is an error naming its key.
    public init(_ c: Configuration) throws(Invalid) {
        self.init()
        var table: [String: LuaValue] = [:]
        for e in c.values { table[e.key] = e.value }
        func text(_ k: String) throws(Invalid) -> String? {
            guard let v = table[k], v != .nil else { return nil }
            guard let s = v.text, !s.isEmpty else { throw Invalid(description: "\(k): must be a non-empty string") }
            return s
        }
        func number(_ k: String, min: Double, max: Double = .greatestFiniteMagnitude) throws(Invalid) -> Double? {
            guard let v = table[k], v != .nil else { return nil }
            let d: Double?
            switch v {
            case .integer(let i): d = Double(i)
            case .number(let x): d = x
            case .string: d = v.text.flatMap(Double.init)
            default: d = nil
            }
            guard let d, d.isFinite, d >= min, d <= max else { throw Invalid(description: "\(k): must be a number from \(min) to \(max)") }
            return d
        }
        if let l = try text("agent_listen") {
            let (h, p) = try Self.parseListen(l, key: "agent_listen")
            listenHost = h; listenPort = p
        }
        tlsCertificate = try text("agent_tls_certificate")
        tlsKey = try text("agent_tls_key")
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw Invalid(description: "agent_tls_certificate and agent_tls_key: give both (TLS) or neither (plain HTTP)")
        }
        if let v = try text("redis_url") { redisURL = v }
        if let v = try text("qdrant_url") { qdrantURL = v }
        switch table["agent_open_endpoints"] {
        case nil, .nil?: break
        case .map(let m)? where m.isEmpty: openEndpoints = []   // {}: every endpoint needs a key
        case .array(let items)? where items.allSatisfy({ $0.text?.hasPrefix("/") == true }): openEndpoints = items.compactMap(\.text)
        default: throw Invalid(description: "agent_open_endpoints: must be a list of paths such as {\"/health\", \"/metrics\"} (or {} for none)")
        }
        if let v = try number("agent_rate_limit_per_key", min: 0) { rateLimitPerKey = v }
        if let v = try number("agent_rate_limit_per_address", min: 0) { rateLimitPerAddress = v }
        if let v = try number("agent_max_body_bytes", min: 16, max: 67_108_864) { maxBodyBytes = Int(v) }
        if let v = try number("agent_body_timeout", min: 0.1, max: 3600) { bodyTimeout = v }
        if let v = try number("agent_idle_timeout", min: 1, max: 86400) { idleTimeout = v }
        if let v = try number("agent_max_connections", min: 1, max: 100_000) { maxConnections = Int(v) }
        if let v = try number("agent_key_cache_seconds", min: 0, max: 3600) { keyCacheSeconds = v }
        if let v = try number("agent_grace_period", min: 0, max: 86400) { gracePeriod = v }
        if let v = try number("agent_pool_max", min: 1, max: 1000) { poolMax = Int(v) }
        if let v = try text("pool_state_dir") { poolStateDir = v }
        if let v = try text("state_dir") { cpuSampleDirectory = v + "/cpu" }
        if let v = try number("agent_cpu_sample_interval", min: 0, max: 3600) {
            // a sample under a second old is never used (a run's own 0.15 s interval is as good)
            guard v == 0 || v >= 1 else { throw Invalid(description: "agent_cpu_sample_interval: must be 0 (no samples) or from 1 to 3600 seconds") }
            cpuSampleInterval = v
        }
        if let v = table["roles"], v != .nil { roles = try Self.roles(v) }
    }

    /// `roles` as stdlib/opsh/users.lua reads it: role = {perms...} or {permissions = {...}}, or false.
    static func roles(_ v: LuaValue) throws(Invalid) -> RoleMatrix {
        guard case .map(let m) = v else {
            if case .array(let a) = v, a.isEmpty { return RoleMatrix() }
            throw Invalid(description: "roles: must be a table of role = {permissions...} or false")
        }
        var o: [String: RoleMatrix.RoleOverride] = [:]
        for (k, spec) in m {
            guard let role = k.text else { continue }
            switch spec {
            case .boolean(false): o[role] = .remove
            case .array(let perms): o[role] = .permissions(perms.compactMap(\.text))
            case .map(let t):
                if case .array(let perms)? = t[.string("permissions")] { o[role] = .permissions(perms.compactMap(\.text)) }
                else if t.isEmpty { o[role] = .permissions([]) }
                else { throw Invalid(description: "roles.\(role): must be a list of permissions or {permissions = {...}}") }
            default: throw Invalid(description: "roles.\(role): must be a list of permissions, {permissions = {...}} or false")
            }
        }
        return RoleMatrix(overrides: o)
    }

    /// ADDR:PORT ([v6]:PORT for IPv6).
    public static func parseListen(_ s: String, key: String) throws(Invalid) -> (String, Int) {
        var host = "", portText = ""
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            host = String(s[s.index(after: s.startIndex)..<close])
            portText = String(s[s.index(after: close)...].dropFirst())
        } else if let colon = s.lastIndex(of: ":") {
            host = String(s[..<colon]); portText = String(s[s.index(after: colon)...])
        }
        guard !host.isEmpty, let p = Int(portText), p > 0, p < 65536 else {
            throw Invalid(description: "\(key): '\(s)' is not ADDR:PORT (e.g. 127.0.0.1:8000)")
        }
        return (host, p)
    }
}

func getenvString(_ name: String) -> String? {
    guard let p = getenv(name), p.pointee != 0 else { return nil }
    return String(cString: p)
}
