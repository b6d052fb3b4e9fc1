import OpshCrypto
import RESP
import Synchronization

/// Who made a request: a user of opsh's user store (stdlib/opsh/users.lua: `user:<name>`
/// hashes, the `apikey:<sha256>` index) and the permissions of the user's role.
public struct Principal: Sendable, Equatable {
    public let name: String
    public let role: String
    public let permissions: [String]
}

/// The roles and their permissions: the guide's matrix (User and Access Management /
/// Role-Based Access Control), with the configuration's `roles` table on top, exactly as
/// `opsh.users.roles()` reads it: a role listed there replaces that role's permissions (a list,
/// or `{permissions = {...}}`), `false` removes a role, the others stay.
public struct RoleMatrix: Sendable, Equatable {
    public static let defaults: [(String, [String])] = [
        ("admin", ["read_collections", "write_collections", "delete_collections", "manage_users", "view_metrics", "system_config"]),
        ("operator", ["read_collections", "view_metrics", "restart_services", "backup_restore"]),
        ("viewer", ["read_collections", "view_metrics"]),
    ]
    public private(set) var roles: [String: [String]]

    public init(overrides: [String: RoleOverride] = [:]) {
        var r: [String: [String]] = [:]
        for (role, perms) in Self.defaults { r[role] = perms }
        for (role, o) in overrides {
            switch o {
            case .remove: r[role] = nil
            case .permissions(let p): r[role] = p
            }
        }
        roles = r
    }

    public enum RoleOverride: Sendable, Equatable { case remove, permissions([String]) }

    public func permissions(of role: String) -> [String]? { roles[role] }
}

/// Why a key was refused (never containing the key).
public enum AccessRefusal: Error, Equatable {
    case missing
    case unknownKey
    case disabled(String)
    case unknownRole(String, String)
    case storeUnavailable(String)

    public var message: String {
        switch self {
        case .missing: return "an API key is required: send it in the X-API-Key header"
        case .unknownKey: return "the API key is not valid"
        case .disabled(let name): return "user \(name) is not active"
        case .unknownRole(let name, let role): return "user \(name) has an unknown role '\(role)': no permissions"
        case .storeUnavailable(let why): return "the user store (Redis) cannot be read: \(why)"
        }
    }
}

/// Checks `X-API-Key`: its SHA-256 is looked up in the `apikey:` index, the user's stored hash
/// compared with it in constant time, and the user must be active. A verified key is
/// remembered for `cacheSeconds` (by its hash), so a key checked on every request costs a
/// hash, not two Redis round trips; a disabled user or a replaced key is refused once that
/// time has passed (0: every request asks Redis).
public final class KeyVerifier: @unchecked Sendable {
    public typealias Lookup = @Sendable (_ commands: [[String]]) throws -> [RESPValue]
    struct Entry { let digest: [UInt8]; let principal: Principal; let expires: Double }

    let lookup: Lookup
    let cache = Mutex<[String: Entry]>([:])
    let settings: Mutex<(roles: RoleMatrix, cacheSeconds: Double)>
    let now: @Sendable () -> Double

    public static let maxKeyLength = 1024   // stdlib/opsh/users.lua's MAX_KEY_LEN

    public init(roles: RoleMatrix, cacheSeconds: Double, now: @escaping @Sendable () -> Double, lookup: @escaping Lookup) {
        self.lookup = lookup
        self.settings = Mutex((roles, cacheSeconds))
        self.now = now
    }

    /// A configuration reload: new roles and cache time; what was remembered is forgotten.
    public func reconfigure(roles: RoleMatrix, cacheSeconds: Double) {
        settings.withLock { $0 = (roles, cacheSeconds) }
        cache.withLock { $0.removeAll() }
    }

    /// The key's SHA-256 and its hex (the index's key); nil for a key too long to be one.
    private func digest(_ key: String) -> (bytes: [UInt8], hex: String)? {
        guard key.utf8.count <= Self.maxKeyLength, let sha = try? SHA256() else { return nil }
        sha.update(Array(key.utf8))
        let d = sha.finish()
        return (d, Hex.encode(d))
    }

    private func fromCache(_ d: (bytes: [UInt8], hex: String)) -> Principal? {
        let t = now()
        guard let e = cache.withLock({ $0[d.hex] }), e.expires > t, ConstantTime.equal(e.digest, d.bytes) else { return nil }
        return e.principal
    }

    /// The principal of a key verified within agent_key_cache_seconds, found without any I/O
    /// (the request path asks this first, on its own thread); nil: `verify` must ask Redis.
    public func cached(_ key: String?) -> Principal? {
        guard let key, !key.isEmpty, let d = digest(key) else { return nil }
        return fromCache(d)
    }

    public func verify(_ key: String?) throws(AccessRefusal) -> Principal {
        guard let key, !key.isEmpty else { throw .missing }
        guard let d = digest(key) else { throw .unknownKey }
        let (digest, hex) = (d.bytes, d.hex)
        let (roles, cacheSeconds) = settings.withLock { $0 }
        let t = now()
        if let p = fromCache(d) { return p }
        let name: String
        let fields: [String: String]
        do {
            guard let n = try lookup([["GET", "apikey:" + hex]]).first?.string else { throw AccessRefusal.unknownKey }
            name = n
            let reply = try lookup([["HGETALL", "user:" + n]]).first
            fields = Self.hash(reply)
        } catch let e as AccessRefusal {
            throw e
        } catch {
            throw .storeUnavailable("\(error)")
        }
        // the index may be stale (a replaced key): the user's own hash decides
        guard !fields.isEmpty, ConstantTime.equal(Array((fields["api_key_sha256"] ?? "").utf8), Array(hex.utf8)) else { throw .unknownKey }
        guard fields["status"] == "active" else { throw .disabled(name) }
        let role = fields["role"] ?? ""
        guard let perms = roles.permissions(of: role) else { throw .unknownRole(name, role) }
        let p = Principal(name: name, role: role, permissions: perms)
        if cacheSeconds > 0 {
            cache.withLock { c in
                if c.count > 10_000 { c.removeAll() }   // bounded: keys are few, garbage is not
                c[hex] = Entry(digest: digest, principal: p, expires: t + cacheSeconds)
            }
        }
        return p
    }

    /// An HGETALL reply (RESP2 flat array or RESP3 map) as a dictionary.
    static func hash(_ v: RESPValue?) -> [String: String] {
        var out: [String: String] = [:]
        switch v {
        case .map(let pairs)?:
            for p in pairs { if let k = p.key.string, let val = p.value.string { out[k] = val } }
        case .array(let items?)?:
            var i = 0
            while i + 1 < items.count {
                if let k = items[i].string, let val = items[i + 1].string { out[k] = val }
                i += 2
            }
        default: break
        }
        return out
    }
}
