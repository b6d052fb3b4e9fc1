import EventLoop

/// A primary found through Redis Sentinel, over `RESPSession`: the sentinels are asked in turn
/// (`SENTINEL get-master-addr-by-name`), the node named is asked `ROLE`, and only a node that
/// says it is the primary is used: a sentinel that still names a demoted node (stale, or cut
/// off from the others) is passed over.
///
/// A failover is followed by discovering the primary again when the current one answers
/// `READONLY` (it was demoted: the command did not run), cannot be reached, or its connection
/// broke: the commands that did not run (or, for a broken connection, only read-only ones) are
/// sent again to the new primary, with backoff, within the call's deadline. A write whose
/// connection broke after it was sent fails: it may have run.
public final class RESPSentinel {
    public let sentinels: [RESPEndpoint]
    public let service: String
    /// The primary's endpoint but its address: credentials, db, TLS, protocol.
    public let template: RESPEndpoint
    public var timeout: Double
    public var connectTimeout: Double
    public private(set) var primary: RESPSession?
    /// "host:port" of the primary in use.
    public private(set) var primaryAddress: String?
    /// Times the primary was discovered (the first included).
    public private(set) var discoveries = 0
    public private(set) var isBusy = false
    private var sentinelSessions: [RESPSession] = []
    private let blocking = RESPBlockingLoop()

    public init(sentinels: [RESPEndpoint], service: String, template: RESPEndpoint,
                connectTimeout: Double = 5, timeout: Double = 10) {
        self.sentinels = sentinels; self.service = service; self.template = template
        self.connectTimeout = connectTimeout; self.timeout = timeout
        sentinelSessions = sentinels.map { RESPSession(endpoint: $0, connectTimeout: connectTimeout, timeout: timeout,
                                                       retry: RESPRetryPolicy(maxAttempts: 1)) }
    }

    /// From "sentinel://[user:pass@]h1:26379,h2:26379/mymaster[/db][?query]": the credentials,
    /// db and query options are the primary's; the sentinels are asked without credentials.
    public convenience init(url: String, connectTimeout: Double = 5, timeout: Double = 10) throws(RESPError) {
        func bad(_ why: String) -> RESPError { RESPError(.badURL, "invalid Sentinel URL \(url): \(why)") }
        var rest = Substring(url)
        if rest.hasPrefix("sentinel://") { rest = rest.dropFirst(11) } else if rest.hasPrefix("redis+sentinel://") { rest = rest.dropFirst(17) } else {
            throw bad("expected sentinel://host:port,.../service")
        }
        var query = ""
        if let q = rest.firstIndex(of: "?") { query = String(rest[q...]); rest = rest[..<q] }
        guard let slash = rest.firstIndex(of: "/") else { throw bad("no service name after the sentinels (…/mymaster)") }
        var hosts = rest[..<slash]
        let path = rest[rest.index(after: slash)...].split(separator: "/")
        guard let name = path.first, !name.isEmpty else { throw bad("no service name after the sentinels (…/mymaster)") }
        var userinfo = ""
        if let at = hosts.lastIndex(of: "@") { userinfo = String(hosts[...at]); hosts = hosts[hosts.index(after: at)...] }
        let sentinels = try RESPCluster.seeds(from: String(hosts)).map { e -> RESPEndpoint in var e = e; e.password = nil; e.username = nil; return e }
        let db = path.count > 1 ? "/" + path[1] : ""
        let template = try RESPEndpoint(url: "redis://" + userinfo + "localhost" + db + query)
        self.init(sentinels: sentinels, service: String(name), template: template, connectTimeout: connectTimeout, timeout: timeout)
    }

    deinit { close() }

    public func close() {
        primary?.close()
        for s in sentinelSessions { s.close() }
    }

    // MARK: discovery

    /// Asks the sentinels for the primary and checks it with ROLE; `done` gets nil once
    /// `primary` is set, or why no primary could be found.
    public func discover(on loop: EventLoop, _ done: @escaping (RESPError?) -> Void) {
        var failures: [String] = []
        discoveries += 1
        func ask(_ k: Int) {
            guard k < sentinelSessions.count else {
                done(RESPError(.sentinel, "no Sentinel named a primary for \(service) that says it is one: " + failures.joined(separator: "; ")))
                return
            }
            let s = sentinelSessions[k]
            s.send([[.string("SENTINEL"), .string("get-master-addr-by-name"), .string(service)]], on: loop) { [weak self] r in
                guard let self else { return }
                let where_ = "sentinel \(s.endpoint.description)"
                switch r {
                case .failure(let e): failures.append("\(where_): \(e.message)"); ask(k + 1)
                case .success(let rs):
                    guard let pair = rs[0].elements, pair.count == 2, let host = pair[0].string, let port = pair[1].int,
                          port > 0, port < 65536 else {
                        failures.append("\(where_): " + (rs[0].isNull ? "does not know \(self.service)" : (rs[0].errorMessage ?? "\(rs[0])")))
                        ask(k + 1); return
                    }
                    let address = RESPClusterNode.address(host, Int(port))
                    let candidate = self.session(host, UInt16(port))
                    candidate.send([[.string("ROLE")]], on: loop) { r in
                        switch r {
                        case .failure(let e): failures.append("\(where_) names \(address), which cannot be reached: \(e.message)")
                        case .success(let rs):
                            let role = rs[0].elements?.first?.string ?? rs[0].errorMessage ?? "?"
                            if role == "master" {
                                if self.primary !== candidate { self.primary?.close() }
                                self.primary = candidate
                                self.primaryAddress = address
                                done(nil)
                                return
                            }
                            candidate.close()
                            failures.append("\(where_) names \(address), which says it is a \(role == "slave" ? "replica" : role) (a stale primary, refused)")
                        }
                        ask(k + 1)
                    }
                }
            }
        }
        ask(0)
    }

    private func session(_ host: String, _ port: UInt16) -> RESPSession {
        if let p = primary, p.endpoint.address == .tcp(host: host, port: port) { return p }
        var e = template
        e.address = .tcp(host: host, port: port)
        return RESPSession(endpoint: e, connectTimeout: connectTimeout, timeout: timeout, retry: RESPRetryPolicy(maxAttempts: 2))
    }

    // MARK: calls

    /// Sends `commands` to the primary, following a failover (see the type's notes). Returns
    /// a canceller (`done` is then never called).
    @discardableResult
    public func send(_ commands: [[RESPArgument]], on loop: EventLoop,
                     _ done: @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void {
        guard !isBusy else { done(.failure(RESPError(.busy, "the Sentinel client is in use by another call"))); return {} }
        isBusy = true
        let deadline = Deadline.after(seconds: timeout)
        var replies: [RESPValue?] = Array(repeating: nil, count: commands.count)
        var pending = Array(commands.indices)
        var over = false
        var cancel: (() -> Void)? = nil
        var timer: WaitToken? = nil
        var rounds = 0
        var trouble = ""
        func end(_ r: Result<[RESPValue], RESPError>) {
            guard !over else { return }
            over = true; isBusy = false
            done(r)
        }
        func retry() {
            rounds += 1
            let at = Deadline.after(seconds: RESPRetryPolicy(maxAttempts: 1, initialBackoff: 0.05, maxBackoff: 0.5).backoff(attempt: rounds))
            if at >= deadline {
                end(.failure(RESPError(.sentinel, "no primary of \(service) served the call within \(timeout)s: \(trouble)"))); return
            }
            timer = loop.timer(at: at) { o in timer = nil; if o != .cancelled { attempt() } }
        }
        func attempt() {
            if over { return }
            guard let p = primary else {
                discover(on: loop) { e in
                    if over { return }
                    if let e { trouble = e.message; retry() } else { attempt() }
                }
                return
            }
            // a failover closes the clients of the demoted primary: find out before sending
            if p.connection?.closedWhileIdle == true { p.dropConnection() }
            let batch = pending.map { commands[$0] }
            cancel = p.send(batch, on: loop) { [weak self] r in
                guard let self, !over else { return }
                switch r {
                case .failure(let e):
                    let neverSent = [RESPError.Kind.connectRefused, .connectTimeout, .connect, .dns].contains(e.kind)
                    if !neverSent, let unsafe = batch.first(where: { !RESPRetryPolicy.isSafeToResend($0) }) {
                        end(.failure(RESPError(e.kind, "\(e.message) (primary \(self.primaryAddress ?? "?") of \(self.service); "
                            + "\(unsafe.first?.text.uppercased() ?? "the command") not sent again: it may already have run)")))
                        return
                    }
                    trouble = e.message
                    self.primary?.close(); self.primary = nil
                    retry()
                case .success(let rs):
                    var again: [Int] = []
                    for (k, i) in pending.enumerated() {
                        if rs[k].errorCode == "READONLY" { again.append(i) } else { replies[i] = rs[k] }
                    }
                    if again.isEmpty { end(.success(replies.map { $0 ?? .null })); return }
                    // demoted under us: those commands did not run
                    trouble = "\(self.primaryAddress ?? "?") answered READONLY (demoted)"
                    pending = again
                    self.primary?.close(); self.primary = nil
                    retry()
                }
            }
        }
        attempt()
        return {
            guard !over else { return }
            over = true; self.isBusy = false
            if let t = timer { timer = nil; loop.cancel(t) }
            cancel?()
        }
    }

    // MARK: blocking

    /// `send`, blocking on a loop of its own. Not for code on an event loop.
    public func perform(_ commands: [[RESPArgument]]) throws(RESPError) -> [RESPValue] {
        try blocking.wait("Sentinel") { l, done in send(commands, on: l, done) }
    }

    public func command(_ args: [String]) throws(RESPError) -> RESPValue {
        try perform([args.map { .string($0) }])[0]
    }
}
