/// What each command does, from the server's `COMMAND` (or `COMMAND INFO name...`) reply, so a
/// `--dry-run` layer can refuse writes (docs/ARCHITECTURE.md §6).
///
/// Redis 7 replies one array per command: name, arity, flags (e.g. `write`, `readonly`,
/// `admin`), first key, last key, step, ACL categories, tips, key specs, subcommands (each in
/// the same shape, named `config|set`). When COMMAND is unavailable or says nothing useful
/// (DragonflyDB, a renamed/disabled COMMAND), `fallback` classifies from a static list.
///
/// Unknown commands count as writes: refusing too much under --dry-run is the safe side.
public struct RESPCommandTable: Sendable, Equatable {
    public struct Command: Sendable, Equatable {
        public var name: String          // lower case; subcommands as "config|set"
        public var arity: Int
        public var flags: Set<String>
        public var isWrite: Bool { flags.contains("write") }
    }
    public private(set) var commands: [String: Command] = [:]
    /// True when built from the static list (no COMMAND reply).
    public private(set) var isFallback: Bool

    public init(commands: [String: Command] = [:], isFallback: Bool = false) {
        self.commands = commands; self.isFallback = isFallback
    }

    /// Parses a COMMAND / COMMAND INFO reply (RESP2 or RESP3 shapes). Null entries (unknown
    /// names in COMMAND INFO) are skipped. Returns nil when the reply has no usable entry.
    public static func parse(_ reply: RESPValue) -> RESPCommandTable? {
        guard let entries = reply.elements else { return nil }
        var t = RESPCommandTable()
        for e in entries { add(e, to: &t) }
        return t.commands.isEmpty ? nil : t
    }

    private static func add(_ e: RESPValue, to t: inout RESPCommandTable) {
        guard let f = e.elements, f.count >= 3, let name = f[0].string?.lowercased() else { return }
        let flags = Set((f[2].elements ?? []).compactMap { $0.string?.lowercased() })
        t.commands[name] = Command(name: name, arity: Int(f[1].int ?? 0), flags: flags)
        if f.count >= 10, let subs = f[9].elements {
            for s in subs { add(s, to: &t) }
        }
    }

    /// Whether `name` (with its first argument, for container commands like CONFIG SET)
    /// changes data or server state. Unknown commands answer true.
    public func isWrite(_ name: String, subcommand: String? = nil) -> Bool {
        let n = name.lowercased()
        // a read-only subcommand the server's table may not list (Sentinel's SENTINEL REPLICAS)
        if let s = subcommand, let reads = RESPCommandTable.readSubcommands[n], reads.contains(s.lowercased()) { return false }
        if let s = subcommand, let c = commands[n + "|" + s.lowercased()] { return RESPCommandTable.writes(c) }
        if let c = commands[n] {
            // A container whose subcommand is unknown: judge the container's own flags only if
            // it has no subcommands listed.
            return RESPCommandTable.writes(c)
        }
        return RESPCommandTable.fallbackIsWrite(n, subcommand: subcommand)
    }

    private static func writes(_ c: Command) -> Bool {
        if c.flags.contains("write") { return true }
        if c.flags.contains("readonly") { return false }
        // Neither flag (admin, scripting, connection and container commands): harmless ones
        // are known; admin ones are refused; the rest are judged by the static list.
        let base = c.name.split(separator: "|").first.map(String.init) ?? c.name
        let sub = c.name.contains("|") ? c.name.split(separator: "|").last.map(String.init) : nil
        if sub == nil && harmless.contains(base) { return false }
        if let s = sub, let reads = readSubcommands[base], reads.contains(s) { return false }
        if c.flags.contains("admin") { return true }
        return fallbackIsWrite(base, subcommand: sub)
    }

    /// True for what `--dry-run` refuses: writes, and every EVAL/FCALL (a script may write).
    public func refusedUnderDryRun(_ name: String, subcommand: String? = nil) -> Bool {
        let n = name.lowercased()
        if RESPCommandTable.scriptCommands.contains(n) { return true }
        return isWrite(n, subcommand: subcommand)
    }

    static let scriptCommands: Set<String> = ["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]

    /// Commands with neither write nor readonly flag that change nothing.
    static let harmless: Set<String> = [
        "ping", "echo", "info", "time", "lastsave", "role", "hello", "auth", "select", "quit", "reset",
        "multi", "exec", "discard", "watch", "unwatch", "client", "command", "slowlog", "latency", "memory",
        "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "monitor",
    ]

    /// A static table for servers without a usable COMMAND reply.
    public static var fallback: RESPCommandTable { RESPCommandTable(isFallback: true) }

    static let readCommands: Set<String> = Set(RESPRetryPolicy.readOnly.map { $0.lowercased() }).union(harmless).union([
        "object", "xinfo", "pubsub", "dbsize", "sort_ro", "bitfield_ro", "georadius_ro", "georadiusbymember_ro",
        "strlen", "exists", "type", "ttl", "pttl", "keys",
    ])

    static let readSubcommands: [String: Set<String>] = [
        "config": ["get"], "client": ["list", "info", "getname", "id", "setname", "tracking", "trackinginfo"],
        "slowlog": ["get", "len"], "memory": ["usage", "stats", "doctor", "malloc-stats"],
        "object": ["encoding", "freq", "idletime", "refcount", "help"], "xinfo": ["stream", "groups", "consumers", "help"],
        "command": ["info", "count", "docs", "list", "getkeys"], "script": ["exists"], "function": ["list", "stats", "dump"],
        "latency": ["latest", "history", "doctor", "graph"], "acl": ["whoami", "list", "users", "getuser", "cat", "log"],
        "cluster": ["info", "nodes", "slots", "shards", "myid", "keyslot", "countkeysinslot"], "pubsub": ["channels", "numsub", "numpat", "shardchannels"],
        "sentinel": ["get-master-addr-by-name", "replicas", "slaves", "masters", "master", "sentinels", "ckquorum", "myid", "info-cache"],
    ]

    static func fallbackIsWrite(_ n: String, subcommand: String?) -> Bool {
        if let subs = readSubcommands[n] {
            guard let s = subcommand else { return n == "config" || n == "script" || n == "function" || n == "acl" || n == "cluster" }
            return !subs.contains(s.lowercased())
        }
        if scriptCommands.contains(n) { return true }
        return !readCommands.contains(n)
    }

    public static func fallbackIsWriteCommand(_ name: String, subcommand: String? = nil) -> Bool {
        fallbackIsWrite(name.lowercased(), subcommand: subcommand)
    }
}
