import CLua
import CLuaShim
import EventLoop
import LuaRuntime
import RESP

/// `opsh.redis`: Redis and DragonflyDB over RESP (Sources/RESP) on the event loop.
/// Every call drives a non-blocking RESPConnection step by step; between steps it
/// waits for the socket with the call's deadline, so a call inside a task suspends
/// only that task (DESIGN.md §2).
public enum RedisModule {
    static let connectionType = "opsh.redis.connection"
    static let pipelineType = "opsh.redis.pipeline"
    static let defaultTimeout = 5.0

    /// One Lua connection object. Calls on it run one at a time: replies arrive in
    /// order, so a second task using the same connection meanwhile gets an error.
    final class Connection: LuaClosable, CustomStringConvertible {
        var conn: RESPConnection?
        let endpoint: RESPEndpoint
        let timeout: Double
        var busy = false
        var scripts: [[UInt8]: String] = [:]          // script text -> SHA-1 from SCRIPT LOAD
        var commandTable = RESPCommandTable.fallback
        var info: RESPInfo?

        init(endpoint: RESPEndpoint, timeout: Double) {
            self.endpoint = endpoint
            self.timeout = timeout
        }

        var fd: Int32 { conn?.fd ?? -1 }
        func close() { conn?.close(); conn = nil }
        var description: String { conn == nil ? "\(endpoint) (closed)" : "\(endpoint)" }
    }

    /// Commands queued by p:call inside pipeline()/transaction().
    final class Pipeline {
        var commands: [[RESPArgument]] = []
        var open = true
    }

    public static let open: lk_SwiftFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: connectionType, methods: [
            ("call", call), ("pipeline", pipeline), ("transaction", transaction), ("eval", eval),
            ("scan", scan), ("hscan", hscan), ("sscan", sscan), ("zscan", zscan),
            ("info", info), ("ping", ping), ("is_dragonfly", isDragonfly),
            ("subscribe", subscribe), ("psubscribe", psubscribe), ("monitor", monitor), ("xread", xread),
            ("get", get), ("set", set), ("del", del), ("exists", exists),
            ("expire", expire), ("ttl", ttl), ("type", type),
            ("incr", incr), ("hget", hget), ("hset", hset),
            ("hgetall", hgetall), ("dbsize", dbsize),
        ]))
        lua.vm.register(LuaClass(name: pipelineType, methods: [("call", pipelineCall)]))
        lua.newModule([("connect", connect), ("parse_info", parseInfo)])
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
        }
    }

    static func fail(_ lua: Lua, _ c: Connection?, _ e: RESPError) -> Int32 {
        c?.busy = false
        var fields: [(String, LuaValue)] = []
        if let c { fields.append(("endpoint", .string(c.endpoint.description))) }
        if let s = e.serverCode { fields.append(("server_code", .string(s))) }
        return lua.failure(code: code(e), message: e.message, fields: fields)
    }

    // MARK: driving a connection on the event loop

    /// Repeats `step` until it returns nil (done), waiting for the socket whenever it
    /// needs to, until `deadline`; then runs `done`. A failure goes to `failed`.
    static func drive(_ lua: Lua, _ c: Connection, _ deadline: Deadline, _ what: String,
                      _ step: @escaping () throws(RESPError) -> IONeed?, _ done: @escaping (Lua) -> Int32,
                      failed: @escaping (Lua, RESPError) -> Int32) -> Int32 {
        while true {
            let need: IONeed?
            do { need = try step() } catch { return failed(lua, error) }
            guard let need else { return done(lua) }
            if need == .done { continue }
            let events: IOEvents = need == .readable ? .readable : .writable
            return lua.wait(.io(c.fd, events), deadline: deadline) { lua, outcome in
                switch outcome {
                case .timedOut:
                    let e = RESPError(.timeout, "\(what) on \(c.endpoint) did not finish within \(c.timeout)s")
                    c.conn?.fail(e)
                    return failed(lua, e)
                case .cancelled:
                    let e = RESPError(.broken, "\(what) on \(c.endpoint) was interrupted")
                    c.conn?.fail(e)
                    return failed(lua, e)
                case .ready:
                    return drive(lua, c, deadline, what, step, done, failed: failed)
                }
            }
        }
    }

    static func drive(_ lua: Lua, _ c: Connection, _ deadline: Deadline, _ what: String,
                      _ step: @escaping () throws(RESPError) -> IONeed?, _ done: @escaping (Lua) -> Int32) -> Int32 {
        drive(lua, c, deadline, what, step, done, failed: { lua, e in fail(lua, c, e) })
    }

    /// Whether every command may be sent again after a broken connection: only the
    /// read-only allow-list (a write may have been applied before the connection broke).
    static func safeToResend(_ commands: [[RESPArgument]]) -> Bool {
        commands.allSatisfy { cmd in
            guard let first = cmd.first else { return false }
            return RESPRetryPolicy.isSafeToResend(name(first), subcommand: cmd.count > 1 ? name(cmd[1]) : nil)
        }
    }

    static let retryPolicy = RESPRetryPolicy()

    /// A new connection for `c`: connect, TLS, then the handshake (AUTH/HELLO/SELECT) and
    /// `extra` commands in one round trip; `then` gets the replies to `extra`.
    static func establish(_ lua: Lua, _ c: Connection, extra: [[RESPArgument]] = [],
                          then: @escaping (Lua, ArraySlice<RESPValue>) -> Int32,
                          failed: @escaping (Lua, RESPError) -> Int32) -> Int32 {
        c.conn?.close()
        let conn: RESPConnection
        do throws(RESPError) { conn = try RESPConnection(endpoint: c.endpoint) } catch { return failed(lua, error) }
        c.conn = conn
        let deadline = Deadline.after(seconds: c.timeout)
        return drive(lua, c, deadline, "connecting", { () throws(RESPError) -> IONeed? in
            let need = try conn.connectStep()
            return need == .done ? nil : need
        }, { lua in
            let handshake = RESPClient.handshakeCommands(for: c.endpoint)
            let commands = handshake.map { $0.map { RESPArgument.string($0) } } + extra
            if commands.isEmpty { return then(lua, []) }
            return roundTrip(lua, c, conn, deadline, commands, what: "handshake", done: { lua, replies in
                do throws(RESPError) {
                    try RESPClient.checkHandshake(handshake, Array(replies.prefix(handshake.count)), endpoint: c.endpoint)
                } catch {
                    c.close()
                    return failed(lua, error)
                }
                return then(lua, replies.dropFirst(handshake.count))
            }, failed: failed)
        }, failed: failed)
    }

    /// Writes `commands` and reads one reply each on `conn`.
    static func roundTrip(_ lua: Lua, _ c: Connection, _ conn: RESPConnection, _ deadline: Deadline,
                          _ commands: [[RESPArgument]], what: String,
                          done: @escaping (Lua, [RESPValue]) -> Int32, failed: @escaping (Lua, RESPError) -> Int32) -> Int32 {
        for cmd in commands { conn.enqueue(cmd) }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        var flushed = false
        return drive(lua, c, deadline, what, { () throws(RESPError) -> IONeed? in
            if !flushed {
                let need = try conn.flushStep()
                if need != .done { return need }
                flushed = true
            }
            while replies.count < commands.count {
                if let r = try conn.nextReply() { replies.append(r); continue }
                let need = try conn.readStep()
                if need != .done { return need }
            }
            return nil
        }, { lua in done(lua, replies) }, failed: failed)
    }

    /// Sends `commands` (a pipeline) and reads one reply each; `done` gets them in order.
    /// A broken connection is never reused: read-only commands are resent on a new
    /// connection, with backoff, up to the retry policy's attempts; others fail.
    static func exchange(_ lua: Lua, _ c: Connection, _ commands: [[RESPArgument]], what: String,
                         attempt: Int = 1, done: @escaping (Lua, [RESPValue]) -> Int32) -> Int32 {
        if c.busy {
            lua.push("opsh.redis: this connection is in use by another task (open one connection per task)")
            return LK_STATUS_ERROR
        }
        let failed: (Lua, RESPError) -> Int32 = { lua, e in
            c.busy = false
            // the commands may have reached the server: only read-only ones are sent again
            let retryable = e.kind == .io || e.kind == .closedByServer
            guard retryable, attempt < retryPolicy.maxAttempts, safeToResend(commands) else { return fail(lua, c, e) }
            return lua.wait(.sleep, deadline: .after(seconds: retryPolicy.backoff(attempt: attempt))) { lua, _ in
                establish(lua, c, then: { lua, _ in
                    exchange(lua, c, commands, what: what, attempt: attempt + 1, done: done)
                }, failed: { lua, e in fail(lua, c, e) })
            }
        }
        guard let conn = c.conn, !conn.isBroken else {
            // an earlier call broke the connection; nothing of these commands was sent yet,
            // so a new connection is safe for any of them
            guard c.conn != nil, attempt < retryPolicy.maxAttempts else {
                return fail(lua, c, RESPError(.broken, "the connection to \(c.endpoint) is closed"))
            }
            return establish(lua, c, then: { lua, _ in
                exchange(lua, c, commands, what: what, attempt: attempt + 1, done: done)
            }, failed: { lua, e in fail(lua, c, e) })
        }
        c.busy = true
        return roundTrip(lua, c, conn, .after(seconds: c.timeout), commands, what: what, done: { lua, replies in
            c.busy = false
            return done(lua, replies)
        }, failed: failed)
    }

    // MARK: redis.connect

    /// redis.connect([url | opts]) -> connection, or nil, err
    static let connect: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var url: String?
            var timeout = defaultTimeout
            var protocolVersion: Int?
            var db: Int?
            var username: String?, password: String?, name: String?
            var tls: RESPTLSOptions?
            switch lua.type(at: 1) {
            case .none, .nil: break
            case .string: url = lua.toString(1)
            case .table:
                if try lua.optionField(1, "url", .string, arg: 1) { url = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "timeout", .number, arg: 1) { timeout = lua.toNumber(-1)!; lua.pop() }
                if try lua.optionField(1, "protocol", .number, arg: 1) { protocolVersion = Int(lua.toInteger(-1) ?? 2); lua.pop() }
                if try lua.optionField(1, "db", .number, arg: 1) { db = Int(lua.toInteger(-1) ?? 0); lua.pop() }
                if try lua.optionField(1, "username", .string, arg: 1) { username = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "password", .string, arg: 1) { password = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "name", .string, arg: 1) { name = lua.toString(-1); lua.pop() }
                if try lua.optionField(1, "tls", .table, arg: 1) {
                    var t = RESPTLSOptions()
                    let ti = lua.top
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
            let text = url ?? ConfigModule.string(lua, "redis_url") ?? "redis://localhost:6379"
            var endpoint: RESPEndpoint
            do throws(RESPError) { endpoint = try RESPEndpoint(url: text) } catch {
                return lua.failure(code: "bad_url", message: error.message)
            }
            if let p = protocolVersion {
                guard p == 2 || p == 3 else { throw .argument(1, "protocol must be 2 or 3") }
                endpoint.protocolVersion = p
            }
            if let db { endpoint.database = db }
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

    static func open(_ lua: Lua, _ endpoint: RESPEndpoint, _ timeout: Double) -> Int32 {
        let c = Connection(endpoint: endpoint, timeout: timeout)
        // under --dry-run the server's own command flags decide what is a write
        let extra: [[RESPArgument]] = lua.dryRun ? [[.string("COMMAND")]] : []
        return establish(lua, c, extra: extra, then: { lua, replies in
            if let reply = replies.first, let table = RESPCommandTable.parse(reply) { c.commandTable = table }
            return finishOpen(lua, c)
        }, failed: { lua, e in fail(lua, c, e) })
    }

    static func finishOpen(_ lua: Lua, _ c: Connection) -> Int32 {
        lua.push(object: c, type: connectionType)
        return 1
    }

    // MARK: arguments and replies

    /// Arguments from..top as RESP arguments (strings and numbers).
    static func arguments(_ lua: Lua, from first: Int32) throws(LuaRaise) -> [RESPArgument] {
        var out: [RESPArgument] = []
        let top = lua.top
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

    static func name(_ a: RESPArgument) -> String {
        switch a {
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        }
    }

    /// Under --dry-run: the commands that would change data are not sent.
    static func refused(_ c: Connection, _ cmd: [RESPArgument]) -> Bool {
        guard let first = cmd.first else { return false }
        let sub = cmd.count > 1 ? name(cmd[1]) : nil
        return c.commandTable.refusedUnderDryRun(name(first), subcommand: sub)
    }

    static func describe(_ cmd: [RESPArgument]) -> String {
        cmd.prefix(8).map { a -> String in
            let s = name(a)
            return s.count > 40 ? String(s.prefix(40)) + "..." : s
        }.joined(separator: " ") + (cmd.count > 8 ? " ... (\(cmd.count) arguments)" : "")
    }

    static func pushDryRun(_ lua: Lua, _ cmd: [RESPArgument]) {
        let text = describe(cmd)
        writeToStderr("would: \(text)\n")
        lua.newTable(hashCount: 2)
        lua.push(true); lua.rawSet(-2, field: "dry_run")
        lua.push(text); lua.rawSet(-2, field: "would")
    }

    /// A reply as a Lua value; errors inside aggregates become error objects.
    static func push(_ lua: Lua, _ v: RESPValue, depth: Int = 0) {
        _ = lua.ensureStack(4)
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
                push(lua, e, depth: depth + 1)
                lua.rawSet(-2, index: Int64(k + 1))
            }
        case .map(let pairs):
            lua.newTable(hashCount: Int32(clamping: pairs.count))
            for p in pairs {
                push(lua, p.key, depth: depth + 1)
                push(lua, p.value, depth: depth + 1)
                if lua.type(at: -2) == .nil { lua.pop(2) } else { lua.rawSet(-3) }
            }
        case .attribute(_, let inner):
            push(lua, inner, depth: depth)
        }
    }

    /// Returns one reply: the value, or nil, err for a server error.
    static func result(_ lua: Lua, _ c: Connection, _ r: RESPValue) -> Int32 {
        if r.isError {
            return lua.failure(code: r.errorCode ?? "ERR", message: r.errorMessage ?? "error",
                               fields: [("endpoint", .string(c.endpoint.description))])
        }
        push(lua, r)
        return 1
    }

    static func connection(_ lua: Lua) throws(LuaRaise) -> Connection {
        try lua.checkObject(1, type: connectionType, as: Connection.self)
    }

    // MARK: methods

    /// r:call(cmd, ...)
    static let call: lk_SwiftFunction = { L in
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
        return exchange(lua, c, [cmd], what: name(cmd[0]).uppercased()) { lua, replies in
            result(lua, c, replies[0])
        }
    }

    static let get: lk_SwiftFunction = { L in named(L, "GET", 1) }
    static let del: lk_SwiftFunction = { L in named(L, "DEL", 1) }
    static let exists: lk_SwiftFunction = { L in named(L, "EXISTS", 1) }
    static let expire: lk_SwiftFunction = { L in named(L, "EXPIRE", 2) }
    static let ttl: lk_SwiftFunction = { L in named(L, "TTL", 1) }
    static let type: lk_SwiftFunction = { L in named(L, "TYPE", 1) }
    static let incr: lk_SwiftFunction = { L in named(L, "INCR", 1) }
    static let hget: lk_SwiftFunction = { L in named(L, "HGET", 2) }
    static let hset: lk_SwiftFunction = { L in named(L, "HSET", 3) }
    static let dbsize: lk_SwiftFunction = { L in named(L, "DBSIZE", 0) }

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
    static let set: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            _ = try lua.checkBytes(2)
            try lua.checkAny(3)
            var cmd: [RESPArgument] = [.string("SET")] + (try arguments(lua, from: 2).prefix(2))
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
    static let hgetall: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let key = Array(try lua.checkBytes(2))
            return exchange(lua, c, [[.string("HGETALL"), .bytes(key)]], what: "HGETALL") { lua, replies in
                let r = replies[0]
                if r.isError { return result(lua, c, r) }
                let e = r.elements ?? []
                lua.newTable(hashCount: Int32(clamping: e.count / 2))
                var i = 0
                while i + 1 < e.count {
                    push(lua, e[i]); push(lua, e[i + 1])
                    lua.rawSet(-3)
                    i += 2
                }
                return 1
            }
        }
    }

    /// r:pipeline(function(p) p:call(...) end) -> replies
    static let pipeline: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in try batch(lua, transaction: false) }
    }

    /// r:transaction(function(p) ... end) -> EXEC's replies
    static let transaction: lk_SwiftFunction = { L in
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
        if status != LUA_OK { throw .pushed }
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
        return exchange(lua, c, commands, what: transaction ? "transaction" : "pipeline") { lua, replies in
            if transaction {
                let exec = replies[replies.count - 1]
                if exec.isError || exec.isNull {
                    // a queued command was rejected (EXECABORT), or WATCH aborted it
                    let firstError = replies.dropFirst().dropLast().first { $0.isError }
                    return lua.failure(code: exec.isNull ? "aborted" : (exec.errorCode ?? "EXECABORT"),
                                       message: exec.isNull ? "transaction aborted (a watched key changed)"
                                           : (firstError?.errorMessage ?? exec.errorMessage ?? "transaction failed"))
                }
                push(lua, exec)
                return 1
            }
            lua.newTable(arrayCount: Int32(replies.count))
            for (k, r) in replies.enumerated() {
                push(lua, r)
                lua.rawSet(-2, index: Int64(k + 1))
            }
            return 1
        }
    }

    /// p:call(cmd, ...) inside pipeline()/transaction()
    static let pipelineCall: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let p = try lua.checkObject(1, type: pipelineType, as: Pipeline.self)
            guard p.open else { throw .argument(1, "the pipeline was already sent") }
            _ = try lua.checkBytes(2)
            p.commands.append(try arguments(lua, from: 2))
            return 0
        }
    }

    /// r:eval(script, keys, args): EVALSHA with the script loaded once (SCRIPT LOAD), reloaded on NOSCRIPT.
    static let eval: lk_SwiftFunction = { L in
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
            if let sha = c.scripts[script] { return evalSHA(lua, c, script, sha, tail, retried: false) }
            return loadScript(lua, c, script, tail, retried: false)
        }
    }

    static func evalSHA(_ lua: Lua, _ c: Connection, _ script: [UInt8], _ sha: String, _ tail: [RESPArgument], retried: Bool) -> Int32 {
        exchange(lua, c, [[.string("EVALSHA"), .string(sha)] + tail], what: "EVALSHA") { lua, replies in
            let r = replies[0]
            if r.errorCode == "NOSCRIPT" && !retried {   // the server lost its script cache: load it again
                c.scripts[script] = nil
                return loadScript(lua, c, script, tail, retried: true)
            }
            return result(lua, c, r)
        }
    }

    static func loadScript(_ lua: Lua, _ c: Connection, _ script: [UInt8], _ tail: [RESPArgument], retried: Bool) -> Int32 {
        exchange(lua, c, [[.string("SCRIPT"), .string("LOAD"), .bytes(script)]], what: "SCRIPT LOAD") { lua, replies in
            guard let sha = replies[0].string, !replies[0].isError else { return result(lua, c, replies[0]) }
            c.scripts[script] = sha
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
    static func next(_ lua: Lua, _ c: Connection, _ cur: Cursor) -> Int32 {
        if cur.index + cur.pairs - 1 < cur.buffer.count {
            for k in 0..<cur.pairs { push(lua, cur.buffer[cur.index + k]) }
            cur.index += cur.pairs
            return Int32(cur.pairs)
        }
        if cur.finished { lua.pushNil(); return 1 }
        var cmd: [RESPArgument] = [.string(cur.command)]
        if let k = cur.key { cmd.append(.bytes(k)) }
        cmd.append(.bytes(cur.cursor))
        cmd += cur.options
        return exchange(lua, c, [cmd], what: cur.command) { lua, replies in
            let r = replies[0]
            guard !r.isError, let parts = r.elements, parts.count == 2,
                  let nextCursor = parts[0].bytes, let batch = parts[1].elements else {
                // a failure ends the loop by raising: a for-in loop has no other channel
                lua.push("\(cur.command) failed on \(c.endpoint): \(r.errorMessage ?? "unexpected reply \(r)")")
                return LK_STATUS_ERROR
            }
            cur.started = true
            cur.cursor = nextCursor
            cur.buffer = batch
            cur.index = 0
            return next(lua, c, cur)
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
    static let scan: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let cur = Cursor(command: "SCAN", key: nil, pairs: 1)
            cur.options = try scanOptions(lua, 2, allowType: true)
            lua.push(closure: { lua in next(lua, c, cur) })
            return 1
        }
    }
    static let hscan: lk_SwiftFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try keyedScan(lua, "HSCAN", pairs: 2) } }
    static let sscan: lk_SwiftFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try keyedScan(lua, "SSCAN", pairs: 1) } }
    static let zscan: lk_SwiftFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try keyedScan(lua, "ZSCAN", pairs: 2) } }

    // MARK: bounded streams: SUBSCRIBE, MONITOR, XREAD

    /// Reads the next reply without sending anything; `done` gets nil when `deadline` passes.
    static func receive(_ lua: Lua, _ c: Connection, _ deadline: Deadline, done: @escaping (Lua, RESPValue?) -> Int32) -> Int32 {
        guard let conn = c.conn, !conn.isBroken else {
            return fail(lua, c, RESPError(.broken, "the connection to \(c.endpoint) is closed"))
        }
        var reply: RESPValue?
        return drive(lua, c, deadline, "waiting for messages", { () throws(RESPError) -> IONeed? in
            if let r = try conn.nextReply() { reply = r; return nil }
            let need = try conn.readStep()
            return need == .done ? .done : need
        }, { lua in
            c.busy = false
            return done(lua, reply)
        }, failed: { lua, e in
            c.busy = false
            if e.kind == .timeout { return done(lua, nil) }   // the stream's time is up: not an error
            return fail(lua, c, e)
        })
    }

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
        c.conn?.fail(RESPError(.broken, "the stream ended"))
    }

    /// for channel, message in r:subscribe({"events"}, {duration = 5, max = 100}) do
    static let subscribe: lk_SwiftFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try subscribeTo(lua, pattern: false) } }
    /// for channel, message, pattern in r:psubscribe({"events:*"}, {...}) do
    static let psubscribe: lk_SwiftFunction = { L in Lua(L!).call { lua throws(LuaRaise) in try subscribeTo(lua, pattern: true) } }

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
        return exchange(lua, c, [[command] + channels], what: pattern ? "PSUBSCRIBE" : "SUBSCRIBE") { lua, replies in
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
                return receive(lua, c, st.end) { lua, reply in
                    guard let reply, let parts = reply.elements, parts.count >= 3, let kind = parts[0].string else {
                        finish(c, st)
                        lua.pushNil()
                        return 1
                    }
                    switch kind {
                    case "message":
                        st.count += 1
                        push(lua, parts[1]); push(lua, parts[2])
                        return 2
                    case "pmessage" where parts.count >= 4:
                        st.count += 1
                        push(lua, parts[2]); push(lua, parts[3]); push(lua, parts[1])
                        return 3
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
    static let monitor: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let st = try streamLimits(lua, 2)
            return exchange(lua, c, [[.string("MONITOR")]], what: "MONITOR") { lua, replies in
                if replies[0].isError { return result(lua, c, replies[0]) }
                func next(_ lua: Lua) -> Int32 {
                    if st.finished || st.count >= st.max || st.end.secondsFromNow <= 0 {
                        if !st.finished { finish(c, st) }
                        lua.pushNil()
                        return 1
                    }
                    return receive(lua, c, st.end) { lua, reply in
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
    static let xread: lk_SwiftFunction = { L in
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
            return exchange(lua, c, [cmd], what: "XREAD") { lua, replies in
                let r = replies[0]
                if r.isError || r.isNull { return result(lua, c, r) }
                lua.newTable()
                // RESP2: [[name, [[id, [k, v, ...]], ...]], ...]; RESP3: a map name -> entries
                var streams: [(RESPValue, RESPValue)] = []
                if case .map(let pairs) = r.withoutAttribute { streams = pairs.map { ($0.key, $0.value) } }
                else { for s in r.elements ?? [] { if let p = s.elements, p.count == 2 { streams.append((p[0], p[1])) } } }
                for (name, entries) in streams {
                    push(lua, name)
                    let list = entries.elements ?? []
                    lua.newTable(arrayCount: Int32(list.count))
                    for (k, e) in list.enumerated() {
                        guard let parts = e.elements, parts.count == 2 else { continue }
                        lua.newTable(hashCount: 2)
                        push(lua, parts[0]); lua.rawSet(-2, field: "id")
                        let fv = parts[1].elements ?? []
                        lua.newTable(hashCount: Int32(fv.count / 2))
                        var i = 0
                        while i + 1 < fv.count { push(lua, fv[i]); push(lua, fv[i + 1]); lua.rawSet(-3); i += 2 }
                        lua.rawSet(-2, field: "fields")
                        lua.rawSet(-2, index: Int64(k + 1))
                    }
                    lua.rawSet(-3)
                }
                return 1
            }
        }
    }

    // MARK: INFO, PING, DragonflyDB

    /// r:info([section]) -> parsed table
    static let info: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            var cmd: [RESPArgument] = [.string("INFO")]
            if let s = try lua.optString(2) { cmd.append(.string(s)) }
            return exchange(lua, c, [cmd], what: "INFO") { lua, replies in
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
    static let parseInfo: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            pushInfo(lua, RESPInfo.parse(try lua.checkString(1)))
            return 1
        }
    }

    /// r:ping() -> round trip in ms
    static let ping: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let start = TimeModule.monotonicSeconds()
            return exchange(lua, c, [[.string("PING")]], what: "PING") { lua, replies in
                if replies[0].isError { return result(lua, c, replies[0]) }
                lua.push((TimeModule.monotonicSeconds() - start) * 1000)
                return 1
            }
        }
    }

    /// r:is_dragonfly() (INFO server, cached)
    static let isDragonfly: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            if let i = c.info { lua.push(i.isDragonfly); return 1 }
            return exchange(lua, c, [[.string("INFO"), .string("server")]], what: "INFO") { lua, replies in
                guard let text = replies[0].string, !replies[0].isError else { return result(lua, c, replies[0]) }
                let parsed = RESPInfo.parse(text)
                lua.push(parsed.isDragonfly)
                return 1
            }
        }
    }
}
