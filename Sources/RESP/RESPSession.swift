import EventLoop
import Glibc

/// One Redis/DragonflyDB session: the connection a program talks to, kept across reconnects.
/// The only RESP client: `opsh.redis` is a binding over it, Swift callers use it directly.
///
/// A call is a state machine that never blocks: `begin` it, then `advance` until it is
/// `.finished`, waiting for the fd (or the time) each `.wait`/`.sleep` names. Two drivers come
/// with it: `perform` waits with poll(2) (a blocking call for Swift programs and tests) and
/// `run(on:)` waits on an `EventLoop` (so a call inside a Lua task suspends only that task).
///
/// - The handshake speaks RESP2 unless the endpoint asks for protocol 3 (then `HELLO 3`):
///   `AUTH [user] pass`, `CLIENT SETNAME`, `SELECT db`, pipelined in one round trip. What a
///   program changes later with successful `SELECT`, `CLIENT SETNAME`, `AUTH` or `HELLO` is
///   replayed the same way on every new connection: a reconnect never lands in db 0 silently.
/// - A broken connection is never reused: the next call opens a new one (with backoff,
///   `retry.maxAttempts` tries). A command that fails on the wire (I/O error, closed by the
///   server) is re-sent on a new connection only if `RESPRetryPolicy.isSafeToResend` allows
///   every command of the call and no MULTI/WATCH state was in force; the error says why not.
///   Timeouts are not retried.
/// - A connection that breaks inside MULTI or after WATCH takes that state with it. Until the
///   program sends DISCARD, UNWATCH, EXEC or RESET, every other command fails with
///   `.transactionLost` rather than run outside the transaction it was written for.
/// - RESP3 push frames (client tracking's `invalidate`, pub/sub messages) never take a reply's
///   place: they go to `onPush`, or are counted in `droppedPushCount`.
/// - A call given up by its caller (`abandon`, a cancelled task) closes the connection when
///   replies are still owed, so the next call cannot read them as its own.
public final class RESPSession {
    public let endpoint: RESPEndpoint
    /// Seconds for the TCP connect plus the TLS handshake plus the handshake round trip.
    public var connectTimeout: Double
    /// Seconds for one exchange (write all, read all replies).
    public var timeout: Double
    public var retry: RESPRetryPolicy
    public var limits: RESPParserLimits
    /// Receives RESP3 push frames that arrive between replies; nil: they are counted and dropped.
    public var onPush: ((RESPValue) -> Void)? = nil
    public private(set) var droppedPushCount = 0
    public private(set) var connection: RESPConnection?
    /// Connections made, including the first (reconnects = this - 1).
    public private(set) var connectCount = 0

    /// What every new connection restores: the endpoint's settings, then what successful
    /// commands changed.
    public private(set) var database: Int
    public private(set) var clientName: String?
    public private(set) var protocolVersion: Int
    private var username: String?
    private var password: String?

    public private(set) var inTransaction = false
    public private(set) var watching = false
    /// Why MULTI/WATCH state was lost with a connection (nil when nothing was lost).
    public private(set) var lostTransaction: String?

    private var scriptSHAs: [[UInt8]: [UInt8]] = [:]
    private var call: Call?

    /// Whether a call is in progress (one at a time: replies arrive in order).
    public var isBusy: Bool { call != nil }

    /// What `advance` needs before it can go on.
    public enum Progress {
        /// Wait until `fd` is ready for `need` or `until` passes, then `advance` again.
        case wait(fd: Int32, need: IONeed, until: Deadline)
        /// Wait until `until` (a backoff), then `advance` again.
        case sleep(until: Deadline)
        /// The call is over: its replies in order (a server error is an `.error` reply), or why not.
        case finished(Result<[RESPValue], RESPError>)
    }

    private enum Phase {
        case start
        case connecting(RESPConnection, Deadline)
        case handshaking(RESPConnection, Deadline, [[String]], flushed: Bool)
        case exchanging(Deadline, flushed: Bool, waited: Bool)
        case receiving(Deadline)
        case backoff(Deadline)
        case done(Result<[RESPValue], RESPError>)
    }

    private final class Call {
        let commands: [[RESPArgument]]
        /// Read one message without sending anything (a subscription, MONITOR) until `until`.
        let receiveUntil: Deadline?
        var phase: Phase = .start
        var replies: [RESPValue] = []
        var handshakeReplies: [RESPValue] = []
        var sends = 0
        var connectTries = 0
        /// MULTI/WATCH in force when the commands were sent.
        var sentStateful = false
        init(_ commands: [[RESPArgument]], receiveUntil: Deadline? = nil, phase: Phase = .start) {
            self.commands = commands; self.receiveUntil = receiveUntil; self.phase = phase
        }
    }

    public init(endpoint: RESPEndpoint, connectTimeout: Double = 5, timeout: Double = 10,
                retry: RESPRetryPolicy = RESPRetryPolicy(), limits: RESPParserLimits = RESPParserLimits()) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.retry = retry
        self.limits = limits
        database = endpoint.database
        clientName = endpoint.clientName
        protocolVersion = endpoint.protocolVersion
        username = endpoint.username
        password = endpoint.password
    }

    /// A session connected at once (blocking): connect and handshake errors are thrown here.
    public static func connect(endpoint: RESPEndpoint, connectTimeout: Double = 5, timeout: Double = 10,
                               retry: RESPRetryPolicy = RESPRetryPolicy()) throws(RESPError) -> RESPSession {
        let s = RESPSession(endpoint: endpoint, connectTimeout: connectTimeout, timeout: timeout, retry: retry)
        _ = try s.perform([])
        return s
    }

    public static func connect(url: String, timeout: Double = 5) throws(RESPError) -> RESPSession {
        try connect(endpoint: try RESPEndpoint(url: url), connectTimeout: timeout, timeout: max(timeout, 10))
    }

    deinit { connection?.close() }

    /// Closes the connection (no QUIT). A call in progress is abandoned; the next call reconnects.
    public func close() {
        if call != nil { abandon() }
        dropConnection()
    }

    /// Closes the connection without touching the session's state: for a stream (SUBSCRIBE,
    /// MONITOR) whose connection cannot serve commands any more.
    public func dropConnection() {
        connection?.close()
        connection = nil
    }

    // MARK: the handshake

    /// The endpoint as a new connection must restore it.
    public var currentEndpoint: RESPEndpoint {
        var e = endpoint
        e.database = database; e.clientName = clientName; e.protocolVersion = protocolVersion
        e.username = username; e.password = password
        return e
    }

    /// The commands a driver sends first on a new connection (empty when none are needed).
    public static func handshakeCommands(for ep: RESPEndpoint) -> [[String]] {
        var cmds: [[String]] = []
        if ep.protocolVersion == 3 {
            var hello = ["HELLO", "3"]
            if let p = ep.password { hello += ["AUTH", ep.username ?? "default", p] }
            if let n = ep.clientName { hello += ["SETNAME", n] }
            cmds.append(hello)
        } else {
            if let p = ep.password { cmds.append(ep.username.map { ["AUTH", $0, p] } ?? ["AUTH", p]) }
            if let n = ep.clientName { cmds.append(["CLIENT", "SETNAME", n]) }
        }
        if ep.database != 0 { cmds.append(["SELECT", String(ep.database)]) }
        return cmds
    }

    // MARK: starting a call

    /// Starts a call of `commands` (sent in one write, one reply each). An empty list only
    /// makes sure a connection is up. Throws `.busy` while another call runs, and
    /// `.transactionLost` after a connection broke inside MULTI/WATCH (see the type's notes).
    public func begin(_ commands: [[RESPArgument]]) throws(RESPError) {
        guard call == nil else { throw RESPError(.busy, "the connection to \(endpoint) is in use by another call") }
        if let lost = lostTransaction, let first = commands.first {
            switch first.first?.text.uppercased() {
            case "DISCARD" where commands.count == 1, "UNWATCH" where commands.count == 1:
                // the server already forgot the transaction with the connection
                lostTransaction = nil
                call = Call(commands, phase: .done(.success([.simpleString(Array("OK".utf8))])))
                return
            case "EXEC" where commands.count == 1:
                lostTransaction = nil
                call = Call(commands, phase: .done(.failure(RESPError(.transactionLost, "EXEC: \(lost); nothing was executed"))))
                return
            case "RESET":
                lostTransaction = nil
            default:
                throw RESPError(.transactionLost, "\(lost); send DISCARD (or UNWATCH) before other commands")
            }
        }
        call = Call(commands)
    }

    /// Starts reading one message without sending anything (a subscription or MONITOR stream);
    /// it finishes with that message, or with no reply once `until` passes.
    public func beginReceive(until: Deadline) throws(RESPError) {
        guard call == nil else { throw RESPError(.busy, "the connection to \(endpoint) is in use by another call") }
        guard let c = connection, !c.isBroken else { throw RESPError(.broken, "the connection to \(endpoint) is closed") }
        call = Call([], receiveUntil: until, phase: .receiving(until))
    }

    /// The caller gives up on the call in progress. When replies are still owed (a BLPOP
    /// waiting, a reply half read) the connection is closed, so the next call cannot read
    /// them as its own; MULTI/WATCH state goes with it (see `lostTransaction`).
    public func abandon() {
        guard let c = call else { return }
        call = nil
        switch c.phase {
        case .done, .backoff, .start: return
        case .connecting(let conn, _), .handshaking(let conn, _, _, _):
            conn.close()
            if conn === connection { connection = nil }
        case .exchanging, .receiving:
            lose(c, why: "a call was abandoned (its task was cancelled)")
        }
    }

    // MARK: the state machine

    public func advance() -> Progress {
        guard let c = call else { return .finished(.failure(RESPError(.broken, "no call in progress on \(endpoint)"))) }
        while true {
            let p: Progress?
            switch c.phase {
            case .done(let r): p = .finished(r)
            case .start: p = startOrConnect(c)
            case .connecting(let conn, let d): p = connecting(c, conn, d)
            case .handshaking(let conn, let d, let hs, let flushed): p = handshaking(c, conn, d, hs, flushed)
            case .exchanging(let d, let flushed, let waited): p = exchanging(c, d, flushed, waited)
            case .receiving(let d): p = receiving(c, d)
            case .backoff(let d):
                if Deadline.now() < d { return .sleep(until: d) }
                c.phase = .start
                p = nil
            }
            if let p {
                if case .finished = p { call = nil }
                return p
            }
        }
    }

    private func startOrConnect(_ c: Call) -> Progress? {
        if let conn = connection, !conn.isBroken {
            if c.commands.isEmpty { c.phase = .done(.success([])); return nil }
            conn.enqueue(commands: c.commands)
            c.sends += 1
            c.sentStateful = inTransaction || watching
            c.replies.removeAll(keepingCapacity: true)
            c.replies.reserveCapacity(c.commands.count)   // one allocation, not one per doubling
            c.phase = .exchanging(.after(seconds: timeout), flushed: false, waited: false)
            return nil
        }
        dropConnection()
        inTransaction = false; watching = false
        do throws(RESPError) {
            let conn = try RESPConnection(endpoint: endpoint, limits: limits)
            c.phase = .connecting(conn, .after(seconds: connectTimeout))
        } catch {
            return connectFailed(c, error)
        }
        return nil
    }

    private func connecting(_ c: Call, _ conn: RESPConnection, _ d: Deadline) -> Progress? {
        do throws(RESPError) {
            let need = try conn.connectStep()
            if need != .done {
                if Deadline.now() >= d { throw RESPError(.connectTimeout, "connecting to \(endpoint) did not finish within \(connectTimeout)s") }
                return .wait(fd: conn.fd, need: need, until: d)
            }
        } catch {
            conn.close()
            return connectFailed(c, error)
        }
        connectCount += 1
        let hs = RESPSession.handshakeCommands(for: currentEndpoint)
        if hs.isEmpty { adopt(conn); c.phase = .start; return nil }
        for cmd in hs { conn.enqueue(cmd) }
        c.handshakeReplies.removeAll()
        c.phase = .handshaking(conn, d, hs, flushed: false)
        return nil
    }

    private func handshaking(_ c: Call, _ conn: RESPConnection, _ d: Deadline, _ hs: [[String]], _ flushed: Bool) -> Progress? {
        do throws(RESPError) {
            if !flushed {
                let need = try conn.flushStep()
                if need != .done { return try waitOrTimeout(conn, need, d, what: "the handshake") }
                c.phase = .handshaking(conn, d, hs, flushed: true)
            }
            while c.handshakeReplies.count < hs.count {
                if let r = try conn.nextReply() {
                    if case .push = r { dropPush(r); continue }
                    c.handshakeReplies.append(r)
                    continue
                }
                let need = try conn.readStep()
                if need != .done { return try waitOrTimeout(conn, need, d, what: "the handshake") }
            }
            for (cmd, r) in zip(hs, c.handshakeReplies) where r.isError {
                throw RESPError(.handshake, "\(cmd[0]) refused by \(endpoint): \(r.errorMessage ?? "")", serverCode: r.errorCode)
            }
        } catch {
            conn.close()
            return connectFailed(c, error)
        }
        adopt(conn)
        c.phase = .start
        return nil
    }

    private func adopt(_ conn: RESPConnection) {
        connection = conn
    }

    private func connectFailed(_ c: Call, _ e: RESPError) -> Progress? {
        c.connectTries += 1
        if e.kind == .handshake || e.kind == .badURL || e.kind == .tlsVerify || e.kind == .dns || c.connectTries >= retry.maxAttempts {
            c.phase = .done(.failure(e))
            return nil
        }
        c.phase = .backoff(.after(seconds: retry.backoff(attempt: c.connectTries)))
        return nil
    }

    private func waitOrTimeout(_ conn: RESPConnection, _ need: IONeed, _ d: Deadline, what: @autoclosure () -> String) throws(RESPError) -> Progress {
        if Deadline.now() >= d {
            let e = RESPError(.timeout, "\(what()) on \(endpoint) did not finish within \(timeout)s")
            conn.fail(e)
            throw e
        }
        return .wait(fd: conn.fd, need: need, until: d)
    }

    private func exchanging(_ c: Call, _ d: Deadline, _ flushed: Bool, _ waited: Bool) -> Progress? {
        guard let conn = connection else {
            c.phase = .done(.failure(RESPError(.broken, "the connection to \(endpoint) is closed")))
            return nil
        }
        do throws(RESPError) {
            if !flushed {
                let need = try conn.flushStep()
                if need != .done { return try waitOrTimeout(conn, need, d, what: describe(c.commands)) }
            }
            // The replies gather in a local array, put back on every way out: the call's own array
            // is touched twice an exchange, not twice a reply (each touch of a class's stored
            // property is a dynamic exclusivity check, which cost more than the append).
            var replies = c.replies
            c.replies = []
            defer { c.replies = replies }
            while replies.count < c.commands.count {
                if let r = try conn.nextReply() {
                    accept(c, r, &replies)
                    continue
                }
                // The first reply cannot be there yet: wait before reading (saves a recv per call).
                // Not over TLS: libssl may hold decrypted bytes the fd does not show.
                if !waited && !conn.isTLS {
                    c.phase = .exchanging(d, flushed: true, waited: true)
                    return try waitOrTimeout(conn, .readable, d, what: describe(c.commands))
                }
                let need = try conn.readStep()
                if need != .done {
                    c.phase = .exchanging(d, flushed: true, waited: true)
                    return try waitOrTimeout(conn, need, d, what: describe(c.commands))
                }
            }
        } catch {
            return exchangeFailed(c, error)
        }
        c.phase = .done(.success(c.replies))
        return nil
    }

    private func receiving(_ c: Call, _ d: Deadline) -> Progress? {
        guard let conn = connection else {
            c.phase = .done(.failure(RESPError(.broken, "the connection to \(endpoint) is closed")))
            return nil
        }
        do throws(RESPError) {
            while true {
                if let r = try conn.nextReply() { c.phase = .done(.success([r])); return nil }
                let need = try conn.readStep()
                if need == .done { continue }
                if Deadline.now() >= d { c.phase = .done(.success([])); return nil }   // the stream's time is up
                return .wait(fd: conn.fd, need: need, until: d)
            }
        } catch {
            lose(c, why: "the connection broke")
            c.phase = .done(.failure(error))
            return nil
        }
    }

    /// A reply (or a push frame) read during an exchange.
    private func accept(_ c: Call, _ r: RESPValue, _ replies: inout [RESPValue]) {
        if case .push(let items) = r {
            // RESP3 confirms (UN)SUBSCRIBE with a push: that one is the command's reply
            let name = c.commands[replies.count].first?.text.lowercased()
            guard let kind = items.first?.string?.lowercased(), kind == name, kind.hasSuffix("subscribe") else {
                dropPush(r)
                return
            }
        }
        track(c.commands[replies.count], r)
        replies.append(r)
    }

    private func dropPush(_ r: RESPValue) {
        if let h = onPush { h(r) } else { droppedPushCount += 1 }
    }

    /// A failure on the wire: the connection is gone; the call is sent again on a new one
    /// only when that cannot change data twice.
    private func exchangeFailed(_ c: Call, _ e: RESPError) -> Progress? {
        let sentStateful = c.sentStateful || inTransaction || watching
        let unsafe = c.commands.first { !RESPRetryPolicy.isSafeToResend($0) }
        lose(c, why: "the connection broke (\(e.message))")
        let onWire = e.kind == .io || e.kind == .closedByServer
        if onWire, !sentStateful, unsafe == nil, c.sends < retry.maxAttempts {
            c.phase = .backoff(.after(seconds: retry.backoff(attempt: c.sends)))
            return nil
        }
        var message = e.message
        if onWire || e.kind == .timeout {
            if sentStateful || lostTransaction != nil {
                message += "; not re-sent: it ran inside MULTI or after WATCH, whose state the server dropped with the connection"
            } else if c.commands.contains(where: { $0.first?.text.uppercased() == "MULTI" }) {
                message += "; not re-sent: the transaction (MULTI ... EXEC) may or may not have run"
            } else if let u = unsafe {
                message += "; not re-sent: \(u.first?.text.uppercased() ?? "the command") may already have run"
            }
        }
        c.phase = .done(.failure(RESPError(e.kind, message, serverCode: e.serverCode, offset: e.offset)))
        return nil
    }

    /// Closes the connection of a call that still owed replies, and records MULTI/WATCH state
    /// the call would have left in force as lost.
    private func lose(_ c: Call, why: String) {
        var tx = inTransaction, w = watching
        for cmd in c.commands.dropFirst(c.replies.count) { RESPSession.simulate(cmd, &tx, &w) }
        if tx || w {
            lostTransaction = "\(why) \(tx ? "inside MULTI (the queued commands were discarded)" : "after WATCH (the watch ended)") on \(endpoint)"
        }
        inTransaction = false; watching = false
        dropConnection()
    }

    /// The transaction state after `cmd`, assuming the server accepts it.
    private static func simulate(_ cmd: [RESPArgument], _ tx: inout Bool, _ w: inout Bool) {
        switch cmd.first?.text.uppercased() {
        case "MULTI": tx = true
        case "WATCH": if !tx { w = true }
        case "EXEC", "DISCARD", "RESET": tx = false; w = false
        case "UNWATCH": w = false
        default: break
        }
    }

    /// The commands that change what a new connection must restore (`track`), packed.
    private static let trackedNames: [UInt64] = ["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "RESET", "SELECT", "CLIENT", "HELLO", "AUTH"]
        .map { RESPKeys.packedName(name: $0) }

    /// Follows the state a successful reply changes: the transaction, and what a new
    /// connection must restore. Only names that can matter are upper-cased (no allocation
    /// for the common commands).
    private func track(_ cmd: [RESPArgument], _ r: RESPValue) {
        // the names below, recognised as packed integers: the common commands (GET, SET) are
        // never turned into a String
        guard let first = cmd.first, let packed = RESPKeys.packedName(first), RESPSession.trackedNames.contains(packed) else { return }
        let n = first.text.uppercased()
        if r.isError {
            if n == "EXEC" { inTransaction = false; watching = false }
            return
        }
        switch n {
        case "MULTI": inTransaction = true
        case "EXEC", "DISCARD": inTransaction = false; watching = false
        case "WATCH": if !inTransaction { watching = true }
        case "UNWATCH": if !inTransaction { watching = false }
        case "RESET":
            inTransaction = false; watching = false
            database = 0; clientName = nil; protocolVersion = 2
            username = nil; password = nil
        default:
            // inside MULTI these were only queued: they change nothing yet
            guard !inTransaction else { return }
            let args = cmd.dropFirst().map(\.text)
            switch n {
            case "SELECT": if let db = args.first.flatMap({ Int($0) }) { database = db }
            case "CLIENT" where args.count == 2 && args[0].uppercased() == "SETNAME":
                clientName = args[1].isEmpty ? nil : args[1]
            case "AUTH":
                if args.count == 1 { username = nil; password = args[0] }
                if args.count == 2 { username = args[0]; password = args[1] }
            case "HELLO":
                if let v = args.first.flatMap({ Int($0) }) { protocolVersion = v }
                var i = 1
                while i < args.count {
                    switch args[i].uppercased() {
                    case "AUTH" where i + 2 < args.count: username = args[i + 1]; password = args[i + 2]; i += 3
                    case "SETNAME" where i + 1 < args.count: clientName = args[i + 1]; i += 2
                    default: i += 1
                    }
                }
            default: break
            }
        }
    }

    /// "GET" for one command, "pipeline of 3 commands" for more (in messages).
    private func describe(_ commands: [[RESPArgument]]) -> String {
        if commands.count == 1 { return commands[0].first?.text.uppercased() ?? "command" }
        return "pipeline of \(commands.count) commands"
    }

    // MARK: scripts

    /// The SHA-1 SCRIPT LOAD gave for `script` on this session, if it was loaded.
    public func scriptSHA(_ script: [UInt8]) -> [UInt8]? { scriptSHAs[script] }
    /// Remembers (or, with nil, forgets after a NOSCRIPT) the SHA-1 of `script`.
    public func setScriptSHA(_ sha: [UInt8]?, for script: [UInt8]) { scriptSHAs[script] = sha }
}

// MARK: the blocking driver

extension RESPSession {
    /// Runs a call to its end, waiting with poll(2). Not for code on an event loop: use `run(on:)`.
    public func perform(_ commands: [[RESPArgument]]) throws(RESPError) -> [RESPValue] {
        try begin(commands)
        return try finishBlocking()
    }

    func finishBlocking() throws(RESPError) -> [RESPValue] {
        while true {
            switch advance() {
            case .finished(.success(let replies)): return replies
            case .finished(.failure(let e)): throw e
            case .wait(let fd, let need, let until): RESPSession.poll(fd, need, until: until)
            case .sleep(let until): RESPSession.sleep(until: until)
            }
        }
    }

    public func command(_ args: [String]) throws(RESPError) -> RESPValue {
        try perform([args.map { .string($0) }])[0]
    }

    public func command(_ args: [[UInt8]]) throws(RESPError) -> RESPValue {
        try perform([args.map { .bytes($0) }])[0]
    }

    public func command(_ args: [RESPArgument]) throws(RESPError) -> RESPValue {
        try perform([args])[0]
    }

    /// Sends all commands at once, then reads one reply per command, in order.
    public func pipeline(_ commands: [[String]]) throws(RESPError) -> [RESPValue] {
        try perform(commands.map { $0.map { .string($0) } })
    }

    public func pipeline(_ commands: [[RESPArgument]]) throws(RESPError) -> [RESPValue] {
        try perform(commands)
    }

    /// EVALSHA with the script's SHA cached per session (SCRIPT LOAD once; reloaded on NOSCRIPT).
    public func evalCached(_ script: String, keys: [[UInt8]], args: [[UInt8]]) throws(RESPError) -> RESPValue {
        let text = Array(script.utf8)
        for _ in 0..<2 {
            var sha = scriptSHA(text)
            if sha == nil {
                let r = try command(["SCRIPT", "LOAD", script])
                guard let s = r.bytes, !r.isError else { return r }
                sha = s
                setScriptSHA(s, for: text)
            }
            var cmd: [[UInt8]] = [Array("EVALSHA".utf8), sha!, Array(String(keys.count).utf8)]
            cmd += keys; cmd += args
            let r = try command(cmd)
            if r.errorCode == "NOSCRIPT" { setScriptSHA(nil, for: text); continue }
            return r
        }
        return .error(Array("NOSCRIPT script could not be loaded".utf8))
    }

    /// Walks a SCAN-family cursor to the end: `prefix` is ["SCAN"] or ["HSCAN", key] (also
    /// SSCAN/ZSCAN); `page` gets each page's elements and returns false to stop early.
    /// A server error reply is returned as is; nil when the walk ended.
    @discardableResult
    public func scan(_ prefix: [String] = ["SCAN"], match: String? = nil, count: Int? = nil, type: String? = nil,
                     page: ([RESPValue]) -> Bool) throws(RESPError) -> RESPValue? {
        var cursor: [UInt8] = Array("0".utf8)
        repeat {
            var cmd: [RESPArgument] = prefix.map { .string($0) }
            cmd.append(.bytes(cursor))
            if let m = match { cmd += [.string("MATCH"), .string(m)] }
            if let n = count { cmd += [.string("COUNT"), .int(Int64(n))] }
            if let t = type { cmd += [.string("TYPE"), .string(t)] }
            let r = try command(cmd)
            if r.isError { return r }
            guard let parts = r.elements, parts.count == 2, let next = parts[0].bytes, let items = parts[1].elements else {
                throw RESPError(.protocolError, "unexpected \(prefix[0]) reply shape: \(r)")
            }
            if !page(items) { return nil }
            cursor = next
        } while cursor != Array("0".utf8)
        return nil
    }

    /// poll(2) until `fd` is ready for `need` or `until` passes.
    static func poll(_ fd: Int32, _ need: IONeed, until: Deadline) {
        var p = pollfd(fd: fd, events: Int16(need == .writable ? POLLOUT : POLLIN), revents: 0)
        while true {
            let left = until.secondsFromNow
            if left <= 0 { return }
            let rc = Glibc.poll(&p, 1, Int32(min(left * 1000 + 1, 3_600_000)))
            if rc != 0 && !(rc < 0 && errno == EINTR) { return }
        }
    }

    static func sleep(until: Deadline) {
        while true {
            let left = until.secondsFromNow
            if left <= 0 { return }
            var ts = timespec(tv_sec: Int(left), tv_nsec: Int((left - Double(Int(left))) * 1e9))
            _ = nanosleep(&ts, nil)
        }
    }
}

// MARK: the event-loop driver

extension RESPSession {
    /// Runs the call `begin` started on `loop`: `done` is called once, from the loop, with its
    /// result. Returns a canceller that abandons the call (`done` is then never called).
    public func run(on loop: EventLoop, _ done: @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void {
        final class Driver {
            var token: WaitToken?
            var over = false
        }
        let driver = Driver()
        func step() {
            switch advance() {
            case .finished(let r):
                driver.over = true
                done(r)
            case .wait(let fd, let need, let until):
                driver.token = loop.watch(fd: fd, events: need == .writable ? .writable : .readable, deadline: until) { o in
                    driver.token = nil
                    if o != .cancelled && !driver.over { step() }
                }
            case .sleep(let until):
                driver.token = loop.timer(at: until) { o in
                    driver.token = nil
                    if o != .cancelled && !driver.over { step() }
                }
            }
        }
        step()
        return { [weak self] in
            guard !driver.over else { return }
            driver.over = true
            if let t = driver.token { driver.token = nil; loop.cancel(t) }
            self?.abandon()
        }
    }

    /// `begin` then `run(on:)`; a call that cannot begin finishes at once with its error.
    @discardableResult
    public func send(_ commands: [[RESPArgument]], on loop: EventLoop,
                     _ done: @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void {
        do { try begin(commands) } catch { done(.failure(error)); return {} }
        return run(on: loop, done)
    }
}
