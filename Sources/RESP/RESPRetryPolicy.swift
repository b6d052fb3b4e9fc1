/// When a failed command may be sent again on a new connection, and how long to wait.
///
/// Only commands that cannot change data are re-sent (a write whose reply was lost may or may
/// not have run). The allow-list is explicit: a command not on it is never re-sent.
public struct RESPRetryPolicy: Sendable, Equatable {
    /// Tries in all (connect attempts for a reconnect; sends for a resendable command).
    public var maxAttempts: Int
    /// Backoff before try n+1: initial * 2^(n-1), capped at `maxBackoff` (seconds).
    public var initialBackoff: Double
    public var maxBackoff: Double

    public init(maxAttempts: Int = 3, initialBackoff: Double = 0.05, maxBackoff: Double = 1) {
        self.maxAttempts = maxAttempts; self.initialBackoff = initialBackoff; self.maxBackoff = maxBackoff
    }

    public func backoff(attempt: Int) -> Double {
        var d = initialBackoff
        var i = 1
        while i < attempt && d < maxBackoff { d *= 2; i += 1 }
        return min(d, maxBackoff)
    }

    /// Read-only commands (no subcommand needed).
    public static let readOnly: Set<String> = [
        "PING", "ECHO", "TIME", "INFO", "DBSIZE", "LASTSAVE", "ROLE", "RANDOMKEY", "KEYS", "SCAN",
        "GET", "MGET", "STRLEN", "GETRANGE", "SUBSTR", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME",
        "GETBIT", "BITCOUNT", "BITPOS", "LCS",
        "HGET", "HMGET", "HGETALL", "HKEYS", "HVALS", "HLEN", "HEXISTS", "HSTRLEN", "HSCAN", "HRANDFIELD",
        "LRANGE", "LLEN", "LINDEX", "LPOS",
        "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SSCAN", "SRANDMEMBER", "SINTER", "SUNION", "SDIFF", "SINTERCARD",
        "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZSCORE",
        "ZMSCORE", "ZCARD", "ZCOUNT", "ZLEXCOUNT", "ZRANK", "ZREVRANK", "ZSCAN", "ZRANDMEMBER", "ZINTER", "ZUNION",
        "ZDIFF", "ZINTERCARD",
        "XRANGE", "XREVRANGE", "XLEN", "XREAD", "XPENDING",
        "PFCOUNT", "GEOPOS", "GEODIST", "GEOHASH", "GEOSEARCH", "GEORADIUS_RO", "GEORADIUSBYMEMBER_RO",
        "DUMP", "TOUCH",
    ]

    /// Read-only subcommands of container commands ("CONFIG GET", ...).
    public static let readOnlySubcommands: [String: Set<String>] = [
        "CONFIG": ["GET"],
        "CLIENT": ["LIST", "INFO", "GETNAME", "ID"],
        "SLOWLOG": ["GET", "LEN"],
        "MEMORY": ["USAGE", "STATS", "DOCTOR"],
        "OBJECT": ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"],
        "XINFO": ["STREAM", "GROUPS", "CONSUMERS"],
        "COMMAND": ["INFO", "COUNT", "DOCS", "LIST", "GETKEYS"],
        "SCRIPT": ["EXISTS"],
        "FUNCTION": ["LIST", "STATS"],
        "LATENCY": ["LATEST", "HISTORY", "DOCTOR"],
        "ACL": ["WHOAMI", "LIST", "USERS", "GETUSER", "CAT"],
        "CLUSTER": ["INFO", "NODES", "SLOTS", "SHARDS"],
    ]

    /// True when re-sending `name` (with `subcommand` for container commands) cannot change data.
    public static func isSafeToResend(_ name: String, subcommand: String? = nil) -> Bool {
        let n = name.uppercased()
        if readOnly.contains(n) { return true }
        if n == "COMMAND" && subcommand == nil { return true }
        if let subs = readOnlySubcommands[n], let s = subcommand { return subs.contains(s.uppercased()) }
        return false
    }

    /// Whether re-sending `cmd` cannot change data.
    public static func isSafeToResend(_ cmd: [RESPArgument]) -> Bool {
        guard let first = cmd.first else { return false }
        return isSafeToResend(first.text, subcommand: cmd.count > 1 ? cmd[1].text : nil)
    }
}
