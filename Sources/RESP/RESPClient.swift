import Glibc

/// A blocking convenience over `RESPConnection` for Swift callers and tests: every call waits
/// with poll(2) under a deadline. Not for the Lua event loop (which drives `RESPConnection`).
///
/// - The handshake speaks RESP2 unless the endpoint asks for protocol 3 (then `HELLO 3`):
///   `AUTH [user] pass`, `CLIENT SETNAME`, `SELECT db`, pipelined in one round trip.
/// - A broken connection is never reused: the next call reconnects first (with backoff,
///   `retry.maxAttempts` tries). A command that fails on the wire (I/O error, closed by the
///   server) is re-sent on a new connection only if `RESPRetryPolicy.isSafeToResend` allows
///   every command of the call and no MULTI/WATCH state was in force. Timeouts are not retried.
/// - RESP3 push messages that arrive between replies go to `onPush` (dropped when nil).
public final class RESPClient {
    public let endpoint: RESPEndpoint
    /// Seconds for the TCP connect plus the TLS handshake plus the AUTH/SELECT round trip.
    public var connectTimeout: Double
    /// Seconds for one call (write all, read all replies).
    public var timeout: Double
    public var retry: RESPRetryPolicy
    public var onPush: ((RESPValue) -> Void)? = nil
    public private(set) var connection: RESPConnection?
    /// Connections made, including the first (reconnects = this - 1).
    public private(set) var connectCount = 0

    private var inTransaction = false
    private var watching = false
    private var scriptSHAs: [String: [UInt8]] = [:]

    public init(endpoint: RESPEndpoint, connectTimeout: Double = 5, timeout: Double = 10,
                retry: RESPRetryPolicy = RESPRetryPolicy()) throws(RESPError) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.retry = retry
        try connectNow()
    }

    public static func connect(url: String, timeout: Double = 5) throws(RESPError) -> RESPClient {
        try RESPClient(endpoint: RESPEndpoint(url: url), connectTimeout: timeout, timeout: max(timeout, 10))
    }

    deinit { connection?.close() }

    public func close() { connection?.close(); connection = nil }

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

    /// Checks the handshake replies: the first server error becomes `.handshake`.
    public static func checkHandshake(_ cmds: [[String]], _ replies: [RESPValue], endpoint: RESPEndpoint) throws(RESPError) {
        for (c, r) in zip(cmds, replies) where r.isError {
            throw RESPError(.handshake, "\(c[0]) refused by \(endpoint): \(r.errorMessage ?? "")", serverCode: r.errorCode)
        }
    }

    private func connectNow() throws(RESPError) {
        connection?.close(); connection = nil
        inTransaction = false; watching = false
        let deadline = RESPClient.now() + connectTimeout
        let c = try RESPConnection(endpoint: endpoint)
        connectCount += 1
        do {
            while true {
                let need = try c.connectStep()
                if need == .done { break }
                try RESPClient.wait(c, need, deadline, what: "connect to \(endpoint)", connect: true)
            }
            let hs = RESPClient.handshakeCommands(for: endpoint)
            if !hs.isEmpty {
                for cmd in hs { c.enqueue(cmd) }
                let replies = try exchange(c, count: hs.count, deadline: deadline)
                try RESPClient.checkHandshake(hs, replies, endpoint: endpoint)
            }
        } catch {
            c.close()
            throw error
        }
        connection = c
    }

    /// Makes sure a healthy connection exists, reconnecting with backoff.
    private func ensureConnected() throws(RESPError) {
        if let c = connection, !c.isBroken { return }
        var attempt = 0
        while true {
            do { try connectNow(); return } catch {
                attempt += 1
                if error.kind == .handshake || error.kind == .badURL || error.kind == .tlsVerify || attempt >= retry.maxAttempts { throw error }
                RESPClient.sleep(retry.backoff(attempt: attempt))
            }
        }
    }

    // MARK: calls

    public func command(_ args: [String]) throws(RESPError) -> RESPValue {
        try run(1, { $0.enqueue(args) }, { _ in RESPClient.nameAndSub(args.first, args.count > 1 ? args[1] : nil) })[0]
    }

    public func command(_ args: [[UInt8]]) throws(RESPError) -> RESPValue {
        func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }
        return try run(1, { $0.enqueue(args) }, { _ in RESPClient.nameAndSub(text(args.first), args.count > 1 ? text(args[1]) : nil) })[0]
    }

    public func command(_ args: [RESPArgument]) throws(RESPError) -> RESPValue {
        try run(1, { $0.enqueue(args) }, { _ in RESPClient.nameAndSub(args) })[0]
    }

    /// Sends all commands at once, then reads one reply per command, in order.
    public func pipeline(_ commands: [[String]]) throws(RESPError) -> [RESPValue] {
        try run(commands.count, { c in for cmd in commands { c.enqueue(cmd) } },
                { i in RESPClient.nameAndSub(commands[i].first, commands[i].count > 1 ? commands[i][1] : nil) })
    }

    public func pipeline(_ commands: [[RESPArgument]]) throws(RESPError) -> [RESPValue] {
        try run(commands.count, { c in for cmd in commands { c.enqueue(cmd) } }, { i in RESPClient.nameAndSub(commands[i]) })
    }

    static func nameAndSub(_ name: String?, _ sub: String?) -> (String, String?) { (name ?? "", sub) }

    static func nameAndSub(_ args: [RESPArgument]) -> (String, String?) {
        func text(_ a: RESPArgument) -> String? {
            switch a {
            case .string(let s): return s
            case .bytes(let b): return String(decoding: b, as: UTF8.self)
            default: return nil
            }
        }
        return (args.first.flatMap(text) ?? "", args.count > 1 ? text(args[1]) : nil)
    }

    /// Names that change the connection's transaction state (checked without allocating for
    /// the common commands: only names starting with one of these letters are upper-cased).
    private static func stateName(_ n: String) -> String? {
        guard let f = n.utf8.first, n.utf8.count <= 7 else { return nil }
        switch f | 0x20 {
        case UInt8(ascii: "m"), UInt8(ascii: "e"), UInt8(ascii: "d"), UInt8(ascii: "w"), UInt8(ascii: "u"), UInt8(ascii: "r"):
            return n.uppercased()
        default: return nil
        }
    }

    /// `count` commands, put on the wire by `enqueue`; `name(i)` gives command i's name and
    /// first argument (looked at only for transaction state and, after a failure, for resending).
    private func run(_ count: Int, _ enqueue: (RESPConnection) -> Void,
                     _ name: (Int) -> (String, String?)) throws(RESPError) -> [RESPValue] {
        if count == 0 { return [] }
        var attempt = 0
        while true {
            try ensureConnected()
            let c = connection!
            let stateful = inTransaction || watching
            do {
                enqueue(c)
                let replies = try exchange(c, count: count, deadline: RESPClient.now() + timeout)
                for i in 0..<count {
                    if let n = RESPClient.stateName(name(i).0) { track(n, replies[i]) }
                }
                return replies
            } catch {
                c.close(); connection = nil
                let wasStateful = stateful || inTransaction || watching
                inTransaction = false; watching = false
                attempt += 1
                guard !wasStateful, error.kind == .io || error.kind == .closedByServer, attempt < retry.maxAttempts,
                      (0..<count).allSatisfy({ i in let (n, s) = name(i); return RESPRetryPolicy.isSafeToResend(n, subcommand: s) })
                else { throw error }
                RESPClient.sleep(retry.backoff(attempt: attempt))
            }
        }
    }

    private func track(_ name: String, _ r: RESPValue) {
        switch name {
        case "MULTI": if !r.isError { inTransaction = true }
        case "EXEC", "DISCARD": inTransaction = false; watching = false
        case "WATCH": if !r.isError { watching = true }
        case "UNWATCH": watching = false
        case "RESET": inTransaction = false; watching = false
        default: break
        }
    }

    /// Flushes and reads `count` replies (push messages aside) before `deadline`.
    private func exchange(_ c: RESPConnection, count: Int, deadline: Double) throws(RESPError) -> [RESPValue] {
        while true {
            let need = try c.flushStep()
            if need == .done { break }
            try RESPClient.wait(c, need, deadline, what: "write to \(endpoint)")
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(count)
        var waited = false
        while replies.count < count {
            if let r = try c.nextReply() {
                if case .push = r { onPush?(r); continue }
                replies.append(r)
                continue
            }
            // The first reply cannot be there yet: wait before reading (saves a recv per call).
            // Not over TLS: libssl may hold decrypted bytes the fd does not show.
            if !waited && !c.isTLS { waited = true; try RESPClient.wait(c, .readable, deadline, what: "reply from \(endpoint)") }
            let need = try c.readStep()
            if need != .done { try RESPClient.wait(c, need, deadline, what: "reply from \(endpoint)") }
        }
        return replies
    }

    // MARK: helpers for procedures

    /// EVALSHA with the script's SHA cached per client (SCRIPT LOAD once; reloaded on NOSCRIPT).
    public func evalCached(_ script: String, keys: [[UInt8]], args: [[UInt8]]) throws(RESPError) -> RESPValue {
        for _ in 0..<2 {
            var sha = scriptSHAs[script]
            if sha == nil {
                let r = try command(["SCRIPT", "LOAD", script])
                guard let s = r.bytes, !r.isError else { return r }
                sha = s
                scriptSHAs[script] = s
            }
            var cmd: [[UInt8]] = [Array("EVALSHA".utf8), sha!, Array(String(keys.count).utf8)]
            cmd += keys; cmd += args
            let r = try command(cmd)
            if r.errorCode == "NOSCRIPT" { scriptSHAs[script] = nil; continue }
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

    // MARK: time and waiting

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rem = timespec()
        while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
    }

    /// poll(2) until `c.fd` is ready for `need` or the deadline passes (then the connection
    /// is broken and `.timeout` / `.connectTimeout` is thrown).
    static func wait(_ c: RESPConnection, _ need: IONeed, _ deadline: Double, what: @autoclosure () -> String, connect: Bool = false) throws(RESPError) {
        var p = pollfd(fd: c.fd, events: Int16(need == .writable ? POLLOUT : POLLIN), revents: 0)
        while true {
            let left = deadline - now()
            if left <= 0 { break }
            let rc = poll(&p, 1, Int32(min(left * 1000 + 1, 3_600_000)))
            if rc > 0 { return }
            if rc < 0 && errno != EINTR {
                let e = RESPError(.io, "poll failed: \(RESPSocket.errnoText(errno))")
                c.fail(e); throw e
            }
        }
        let e = connect ? RESPError(.connectTimeout, "timed out: \(what())") : RESPError(.timeout, "timed out waiting for \(what())")
        c.fail(e)
        throw e
    }
}
