import EventLoop
import LuaRuntime
import Pool
import RESP

/// `opsh.redis`: Redis and DragonflyDB as Lua sees them. A thin binding over `RESPSession`
/// (Sources/RESP), which does the protocol, the reconnects and the transaction state; calls run
/// on the VM's event loop, so a call inside a task suspends only that task (docs/ARCHITECTURE.md §2).
/// This file turns arguments into commands and replies into Lua values, and nothing else.
public enum RedisModule {
    static let connectionType = "opsh.redis.connection"
    static let pipelineType = "opsh.redis.pipeline"
    static let defaultTimeout = 5.0

    /// One Lua connection object. Calls on it run one at a time: replies arrive in
    /// order, so a second task using the same connection meanwhile gets an error.
    final class Connection: LuaClosable, CustomStringConvertible {
        /// The session commands go to. For a cluster: the first seed's (its endpoint and script
        /// cache); through Sentinel: the current primary's, once one was found.
        var session: RESPSession { sentinel?.primary ?? base }
        private let base: RESPSession
        /// Set for redis.cluster: commands are routed by RESPCluster over one session per node.
        let cluster: RESPCluster?
        /// Set for redis.sentinel: commands go to the primary RESPSentinel found.
        let sentinel: RESPSentinel?
        var commandTable = RESPCommandTable.fallback
        var info: RESPInfo?
        /// Lent by a pool (opsh.pool): closing it leaves the session to the pool, and once the
        /// lease is given back (`revoked`) the object refuses every call.
        let borrowed: Bool
        var revoked = false
        /// The last call's failure and error reply, for the pool's breaker.
        var lastError: RESPError?
        var lastErrorReply: RESPValue?
        /// A call was sent and its end not seen (its task was cancelled): replies may be owed.
        var inFlight = false

        init(session: RESPSession, borrowed: Bool = false, cluster: RESPCluster? = nil, sentinel: RESPSentinel? = nil) {
            base = session; self.borrowed = borrowed; self.cluster = cluster; self.sentinel = sentinel
        }

        var endpoint: RESPEndpoint { session.endpoint }
        var timeout: Double { cluster?.timeout ?? sentinel?.timeout ?? session.timeout }
        var isBusy: Bool { cluster?.isBusy ?? sentinel?.isBusy ?? session.isBusy }
        func close() {
            if borrowed { return }
            if let cluster { cluster.close() } else if let sentinel { sentinel.close() } else { session.close() }
        }
        var description: String { cluster.map { "cluster \($0.seeds.map(\.description).joined(separator: ","))" } ?? "\(endpoint)" }
    }

    /// Commands queued by p:call inside pipeline()/transaction().
    final class Pipeline {
        var commands: [[RESPArgument]] = []
        var open = true
    }

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: connectionType, methods: [
            ("call", call), ("pipeline", pipeline), ("transaction", transaction), ("eval", eval),
            ("scan", scan), ("hscan", hscan), ("sscan", sscan), ("zscan", zscan),
            ("info", info), ("ping", ping), ("is_dragonfly", isDragonfly),
            ("subscribe", subscribe), ("psubscribe", psubscribe), ("monitor", monitor), ("xread", xread),
            ("get", get), ("set", set), ("del", del), ("exists", exists),
            ("expire", expire), ("ttl", ttl), ("type", type),
            ("incr", incr), ("hget", hget), ("hset", hset),
            ("hgetall", hgetall), ("dbsize", dbsize), ("nodes", nodes), ("each_node", eachNode),
        ]))
        lua.vm.register(LuaClass(name: pipelineType, methods: [("call", pipelineCall)]))
        lua.newModule([("connect", connect), ("cluster", cluster), ("sentinel", sentinel), ("parse_info", parseInfo), ("pool", pool)])
        return 1
    }

    // MARK: errors

    static func code(_ e: RESPError) -> String {
        switch e.kind {
        case .badURL: return "bad_url"
        case .dns, .connectRefused, .connect: return "connect"
        case .connectTimeout, .timeout: return "timeout"
        case .tlsUnavailable, .tls, .tlsVerify: return "tls"
        case .protocolError: return "protocol"
        case .io: return "io"
        case .closedByServer, .broken: return "closed"
        case .handshake: return e.serverCode ?? "handshake"
        case .busy: return "busy"
        case .transactionLost: return "transaction_lost"
        case .cluster: return "cluster"
        case .sentinel: return "sentinel"
        }
    }

    static func fail(_ lua: Lua, _ c: Connection?, _ e: RESPError) -> Int32 {
        c?.lastError = e
        var fields: [(String, LuaValue)] = []
        if let c { fields.append(("endpoint", .string(c.endpoint.description))) }
        if let s = e.serverCode { fields.append(("server_code", .string(s))) }
        return lua.failure(code: code(e), message: e.message, fields: fields)
    }

    // MARK: calls on the event loop

    /// Sends `commands` (a pipeline) and reads one reply each; `done` gets them in order.
    /// A failure returns nil, err, or goes to `failed` when given.
    /// On a cluster, `pinned` sends the whole batch to the one node of its keys' slot (MULTI ... EXEC).
    static func exchange(_ lua: Lua, _ c: Connection, _ commands: [[RESPArgument]], pinned: Bool = false,
                         failed: ((Lua, RESPError) -> Int32)? = nil,
                         done: @escaping (Lua, [RESPValue]) -> Int32) -> Int32 {
        if c.isBusy { return inUse(lua) }
        if let cl = c.cluster {
            return runCall(lua, c, failed: failed, done: done) { loop, finished in
                pinned ? cl.sendPinned(commands, on: loop, finished) : cl.send(commands, on: loop, finished)
            }
        }
        if let sn = c.sentinel {
            return runCall(lua, c, failed: failed, done: done) { loop, finished in sn.send(commands, on: loop, finished) }
        }
        do throws(RESPError) { try c.session.begin(commands) } catch { return (failed ?? { fail($0, c, $1) })(lua, error) }
        return runCall(lua, c, failed: failed, done: done) { loop, finished in c.session.run(on: loop, finished) }
    }

    /// Reads the next message of a stream without sending anything; `done` gets nil once
    /// `until` passes.
    static func receive(_ lua: Lua, _ c: Connection, until: Deadline, done: @escaping (Lua, RESPValue?) -> Int32) -> Int32 {
        if c.isBusy { return inUse(lua) }
        do throws(RESPError) { try c.session.beginReceive(until: until) } catch { return fail(lua, c, error) }
        return runCall(lua, c, failed: nil, done: { lua, replies in done(lua, replies.first) }) { loop, finished in
            c.session.run(on: loop, finished)
        }
    }

    static func inUse(_ lua: Lua) -> Int32 {
        raise(lua, "opsh.redis: this connection is in use by another task (open one connection per task)")
    }

    /// Raises `message` (after this Swift frame has returned).
    static func raise(_ lua: Lua, _ message: String) -> Int32 {
        lua.push(message)
        return LuaStatus.error
    }

    /// Runs a call on the VM's loop (`start` begins it: the session's, or the cluster's). A task
    /// cancelled meanwhile abandons it: the session closes the connection, so the next call
    /// cannot read the old replies.
    static func runCall(_ lua: Lua, _ c: Connection, failed: ((Lua, RESPError) -> Int32)?,
                       done: @escaping (Lua, [RESPValue]) -> Int32,
                       start: @escaping (EventLoop, @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void) -> Int32 {
        final class Outcome { var result: Result<[RESPValue], RESPError>? }
        let out = Outcome()
        let loop = lua.vm.loop
        let wait: NativeWait = .custom(start: { complete in
            start(loop) { r in out.result = r; complete(.ready([])) }
        })
        c.inFlight = true
        // the session keeps the call's deadlines: the wait has none of its own
        return lua.wait(wait, deadline: nil) { lua, _ in
            c.inFlight = false
            switch out.result ?? .failure(RESPError(.broken, "the call on \(c.endpoint) was interrupted")) {
            case .success(let replies): return done(lua, replies)
            case .failure(let e): return (failed ?? { fail($0, c, $1) })(lua, e)
            }
        }
    }

    // MARK: redis.connect

    static let connectOptions = ["url", "host", "port", "db", "username", "password", "name", "protocol", "timeout", "tls"]
    static let tlsOptions = ["ca_file", "cert_file", "key_file", "verify", "server_name"]

    /// redis.connect([url | opts]) -> connection, or nil, err
    static let connect: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var url: String?
            var host: String?, port: Int64?
            var timeout = defaultTimeout
            var protocolVersion: Int?
            var db: Int?
            var username: String?, password: String?, name: String?
            var tls: RESPTLSOptions?
            switch lua.type(at: 1) {
            case .none, .nil: break
            case .string: url = lua.toString(1)
            case .table:
                try lua.checkOptionKeys(1, connectOptions, arg: 1)
                if try lua.optionField(1, "url", .string, arg: 1) { url = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "host", .string, arg: 1) { host = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "port", .number, arg: 1) { port = lua.toInteger(-1) ?? -1; lua.pop() }
                if try lua.optionField(1, "timeout", .number, arg: 1) { timeout = lua.toNumber(-1)!; lua.pop() }
                if try lua.optionField(1, "protocol", .number, arg: 1) { protocolVersion = Int(lua.toInteger(-1) ?? 0); lua.pop() }
                if try lua.optionField(1, "db", .number, arg: 1) { db = Int(lua.toInteger(-1) ?? -1); lua.pop() }
                if try lua.optionField(1, "username", .string, arg: 1) { username = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "password", .string, arg: 1) { password = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "name", .string, arg: 1) { name = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "tls", .table, arg: 1) {
                    var t = RESPTLSOptions()
                    let ti = lua.top
                    try lua.checkOptionKeys(ti, tlsOptions, arg: 1)
                    if try lua.optionField(ti, "ca_file", .string, arg: 1) { t.caFile = lua.toString(-1); lua.pop() }
                    if try lua.optionField(ti, "cert_file", .string, arg: 1) { t.certFile = lua.toString(-1); lua.pop() }
                    if try lua.optionField(ti, "key_file", .string, arg: 1) { t.keyFile = lua.toString(-1); lua.pop() }
                    if try lua.optionField(ti, "verify", .boolean, arg: 1) { t.verify = lua.toBool(-1); lua.pop() }
                    if try lua.optionField(ti, "server_name", .string, arg: 1) { t.serverName = lua.toString(-1); lua.pop() }
                    lua.pop()
                    tls = t
                }
            default:
                throw .type(1, "string or table")
            }
            guard timeout > 0, timeout.isFinite else { throw .argument(1, "timeout must be a positive number of seconds") }
            var endpoint: RESPEndpoint
            if host != nil || port != nil {
                // a server named here is that server: nothing comes from the configured redis_url
                guard url == nil else { throw .argument(1, "give either url or host/port, not both") }
                let p = port ?? 6379, h = host ?? "localhost"
                guard p > 0, p <= 65535 else { throw .argument(1, "port must be between 1 and 65535") }
                guard !h.isEmpty else { throw .argument(1, "host must not be empty") }
                endpoint = .tcp(h, UInt16(p))
            } else {
                let text = url ?? ConfigModule.string(lua, "redis_url") ?? "redis://localhost:6379"
                // the configured redis_url may name a Sentinel service or a cluster: every
                // procedure that connects with it then uses that
                if text.hasPrefix("sentinel://") || text.hasPrefix("redis+sentinel://") {
                    return openSentinel(lua, text, timeout: timeout)
                }
                if text.contains(",") || ConfigModule.bool(lua, "redis_cluster") == true {
                    return openCluster(lua, text, username: username, password: password, timeout, .primary)
                }
                do throws(RESPError) { endpoint = try RESPEndpoint(url: text) } catch {
                    return lua.failure(code: "bad_url", message: error.message)
                }
            }
            if let p = protocolVersion {
                guard p == 2 || p == 3 else { throw .argument(1, "protocol must be 2 or 3") }
                endpoint.protocolVersion = p
            }
            if let db {
                guard db >= 0 else { throw .argument(1, "db must be a non-negative integer") }
                endpoint.database = db
            }
            if let username { endpoint.username = username }
            if let password { endpoint.password = password }
            if let name { endpoint.clientName = name }
            if let tls {
                var t = endpoint.tls ?? RESPTLSOptions()
                t.caFile = tls.caFile ?? t.caFile
                t.certFile = tls.certFile ?? t.certFile
                t.keyFile = tls.keyFile ?? t.keyFile
                t.verify = tls.verify
                t.serverName = tls.serverName ?? t.serverName
                endpoint.tls = t
            }
            return open(lua, endpoint, timeout)
        }
    }

    /// Connects at once, so that a wrong address or password shows at redis.connect.
    static func open(_ lua: Lua, _ endpoint: RESPEndpoint, _ timeout: Double) -> Int32 {
        let c = Connection(session: RESPSession(endpoint: endpoint, connectTimeout: timeout, timeout: timeout))
        // under --dry-run the server's own command flags decide what is a write
        let first: [[RESPArgument]] = lua.dryRun ? [[.string("COMMAND")]] : []
        return exchange(lua, c, first) { lua, replies in
            if let reply = replies.first, let table = RESPCommandTable.parse(reply) { c.commandTable = table }
            lua.push(object: c, type: connectionType)
            return 1
        }
    }

    // MARK: arguments and replies

    /// Arguments from..top as RESP arguments (strings and numbers).
    static func arguments(_ lua: Lua, from first: Int32, through last: Int32? = nil) throws(LuaRaise) -> [RESPArgument] {
        var out: [RESPArgument] = []
        let top = min(lua.top, last ?? lua.top)
        guard top >= first else { return out }
        out.reserveCapacity(Int(top - first + 1))
        for i in first...top {
            switch lua.type(at: i) {
            case .string: out.append(.bytes(Array(lua.toBytes(i)!)))
            case .number:
                if lua.isInteger(i) { out.append(.int(lua.toInteger(i)!)) } else { out.append(.double(lua.toNumber(i)!)) }
            case .boolean: out.append(.string(lua.toBool(i) ? "1" : "0"))
            default: throw .argument(i, "string or number expected, got \(lua.typeName(at: i))")
            }
        }
        return out
    }

    /// Under --dry-run: the commands that would change data are not sent.
    static func refused(_ c: Connection, _ cmd: [RESPArgument]) -> Bool {
        guard let first = cmd.first else { return false }
        let sub = cmd.count > 1 ? cmd[1].text : nil
        return c.commandTable.refusedUnderDryRun(first.text, subcommand: sub)
    }

    static func describe(_ cmd: [RESPArgument]) -> String {
        cmd.prefix(8).map { a -> String in
            let s = a.text
            return s.count > 40 ? String(s.prefix(40)) + "..." : s
        }.joined(separator: " ") + (cmd.count > 8 ? " ... (\(cmd.count) arguments)" : "")
    }

    /// Under --dry-run: records what the command would do and returns {dry_run = true, would = ...}.
    static func pushDryRun(_ lua: Lua, _ cmd: [RESPArgument]) {
        _ = lua.would(describe(cmd))
    }

    /// Why a reply cannot become a Lua value. Nothing of it is left on the stack: the call
    /// returns nil, err with `code` "protocol" or "memory".
    struct Unrepresentable: Error {
        let code: String
        let message: String
    }

    /// Pushes what `body` builds from a reply, or returns nil, err when the reply cannot
    /// be represented (see `Unrepresentable`): every set with a key from the server goes
    /// through `pushKey`, so no Lua error can be raised from here.
    static func build(_ lua: Lua, _ c: Connection, _ r: RESPValue, _ body: () throws(Unrepresentable) -> Int32) -> Int32 {
        let base = lua.top
        do throws(Unrepresentable) {
            try fits(lua, r)
            return try body()
        } catch {
            lua.top = base
            return lua.failure(code: error.code, message: "\(error.message) (from \(c.endpoint))",
                               fields: [("endpoint", .string(c.endpoint.description))])
        }
    }

    /// Refuses a reply whose Lua form would pass --max-memory before anything is allocated:
    /// allocations made under a Swift frame are never refused, so the limit is checked here.
    static func fits(_ lua: Lua, _ r: RESPValue) throws(Unrepresentable) {
        let limit = lua.vm.memoryLimit
        guard limit > 0 else { return }
        let need = luaBytes(r), used = lua.vm.memoryUsed
        if used + need > limit {
            throw Unrepresentable(code: "memory", message: "the reply needs about \(need >> 10) KiB of Lua memory; "
                + "\(max(0, limit - used) >> 10) KiB are left under --max-memory")
        }
    }

    /// About how many bytes of Lua heap a reply takes as Lua values (strings, tables, slots).
    static func luaBytes(_ v: RESPValue) -> Int {
        switch v {
        case .simpleString(let b), .bigNumber(let b), .verbatim(_, let b), .bulkString(let b?): return 40 + b.count
        case .error(let b): return 200 + 2 * b.count
        case .array(let a?), .set(let a), .push(let a): return a.reduce(72) { $0 + 16 + luaBytes($1) }
        case .map(let pairs): return pairs.reduce(72) { $0 + 48 + luaBytes($1.key) + luaBytes($1.value) }
        case .attribute(_, let inner): return luaBytes(inner)
        default: return 16
        }
    }

    /// A reply as a Lua value; errors inside aggregates become error objects.
    static func push(_ lua: Lua, _ v: RESPValue) throws(Unrepresentable) {
        guard lua.ensureStack(4) else { throw Unrepresentable(code: "protocol", message: "reply nested too deeply") }
        switch v {
        case .simpleString(let b): lua.push(bytes: b)
        case .bulkString(let b?): lua.push(bytes: b)
        case .bulkString(nil), .array(nil), .null: lua.pushNull()
        case .integer(let i): lua.push(i)
        case .double(let d): lua.push(d)
        case .boolean(let b): lua.push(b)
        case .bigNumber(let b): lua.push(bytes: b)
        case .verbatim(_, let t): lua.push(bytes: t)
        case .error:
            lua.pushError(code: v.errorCode ?? "ERR", message: v.errorMessage ?? "error")
        case .array(let a?), .set(let a), .push(let a):
            lua.newTable(arrayCount: Int32(clamping: a.count))
            for (k, e) in a.enumerated() {
                try push(lua, e)
                lua.rawSet(-2, index: Int64(k + 1))
            }
        case .map(let pairs):
            lua.newTable(hashCount: Int32(clamping: pairs.count))
            for p in pairs {
                try pushKey(lua, p.key)
                try push(lua, p.value)
                lua.rawSet(-3)
            }
        case .attribute(_, let inner):
            try push(lua, inner)
        }
    }

    /// A map key: only a value Lua can index with and a script can look up. lua_rawset raises
    /// for a NaN key (a longjmp over this frame), and a table as a key can never be found.
    static func pushKey(_ lua: Lua, _ k: RESPValue) throws(Unrepresentable) {
        switch k.withoutAttribute {
        case .double(let d) where d.isNaN:
            throw Unrepresentable(code: "protocol", message: "a map key in the reply is the double NaN, which a Lua table cannot hold")
        case .array(.some), .set, .push, .map, .attribute, .error:
            throw Unrepresentable(code: "protocol", message: "a map key in the reply is an aggregate or an error (\(String(describing: k).prefix(60))), which a Lua table cannot be looked up by")
        default:
            try push(lua, k)
        }
    }

    /// Returns `values` from an iterator; one that cannot be represented raises (a for-in
    /// loop has no other channel).
    static func results(_ lua: Lua, _ c: Connection, _ values: [RESPValue]) -> Int32 {
        let base = lua.top
        do throws(Unrepresentable) {
            for v in values { try fits(lua, v); try push(lua, v) }
        } catch {
            lua.top = base
            return raise(lua, "\(error.message) (from \(c.endpoint))")
        }
        return Int32(values.count)
    }

    /// Returns one reply: the value, or nil, err for a server error.
    static func result(_ lua: Lua, _ c: Connection, _ r: RESPValue) -> Int32 {
        if r.isError {
            c.lastErrorReply = r
            return lua.failure(code: r.errorCode ?? "ERR", message: r.errorMessage ?? "error",
                               fields: [("endpoint", .string(c.endpoint.description))])
        }
        return build(lua, c, r) { () throws(Unrepresentable) in try push(lua, r); return 1 }
    }

    static func connection(_ lua: Lua) throws(LuaRaise) -> Connection {
        let c = try lua.checkObject(1, type: connectionType, as: Connection.self)
        if c.revoked { throw .argument(1, "this connection went back to its pool (use it inside the call that borrowed it)") }
        return c
    }

    // MARK: methods

    /// r:call(cmd, ...)
    static let call: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            _ = try lua.checkBytes(2)
            let cmd = try arguments(lua, from: 2)
            return send(lua, c, cmd)
        }
    }

    static func send(_ lua: Lua, _ c: Connection, _ cmd: [RESPArgument]) -> Int32 {
        if lua.dryRun && refused(c, cmd) {
            pushDryRun(lua, cmd)
            return 1
        }
        return exchange(lua, c, [cmd]) { lua, replies in
            result(lua, c, replies[0])
        }
    }

    static let get: LuaFunction = { L in named(L, "GET", 1) }
    static let del: LuaFunction = { L in named(L, "DEL", 1) }
    static let exists: LuaFunction = { L in named(L, "EXISTS", 1) }
    static let expire: LuaFunction = { L in named(L, "EXPIRE", 2) }
    static let ttl: LuaFunction = { L in named(L, "TTL", 1) }
    static let type: LuaFunction = { L in named(L, "TYPE", 1) }
    static let incr: LuaFunction = { L in named(L, "INCR", 1) }
    static let hget: LuaFunction = { L in named(L, "HGET", 2) }
    static let hset: LuaFunction = { L in named(L, "HSET", 3) }
    static let dbsize: LuaFunction = { L in named(L, "DBSIZE", 0) }

    static func named(_ L: OpaquePointer?, _ command: String, _ minArgs: Int32) -> Int32 {
        Lua(L!).call { lua throws(LuaRaise) in try sendNamed(lua, command, minArgs: minArgs) }
    }

    static func sendNamed(_ lua: Lua, _ command: String, minArgs: Int32) throws(LuaRaise) -> Int32 {
        let c = try connection(lua)
        for i in 0..<minArgs where lua.isNoneOrNil(2 + i) { throw .argument(2 + i, "string or number expected, got no value") }
        let cmd = [RESPArgument.string(command)] + (try arguments(lua, from: 2))
        return send(lua, c, cmd)
    }

    /// r:set(key, value [, {ex=, px=, nx=, xx=}])
    static let set: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            _ = try lua.checkBytes(2)
            try lua.checkAny(3)
            // the key and the value only: the options table (4) is read below
            var cmd: [RESPArgument] = [.string("SET")] + (try arguments(lua, from: 2, through: 3))
            if lua.type(at: 4) == .table {
                if try lua.optionField(4, "ex", .number, arg: 4) { cmd += [.string("EX"), .int(lua.toInteger(-1) ?? 0)]; lua.pop() }
                if try lua.optionField(4, "px", .number, arg: 4) { cmd += [.string("PX"), .int(lua.toInteger(-1) ?? 0)]; lua.pop() }
                if try lua.optionField(4, "nx", .boolean, arg: 4) { if lua.toBool(-1) { cmd.append(.string("NX")) }; lua.pop() }
                if try lua.optionField(4, "xx", .boolean, arg: 4) { if lua.toBool(-1) { cmd.append(.string("XX")) }; lua.pop() }
            } else if !lua.isNoneOrNil(4) {
                throw .type(4, "table")
            }
            return send(lua, c, cmd)
        }
    }

    /// r:hgetall(key) -> { field = value }
    static let hgetall: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let key = Array(try lua.checkBytes(2))
            return exchange(lua, c, [[.string("HGETALL"), .bytes(key)]]) { lua, replies in
                let r = replies[0]
                if r.isError { return result(lua, c, r) }
                return build(lua, c, r) { () throws(Unrepresentable) in
                    let e = r.elements ?? []
                    lua.newTable(hashCount: Int32(clamping: e.count / 2))
                    var i = 0
                    while i + 1 < e.count {
                        try pushKey(lua, e[i]); try push(lua, e[i + 1])
                        lua.rawSet(-3)
                        i += 2
                    }
                    return 1
                }
            }
        }
    }

    /// r:pipeline(function(p) p:call(...) end) -> replies
    static let pipeline: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in try batch(lua, transaction: false) }
    }

    /// r:transaction(function(p) ... end) -> EXEC's replies
    static let transaction: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in try batch(lua, transaction: true) }
    }

    static func batch(_ lua: Lua, transaction: Bool) throws(LuaRaise) -> Int32 {
        let c = try connection(lua)
        try lua.checkFunction(2)
        let p = Pipeline()
        lua.pushValue(at: 2)
        lua.push(object: p, type: pipelineType)
        let status = lua.pcall(nargs: 1, nresults: 0)
        p.open = false
        if status != LuaStatus.ok { throw .pushed }
        var commands = p.commands
        if commands.isEmpty { lua.newTable(); return 1 }
        if lua.dryRun, commands.contains(where: { refused(c, $0) }) {
            lua.newTable(arrayCount: Int32(commands.count))
            for (k, cmd) in commands.enumerated() {
                pushDryRun(lua, cmd)
                lua.rawSet(-2, index: Int64(k + 1))
            }
            return 1
        }
        if transaction {
            commands = [[.string("MULTI")]] + commands + [[.string("EXEC")]]
        }
        return exchange(lua, c, commands, pinned: transaction) { lua, replies in
            if transaction {
                let exec = replies[replies.count - 1]
                if exec.isError || exec.isNull {
                    if exec.isError { c.lastErrorReply = exec }
                    // a queued command was rejected (EXECABORT), or WATCH aborted it
                    let firstError = replies.dropFirst().dropLast().first { $0.isError }
                    return lua.failure(code: exec.isNull ? "aborted" : (exec.errorCode ?? "EXECABORT"),
                                       message: exec.isNull ? "transaction aborted (a watched key changed)"
                                           : (firstError?.errorMessage ?? exec.errorMessage ?? "transaction failed"))
                }
                return build(lua, c, exec) { () throws(Unrepresentable) in try push(lua, exec); return 1 }
            }
            let all = RESPValue.array(replies)
            return build(lua, c, all) { () throws(Unrepresentable) in try push(lua, all); return 1 }
        }
    }

    /// p:call(cmd, ...) inside pipeline()/transaction()
    static let pipelineCall: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let p = try lua.checkObject(1, type: pipelineType, as: Pipeline.self)
            guard p.open else { throw .argument(1, "the pipeline was already sent") }
            _ = try lua.checkBytes(2)
            p.commands.append(try arguments(lua, from: 2))
            return 0
        }
    }

    /// r:eval(script, keys, args): EVALSHA with the script loaded once (SCRIPT LOAD), reloaded on NOSCRIPT.
    static let eval: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let script = Array(try lua.checkBytes(2))
            var keys: [RESPArgument] = [], args: [RESPArgument] = []
            for (index, target) in [(Int32(3), 0), (Int32(4), 1)] {
                if lua.isNoneOrNil(index) { continue }
                try lua.checkTable(index)
                let n = lua.rawLength(index)
                if n == 0 { continue }
                for k in 1...n {
                    _ = lua.rawGet(index, index: Int64(k))
                    let a: RESPArgument
                    switch lua.type(at: -1) {
                    case .string: a = .bytes(Array(lua.toBytes(-1)!))
                    case .number: a = lua.isInteger(-1) ? .int(lua.toInteger(-1)!) : .double(lua.toNumber(-1)!)
                    default:
                        lua.pop()
                        throw .argument(index, "element \(k) must be a string or number")
                    }
                    lua.pop()
                    if target == 0 { keys.append(a) } else { args.append(a) }
                }
            }
            let tail: [RESPArgument] = [.int(Int64(keys.count))] + keys + args
            if lua.dryRun {
                pushDryRun(lua, [.string("EVAL"), .string("<script of \(script.count) bytes>")] + tail)
                return 1
            }
            if let sha = c.session.scriptSHA(script) { return evalSHA(lua, c, script, sha, tail, retried: false) }
            return loadScript(lua, c, script, tail, retried: false)
        }
    }

    static func evalSHA(_ lua: Lua, _ c: Connection, _ script: [UInt8], _ sha: [UInt8], _ tail: [RESPArgument], retried: Bool) -> Int32 {
        exchange(lua, c, [[.string("EVALSHA"), .bytes(sha)] + tail]) { lua, replies in
            let r = replies[0]
            if r.errorCode == "NOSCRIPT" && !retried {   // the server lost its script cache: load it again
                c.session.setScriptSHA(nil, for: script)
                return loadScript(lua, c, script, tail, retried: true)
            }
            return result(lua, c, r)
        }
    }

    static func loadScript(_ lua: Lua, _ c: Connection, _ script: [UInt8], _ tail: [RESPArgument], retried: Bool) -> Int32 {
        exchange(lua, c, [[.string("SCRIPT"), .string("LOAD"), .bytes(script)]]) { lua, replies in
            guard let sha = replies[0].bytes, !replies[0].isError else { return result(lua, c, replies[0]) }
            c.session.setScriptSHA(sha, for: script)
            return evalSHA(lua, c, script, sha, tail, retried: retried)
        }
    }

    // MARK: SCAN iterators

    /// The iterator state of r:scan{} and friends.
    final class Cursor {
        let command: String
        let key: [UInt8]?
        var cursor: [UInt8] = Array("0".utf8)
        var started = false
        var buffer: [RESPValue] = []
        var index = 0
        var options: [RESPArgument] = []
        let pairs: Int    // 1: keys/members; 2: field,value or member,score
        init(command: String, key: [UInt8]?, pairs: Int) { self.command = command; self.key = key; self.pairs = pairs }
        var finished: Bool { started && cursor == Array("0".utf8) }
    }

    static func scanOptions(_ lua: Lua, _ t: Int32, allowType: Bool) throws(LuaRaise) -> [RESPArgument] {
        var out: [RESPArgument] = []
        if lua.isNoneOrNil(t) { return out }
        try lua.checkTable(t)
        if try lua.optionField(t, "match", .string, arg: t) { out += [.string("MATCH"), .bytes(Array(lua.toBytes(-1)!))]; lua.pop() }
        if try lua.optionField(t, "count", .number, arg: t) { out += [.string("COUNT"), .int(lua.toInteger(-1) ?? 100)]; lua.pop() }
        if allowType, try lua.optionField(t, "type", .string, arg: t) { out += [.string("TYPE"), .bytes(Array(lua.toBytes(-1)!))]; lua.pop() }
        return out
    }

    /// The iterator function: the next key (or pair), fetching the next batch as needed.
    /// `exhausted` runs instead of ending the loop when the cursor is done (the next node's).
    static func next(_ lua: Lua, _ c: Connection, _ cur: Cursor, exhausted: ((Lua) -> Int32)? = nil) -> Int32 {
        if cur.index + cur.pairs - 1 < cur.buffer.count {
            cur.index += cur.pairs
            return results(lua, c, Array(cur.buffer[(cur.index - cur.pairs)..<cur.index]))
        }
        if cur.finished {
            if let exhausted { return exhausted(lua) }
            lua.pushNil(); return 1
        }
        var cmd: [RESPArgument] = [.string(cur.command)]
        if let k = cur.key { cmd.append(.bytes(k)) }
        cmd.append(.bytes(cur.cursor))
        cmd += cur.options
        // a failure ends the loop by raising: a for-in loop has no other channel
        return exchange(lua, c, [cmd], failed: { lua, e in raise(lua, "\(cur.command) failed on \(c.endpoint): \(e.message)") }) { lua, replies in
            let r = replies[0]
            guard !r.isError, let parts = r.elements, parts.count == 2,
                  let nextCursor = parts[0].bytes, let batch = parts[1].elements else {
                return raise(lua, "\(cur.command) failed on \(c.endpoint): \(r.errorMessage ?? "unexpected reply \(r)")")
            }
            do throws(Unrepresentable) { try fits(lua, r) } catch {
                return raise(lua, "\(cur.command) on \(c.endpoint): \(error.message)")
            }
            cur.started = true
            cur.cursor = nextCursor
            cur.buffer = batch
            cur.index = 0
            return next(lua, c, cur, exhausted: exhausted)
        }
    }

    static func keyedScan(_ lua: Lua, _ command: String, pairs: Int) throws(LuaRaise) -> Int32 {
        let c = try connection(lua)
        let key = Array(try lua.checkBytes(2))
        let cur = Cursor(command: command, key: key, pairs: pairs)
        cur.options = try scanOptions(lua, 3, allowType: false)
        lua.push(closure: { lua in next(lua, c, cur) })
        return 1
    }

    /// for key in r:scan{match=, count=, type=} do
    static let scan: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let options = try scanOptions(lua, 2, allowType: true)
            guard let cl = c.cluster else {
                let cur = Cursor(command: "SCAN", key: nil, pairs: 1)
                cur.options = options
                lua.push(closure: { lua in next(lua, c, cur) })
                return 1
            }
            // a cluster: SCAN on every primary, one after the other
            var nodes = (cl.map?.servingPrimaries ?? []).map { Connection(session: cl.session(for: $0.address), borrowed: true) }
            var cur = Cursor(command: "SCAN", key: nil, pairs: 1)
            cur.options = options
            lua.push(closure: { lua in
                func step(_ lua: Lua) -> Int32 {
                    guard let node = nodes.first else { lua.pushNil(); return 1 }
                    return next(lua, node, cur) { lua in
                        nodes.removeFirst()
                        cur = Cursor(command: "SCAN", key: nil, pairs: 1)
                        cur.options = options
                        return step(lua)
                    }
                }
                return step(lua)
            })
            return 1
        }
    }
    static let hscan: LuaFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try keyedScan(lua, "HSCAN", pairs: 2) } }
    static let sscan: LuaFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try keyedScan(lua, "SSCAN", pairs: 1) } }
    static let zscan: LuaFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try keyedScan(lua, "ZSCAN", pairs: 2) } }

    // MARK: bounded streams: SUBSCRIBE, MONITOR, XREAD

    /// The state of a subscription or MONITOR stream: it ends after `max` messages or at `end`.
    final class Stream {
        let end: Deadline
        let max: Int
        var count = 0
        var finished = false
        init(end: Deadline, max: Int) { self.end = end; self.max = max }
    }

    static func streamLimits(_ lua: Lua, _ i: Int32) throws(LuaRaise) -> Stream {
        var duration = 10.0, max = 1000
        if !lua.isNoneOrNil(i) {
            try lua.checkTable(i)
            if try lua.optionField(i, "duration", .number, arg: i) { duration = lua.toNumber(-1)!; lua.pop() }
            if try lua.optionField(i, "max", .number, arg: i) { max = Int(lua.toInteger(-1) ?? 1000); lua.pop() }
        }
        guard duration > 0, duration.isFinite, max > 0 else { throw .argument(i, "duration and max must be positive") }
        return Stream(end: .after(seconds: duration), max: max)
    }

    /// Ends a stream: the connection is in subscribe/monitor mode, so it is closed;
    /// the next call on this object opens a new one.
    static func finish(_ c: Connection, _ st: Stream) {
        st.finished = true
        c.session.dropConnection()
    }

    /// for channel, message in r:subscribe({"events"}, {duration = 5, max = 100}) do
    static let subscribe: LuaFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try subscribeTo(lua, pattern: false) } }
    /// for channel, message, pattern in r:psubscribe({"events:*"}, {...}) do
    static let psubscribe: LuaFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try subscribeTo(lua, pattern: true) } }

    static func subscribeTo(_ lua: Lua, pattern: Bool) throws(LuaRaise) -> Int32 {
        let c = try connection(lua)
        try lua.checkTable(2)
        var channels: [RESPArgument] = []
        let n = lua.rawLength(2)
        guard n > 0 else { throw .argument(2, "at least one channel expected") }
        for k in 1...n {
            guard lua.rawGet(2, index: Int64(k)) == .string else { lua.pop(); throw .argument(2, "channel \(k) must be a string") }
            channels.append(.bytes(Array(lua.toBytes(-1)!)))
            lua.pop()
        }
        let st = try streamLimits(lua, 3)
        let command: RESPArgument = .string(pattern ? "PSUBSCRIBE" : "SUBSCRIBE")
        return exchange(lua, c, [[command] + channels]) { lua, replies in
            // one confirmation per channel; the first came with the exchange
            let first = replies[0]
            if first.isError { return result(lua, c, first) }
            var confirmations = 1
            func next(_ lua: Lua) -> Int32 {
                if st.finished || st.count >= st.max || st.end.secondsFromNow <= 0 {
                    if !st.finished { finish(c, st) }
                    lua.pushNil()
                    return 1
                }
                return receive(lua, c, until: st.end) { lua, reply in
                    guard let reply, let parts = reply.elements, parts.count >= 3, let kind = parts[0].string else {
                        finish(c, st)
                        lua.pushNil()
                        return 1
                    }
                    switch kind {
                    case "message":
                        st.count += 1
                        return results(lua, c, [parts[1], parts[2]])
                    case "pmessage" where parts.count >= 4:
                        st.count += 1
                        return results(lua, c, [parts[2], parts[3], parts[1]])
                    default:
                        confirmations += 1   // subscribe confirmations for the other channels
                        return next(lua)
                    }
                }
            }
            lua.push(closure: { lua in next(lua) })
            return 1
        }
    }

    /// for line in r:monitor{duration = 5, max = 100} do  (MONITOR slows the server: keep it short)
    static let monitor: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let st = try streamLimits(lua, 2)
            return exchange(lua, c, [[.string("MONITOR")]]) { lua, replies in
                if replies[0].isError { return result(lua, c, replies[0]) }
                func next(_ lua: Lua) -> Int32 {
                    if st.finished || st.count >= st.max || st.end.secondsFromNow <= 0 {
                        if !st.finished { finish(c, st) }
                        lua.pushNil()
                        return 1
                    }
                    return receive(lua, c, until: st.end) { lua, reply in
                        guard let reply, let line = reply.bytes else {
                            finish(c, st)
                            lua.pushNil()
                            return 1
                        }
                        st.count += 1
                        lua.push(bytes: line)
                        return 1
                    }
                }
                lua.push(closure: { lua in next(lua) })
                return 1
            }
        }
    }

    /// r:xread({stream = "0-0", ...}, {count = 10, block = ms}) -> { stream = { {id = , fields = {k = v}} } }, or opsh.null
    static let xread: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            try lua.checkTable(2)
            var names: [RESPArgument] = [], ids: [RESPArgument] = []
            lua.pushNil()
            var bad = false
            lua.withCollectorStopped {
                while lua.next(2) {
                    if lua.type(at: -2) == .string, lua.type(at: -1) == .string {
                        names.append(.bytes(Array(lua.toBytes(-2)!)))
                        ids.append(.bytes(Array(lua.toBytes(-1)!)))
                    } else { bad = true }
                    lua.pop()
                }
            }
            guard !bad, !names.isEmpty else { throw .argument(2, "a table of stream = last id (strings) expected") }
            var count: Int64 = 100
            var block: Int64?
            if !lua.isNoneOrNil(3) {
                try lua.checkTable(3)
                if try lua.optionField(3, "count", .number, arg: 3) { count = lua.toInteger(-1) ?? 100; lua.pop() }
                if try lua.optionField(3, "block", .number, arg: 3) { block = lua.toInteger(-1); lua.pop() }
            }
            guard count > 0 else { throw .argument(3, "count must be positive") }
            if let b = block, b <= 0 || Double(b) / 1000 >= c.timeout {
                throw .argument(3, "block must be positive and shorter than the connection's timeout (\(c.timeout)s)")
            }
            var cmd: [RESPArgument] = [.string("XREAD"), .string("COUNT"), .int(count)]
            if let b = block { cmd += [.string("BLOCK"), .int(b)] }
            cmd += [.string("STREAMS")] + names + ids
            return exchange(lua, c, [cmd]) { lua, replies in
                let r = replies[0]
                if r.isError || r.isNull { return result(lua, c, r) }
                return build(lua, c, r) { () throws(Unrepresentable) in
                    lua.newTable()
                    // RESP2: [[name, [[id, [k, v, ...]], ...]], ...]; RESP3: a map name -> entries
                    var streams: [(RESPValue, RESPValue)] = []
                    if case .map(let pairs) = r.withoutAttribute { streams = pairs.map { ($0.key, $0.value) } }
                    else { for s in r.elements ?? [] { if let p = s.elements, p.count == 2 { streams.append((p[0], p[1])) } } }
                    for (name, entries) in streams {
                        try pushKey(lua, name)
                        let list = entries.elements ?? []
                        lua.newTable(arrayCount: Int32(clamping: list.count))
                        for (k, e) in list.enumerated() {
                            guard let parts = e.elements, parts.count == 2 else { continue }
                            lua.newTable(hashCount: 2)
                            try push(lua, parts[0]); lua.rawSet(-2, field: "id")
                            let fv = parts[1].elements ?? []
                            lua.newTable(hashCount: Int32(clamping: fv.count / 2))
                            var i = 0
                            while i + 1 < fv.count { try pushKey(lua, fv[i]); try push(lua, fv[i + 1]); lua.rawSet(-3); i += 2 }
                            lua.rawSet(-2, field: "fields")
                            lua.rawSet(-2, index: Int64(k + 1))
                        }
                        lua.rawSet(-3)
                    }
                    return 1
                }
            }
        }
    }

    // MARK: INFO, PING, DragonflyDB

    /// r:info([section]) -> parsed table
    static let info: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            var cmd: [RESPArgument] = [.string("INFO")]
            if let s = try lua.optString(2) { cmd.append(.string(s)) }
            if c.cluster != nil { return clusterInfo(lua, c, cmd) }
            return exchange(lua, c, [cmd]) { lua, replies in
                let r = replies[0]
                guard !r.isError, let text = r.string else { return result(lua, c, r) }
                let parsed = RESPInfo.parse(text)
                if cmd.count == 1 { c.info = parsed }
                pushInfo(lua, parsed)
                return 1
            }
        }
    }

    static func pushInfo(_ lua: Lua, _ info: RESPInfo) {
        func push(_ v: RESPInfo.Value) {
            switch v {
            case .int(let i): lua.push(i)
            case .double(let d): lua.push(d)
            case .string(let s): lua.push(s)
            case .fields(let f):
                lua.newTable(hashCount: Int32(f.count))
                for (k, v) in f { push(v); lua.rawSet(-2, field: k) }
            }
        }
        lua.newTable(hashCount: Int32(info.sections.count))
        for (name, fields) in info.sections {
            lua.newTable(hashCount: Int32(fields.count))
            for (k, v) in fields { push(v); lua.rawSet(-2, field: k) }
            lua.rawSet(-2, field: name.isEmpty ? "_" : name)
        }
    }

    /// redis.parse_info(text)
    static let parseInfo: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            pushInfo(lua, RESPInfo.parse(try lua.checkString(1)))
            return 1
        }
    }

    /// r:ping() -> round trip in ms
    static let ping: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let start = TimeModule.monotonicSeconds()
            return exchange(lua, c, [[.string("PING")]]) { lua, replies in
                if replies[0].isError { return result(lua, c, replies[0]) }
                lua.push((TimeModule.monotonicSeconds() - start) * 1000)
                return 1
            }
        }
    }

    /// r:is_dragonfly() (INFO server, cached)
    static let isDragonfly: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            if let i = c.info { lua.push(i.isDragonfly); return 1 }
            return exchange(lua, c, [[.string("INFO"), .string("server")]]) { lua, replies in
                // a cluster answers with every primary's INFO: they are the same product
                guard let text = replies[0].string ?? replies[0].elements?.first?.string, !replies[0].isError else { return result(lua, c, replies[0]) }
                let parsed = RESPInfo.parse(text)
                lua.push(parsed.isDragonfly)
                return 1
            }
        }
    }

    // MARK: pools (opsh.pool)

    /// redis.pool([url], [opts]) -> pool: opsh.pool's `redis` (stdlib/opsh/pool.lua), which
    /// wraps a native pool of sessions (Sources/Modules/Pool.swift).
    static let pool: LuaFunction = { L in
        let lua = Lua(L!)
        let nargs = lua.top
        lua.pushGlobals()
        _ = lua.rawGet(-1, field: "require")
        lua.remove(-2)
        lua.push("opsh.pool")
        if lua.pcall(nargs: 1, nresults: 1) != LuaStatus.ok { return LuaStatus.error }
        _ = lua.rawGet(-1, field: "redis")
        lua.remove(-2)
        lua.insert(1)
        if lua.pcall(nargs: nargs, nresults: 1) != LuaStatus.ok { return LuaStatus.error }
        return 1
    }

    /// A pooled session as a lease shows it: a borrowed connection object, how its call
    /// ended (from the session's failure or error reply), and whether it may be reused.
    static func borrowed(_ session: RESPSession) -> PoolModule.LeaseFace {
        let c = Connection(session: session, borrowed: true)
        return PoolModule.LeaseFace(
            push: { lua in lua.push(object: c, type: connectionType) },
            outcome: { _, _, _ in
                if let e = c.lastError {
                    let (type, broken) = RESPPooling.classify(e)
                    return (type.map { .failure($0, e.message) } ?? .rejectedByServer, broken)
                }
                if let r = c.lastErrorReply {
                    return (RESPPooling.failureType(ofReply: r).map { .failure($0, r.errorMessage ?? "error") } ?? .rejectedByServer, false)
                }
                return (.success, false)
            },
            idle: { !c.inFlight && !session.isBusy && session.connection.map { !$0.isBroken } ?? true },
            revoke: { c.revoked = true })
    }

    /// PINGs a pooled session idle past the pool's validation interval.
    static func validate(_ lua: Lua, _ session: RESPSession, _ then: @escaping (Lua, Bool) -> Int32) -> Int32 {
        let c = Connection(session: session, borrowed: true)
        return exchange(lua, c, [[.string("PING")]], failed: { lua, _ in then(lua, false) }) { lua, replies in
            then(lua, !(replies.first?.isError ?? true))
        }
    }
}
