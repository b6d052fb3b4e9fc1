/// Redis Cluster's key space: 16384 hash slots, a key's slot the CRC16 (XMODEM) of the key, or
/// of its `{hash tag}` (the bytes between the first `{` and the next `}`, when not empty), mod 16384.
public enum RESPSlots {
    public static let count = 16384

    private static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the one Redis Cluster uses.
    public static func crc16(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        table.withUnsafeBufferPointer { t in
            for b in bytes { crc = (crc << 8) ^ t[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ b)] }
        }
        return crc
    }

    public static func slot(_ key: [UInt8]) -> Int {
        key.withUnsafeBufferPointer { slot($0) }
    }

    public static func slot(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            var close = open + 1
            while close < key.count, key[close] != UInt8(ascii: "}") { close += 1 }
            if close < key.count, close > open + 1 {
                return Int(crc16(UnsafeBufferPointer(rebasing: key[(open + 1)..<close]))) & (count - 1)
            }
        }
        return Int(crc16(key)) & (count - 1)
    }

    /// The slot of a command argument taken as a key (integers as their decimal text).
    public static func slot(_ a: RESPArgument) -> Int {
        switch a {
        case .bytes(let b): return slot(b)
        case .string(var s): return s.withUTF8 { slot($0) }
        default: return slot(Array(a.text.utf8))
        }
    }
}

/// Where a command's keys are, so a cluster client can route it: the argument indices of its
/// keys. Commands are known by name (the server's COMMAND key specs, written down for the
/// commands operators send); an unknown command is taken to have its key first, as most do.
public enum RESPKeys {
    /// What a command means for routing.
    public enum Route: Equatable {
        /// Any node can answer (PING, ECHO, TIME): the first primary gets it.
        case anyNode
        /// The keys at these argument indices (all must hash to one slot).
        case keys([Int])
        /// It means the whole data set or every node's state (DBSIZE, FLUSHDB, INFO, KEYS,
        /// SCRIPT LOAD): sent to every primary, replies combined by the caller.
        case everyPrimary
        /// A cluster client cannot send it (a connection state that would hold on one node
        /// only: SELECT, MULTI without keys, SUBSCRIBE...): the reason.
        case refused(String)
    }

    private static let firstKeyIndex = [1]

    /// Keys from argument 1 to the end.
    private static let allKeys: Set<String> = [
        "DEL", "UNLINK", "EXISTS", "TOUCH", "MGET", "WATCH", "SINTER", "SUNION", "SDIFF", "SINTERSTORE",
        "SUNIONSTORE", "SDIFFSTORE", "PFCOUNT", "PFMERGE",
    ]
    /// Keys at 1 and 2 (source and destination).
    private static let twoKeys: Set<String> = ["RENAME", "RENAMENX", "RPOPLPUSH", "LMOVE", "BLMOVE", "SMOVE", "COPY",
                                               "GEOSEARCHSTORE", "ZRANGESTORE", "LCS"]
    /// Blocking pops: keys from 1 to the one before the timeout.
    private static let blockingAllButLast: Set<String> = ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"]
    /// numkeys at index 2, keys after it (EVAL script numkeys key...).
    private static let numkeysAt2: Set<String> = ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"]
    /// numkeys at index 1, keys after it (ZINTER numkeys key...).
    private static let numkeysAt1: Set<String> = ["ZINTER", "ZUNION", "ZDIFF", "ZINTERCARD", "SINTERCARD", "LMPOP", "ZMPOP"]
    /// destination at 1, numkeys at 2, keys after it.
    private static let storeNumkeys: Set<String> = ["ZINTERSTORE", "ZUNIONSTORE", "ZDIFFSTORE"]
    /// timeout at 1, numkeys at 2, keys after it.
    private static let blockingNumkeys: Set<String> = ["BLMPOP", "BZMPOP"]
    private static let anyNode: Set<String> = [
        "PING", "ECHO", "TIME", "COMMAND", "LASTSAVE", "ROLE", "CLUSTER", "CONFIG", "CLIENT", "SLOWLOG",
        "LATENCY", "ACL", "PUBLISH", "PUBSUB", "DEBUG", "READONLY", "READWRITE", "AUTH", "HELLO", "QUIT",
        "UNWATCH", "DISCARD", "EXEC", "MULTI", "RESET", "WAIT", "LOLWUT", "MODULE", "SAVE", "BGSAVE", "BGREWRITEAOF",
    ]
    private static let everyPrimary: Set<String> = ["DBSIZE", "FLUSHDB", "FLUSHALL", "INFO", "KEYS", "RANDOMKEY", "SCAN",
                                                    "SCRIPT", "FUNCTION"]
    private static let refusedCommands: [String: String] = [
        "SELECT": "a cluster has only database 0",
        "SWAPDB": "a cluster has only database 0",
        "MOVE": "a cluster has only database 0",
        "SUBSCRIBE": "a subscription holds its connection: use a connection to one node",
        "PSUBSCRIBE": "a subscription holds its connection: use a connection to one node",
        "SSUBSCRIBE": "a subscription holds its connection: use a connection to one node",
        "MONITOR": "MONITOR holds its connection: use a connection to one node",
        "MIGRATE": "MIGRATE names its own target: use a connection to one node",
        "SHUTDOWN": "SHUTDOWN stops one node: use a connection to that node",
        "REPLICAOF": "replication is the cluster's: use a connection to one node",
        "SLAVEOF": "replication is the cluster's: use a connection to one node",
        "FAILOVER": "use CLUSTER FAILOVER on a connection to the replica",
    ]

    /// A name of one to eight ASCII bytes, its letters upper-cased, packed into an integer (first
    /// byte lowest, bit 7 of the last byte set to mark the length): two names pack alike exactly
    /// when they are equal ignoring the case of their letters. Nil when empty, longer or not ASCII.
    @inline(__always)
    static func packedName(_ p: UnsafeRawBufferPointer) -> UInt64? {
        guard p.count > 0 && p.count <= 8 else { return nil }
        var raw: UInt64 = 0
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: p) }
        return folded(UInt64(littleEndian: raw), count: p.count)
    }

    /// `packedName` of the `count` bytes in `v` (first byte lowest, the rest zero).
    @inline(__always)
    private static func folded(_ v: UInt64, count n: Int) -> UInt64? {
        guard v & 0x8080_8080_8080_8080 == 0 else { return nil }
        // bit 7 of each byte from "a" to "z": at least "a" (0x61 + 0x1F reaches 0x80) and not
        // beyond "z" (0x7B + 0x05 reaches it); no byte carries into the next, all being below 0x80
        let lower = (v &+ 0x1F1F_1F1F_1F1F_1F1F) & ~(v &+ 0x0505_0505_0505_0505) & 0x8080_8080_8080_8080
        return (v &- (lower >> 2)) | (0x80 << (8 * UInt64(n - 1)))
    }

    /// `packedName` of a name known to have at most eight bytes.
    static func packedName(name: String) -> UInt64 {
        Array(name.utf8).withUnsafeBytes { packedName($0)! }
    }

    static func packedName(_ a: RESPArgument) -> UInt64? {
        switch a {
        case .string(let s):
            return s.utf8.withContiguousStorageIfAvailable { packedName(UnsafeRawBufferPointer($0)) } ?? Array(s.utf8).withUnsafeBytes { packedName($0) }
        case .bytes(let b): return b.withUnsafeBytes { packedName($0) }
        case .int, .double: return nil
        }
    }

    /// The common commands whose one key is argument 1, GET and SET first, packed by
    /// `packedName`: recognised with integer compares, without upper-casing a String (which
    /// cost more than the rest of the routing: BENCHMARKS.md, Redis Cluster).
    private static let firstKeyCommands: [UInt64] = [
        "GET", "SET", "INCR", "DECR", "INCRBY", "DECRBY", "EXPIRE", "TTL", "HGET", "HSET", "HGETALL", "LPUSH",
        "RPUSH", "SADD", "ZADD", "TYPE", "PEXPIRE", "PTTL", "GETDEL", "SETEX", "HINCRBY", "HDEL", "LRANGE", "XADD",
    ].map { packedName(name: $0) }

    /// The slot of a command whose one key is argument 1 (GET, SET and the other common
    /// commands of `firstKeyCommands`); nil for every other command, which `route` then routes.
    /// The common case without a key list made.
    public static func firstKeySlot(_ cmd: [RESPArgument]) -> Int? {
        guard cmd.count > 1, let packed = packedName(cmd[0]), firstKeyCommands.contains(packed) else { return nil }
        return RESPSlots.slot(cmd[1])
    }

    /// The route of `cmd` (its name upper-cased once).
    public static func route(_ cmd: [RESPArgument]) -> Route {
        guard let first = cmd.first else { return .anyNode }
        let n = cmd.count
        if let packed = packedName(first), firstKeyCommands.contains(packed) { return n > 1 ? .keys(firstKeyIndex) : .anyNode }
        let name = first.text.uppercased()
        if anyNode.contains(name) { return .anyNode }
        if everyPrimary.contains(name) { return .everyPrimary }
        if let why = refusedCommands[name] { return .refused("\(name): \(why)") }
        if twoKeys.contains(name) { return .keys(Array(1..<min(3, n))) }
        if allKeys.contains(name) { return n > 1 ? .keys(Array(1..<n)) : .anyNode }
        if blockingAllButLast.contains(name) { return n > 2 ? .keys(Array(1..<(n - 1))) : .anyNode }
        switch name {
        case "MSET", "MSETNX":
            return .keys(Array(stride(from: 1, to: n, by: 2)))
        case "BRPOPLPUSH", "BLMOVE":
            return .keys(Array(1..<min(3, n)))
        case "OBJECT", "MEMORY", "XINFO":
            // a subcommand, then the key (MEMORY STATS, OBJECT HELP have none)
            if name == "MEMORY", n > 1, cmd[1].text.uppercased() != "USAGE" { return .anyNode }
            return n > 2 ? .keys([2]) : .anyNode
        case "XGROUP":
            return n > 2 ? .keys([2]) : .anyNode
        case "XREAD", "XREADGROUP":
            // ... STREAMS key... id...: the first half after STREAMS
            guard let s = cmd.firstIndex(where: { $0.text.uppercased() == "STREAMS" }) else { return .anyNode }
            let rest = n - s - 1
            return rest >= 2 ? .keys(Array((s + 1)..<(s + 1 + rest / 2))) : .anyNode
        default: break
        }
        func numkeys(at i: Int, extra: [Int] = []) -> Route {
            guard n > i, let k = Int(cmd[i].text), k >= 0, i + k < n else { return .keys(extra) }
            return .keys(extra + Array((i + 1)..<(i + 1 + k)))
        }
        if numkeysAt2.contains(name) {
            // a script without keys runs anywhere
            if case .keys(let k) = numkeys(at: 2), !k.isEmpty { return .keys(k) }
            return .anyNode
        }
        if numkeysAt1.contains(name) { return numkeys(at: 1) }
        if storeNumkeys.contains(name) { return numkeys(at: 2, extra: [1]) }
        if blockingNumkeys.contains(name) { return numkeys(at: 2) }
        return n > 1 ? .keys([1]) : .anyNode
    }

    /// The one slot of `cmd`'s keys; nil when it has none; throws when they span slots.
    public static func slot(of cmd: [RESPArgument], keys: [Int]) throws(RESPError) -> Int? {
        guard let first = keys.first else { return nil }
        let s = RESPSlots.slot(cmd[first])
        if keys.count == 1 { return s }
        for k in keys.dropFirst() where RESPSlots.slot(cmd[k]) != s {
            throw RESPError(.cluster, "\(cmd[0].text.uppercased()): its keys are in different hash slots (\(cmd[first].text) in \(s), "
                + "\(cmd[k].text) in \(RESPSlots.slot(cmd[k]))); a cluster runs a multi-key command only within one slot: "
                + "give the keys a common {hash tag}")
        }
        return s
    }
}
