import EventLoop

/// A primary found through Redis Sentinel, over `RESPSession`: the sentinels are asked in turn
/// (`SENTINEL get-master-addr-by-name`), the node named is asked `ROLE`, and only a node that
/// says it is the primary is used: a sentinel that still names a demoted node (stale, or cut
/// off from the others) is passed over.
///
/// A failover is followed two ways. Once the primary is found, a connection to the sentinel that
/// named it stays subscribed to `+switch-master`; before each call (and each retry) the
/// announcements that arrived are read without waiting, and one for this service makes the
/// next command go to the new primary (checked with `ROLE` first), before the old one could
/// answer for it. Without an announcement (the subscription lost, a sentinel cut off), the
/// primary is discovered again when the current one answers `READONLY` (it was demoted: the
/// command did not run), cannot be reached, or its connection broke: the commands that did not
/// run (or, for a broken connection, only read-only ones) are sent again to the new primary,
/// with backoff, within the call's deadline. A write whose connection broke after it was sent
/// fails: it may have run.
///
/// The sentinels' own credentials (`requirepass` in sentinel.conf) are the sentinel endpoints'
/// (`sentinel_username` / `sentinel_password` in a URL); the primary's are the template's.
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
    /// Times the sentinels were asked for the primary (the first included; not a primary a
    /// `+switch-master` announced).
    public private(set) var discoveries = 0
    public private(set) var isBusy = false
    /// `+switch-master` announcements for this service that were followed.
    public private(set) var switchesFollowed = 0
    /// The sentinel connection subscribed to `+switch-master` (nil: not subscribed).
    public private(set) var watcher: RESPSession?
    /// The address a `+switch-master` announced, to be checked with ROLE before use.
    private var announced: (host: String, port: UInt16)?
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
    /// db and query options are the primary's, but `sentinel_username` and `sentinel_password`,
    /// which the sentinels are sent (without them they are asked without credentials).
    public convenience init(url: String, connectTimeout: Double = 5, timeout: Double = 10) throws(RESPError) {
        func bad(_ why: String) -> RESPError { RESPError(.badURL, "invalid Sentinel URL \(url): \(why)") }
        var rest = Substring(url)
        if rest.hasPrefix("sentinel://") { rest = rest.dropFirst(11) } else if rest.hasPrefix("redis+sentinel://") { rest = rest.dropFirst(17) } else {
            throw bad("expected sentinel://host:port,.../service")
        }
        var query = ""
        var sentinelUser: String? = nil, sentinelPass: String? = nil
        if let q = rest.firstIndex(of: "?") {
            var kept: [Substring] = []
            for kv in rest[rest.index(after: q)...].split(separator: "&") {
                let pair = kv.split(separator: "=", maxSplits: 1)
                let value = { () throws(RESPError) -> String in try RESPEndpoint.percentDecode(pair.count > 1 ? pair[1] : "", what: "query value") }
                switch pair[0].lowercased() {
                case "sentinel_password": sentinelPass = try value()
                case "sentinel_username", "sentinel_user": sentinelUser = try value()
                default: kept.append(kv)
                }
            }
            if !kept.isEmpty { query = "?" + kept.joined(separator: "&") }
            rest = rest[..<q]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw bad("no service name after the sentinels (…/mymaster)") }
        var hosts = rest[..<slash]
        let path = rest[rest.index(after: slash)...].split(separator: "/")
        guard let name = path.first, !name.isEmpty else { throw bad("no service name after the sentinels (…/mymaster)") }
        var userinfo = ""
        if let at = hosts.lastIndex(of: "@") { userinfo = String(hosts[...at]); hosts = hosts[hosts.index(after: at)...] }
        let sentinels = try RESPCluster.seeds(from: String(hosts)).map { e -> RESPEndpoint in
            var e = e; e.password = sentinelPass; e.username = sentinelPass == nil ? nil : sentinelUser; return e
        }
        let db = path.count > 1 ? "/" + path[1] : ""
        let template = try RESPEndpoint(url: "redis://" + userinfo + "localhost" + db + query)
        self.init(sentinels: sentinels, service: String(name), template: template, connectTimeout: connectTimeout, timeout: timeout)
    }

    deinit { close() }

    public func close() {
        primary?.close()
        for s in sentinelSessions { s.close() }
        watcher?.close(); watcher = nil
    }

    // MARK: +switch-master

    /// Subscribes a connection to the sentinel `k` to `+switch-master` (once; a failure leaves
    /// re-discovery on errors to follow failovers), then calls `next`.
    private func subscribe(_ k: Int, on loop: EventLoop, _ next: @escaping () -> Void) {
        if let w = watcher, let c = w.connection, !c.isBroken { next(); return }
        watcher?.close(); watcher = nil
        let w = RESPSession(endpoint: sentinels[k], connectTimeout: connectTimeout, timeout: timeout,
                            retry: RESPRetryPolicy(maxAttempts: 1))
        w.send([[.string("SUBSCRIBE"), .string("+switch-master")]], on: loop) { [weak self] r in
            if case .success(let rs) = r, rs.first?.elements?.first?.string == "subscribe" { self?.watcher = w } else { w.close() }
            next()
        }
    }

    /// Reads the announcements that arrived on the subscription, without waiting: one for this
    /// service ("service old-ip old-port new-ip new-port") that names another node than the
    /// primary in use drops that primary and leaves the new one to be checked.
    private func readAnnouncements() {
        guard let w = watcher, !w.isBusy else { return }
        while true {
            do throws(RESPError) { try w.beginReceive(until: .now()) } catch { w.close(); watcher = nil; return }
            guard case .finished(let r) = w.advance() else { w.abandon(); return }
            guard case .success(let rs) = r else { w.close(); watcher = nil; return }
            guard let message = rs.first else { return }   // nothing more has arrived
            guard let items = message.elements, items.count == 3, items[0].string == "message",
                  let words = items[2].string?.split(separator: " "), words.count == 5, words[0] == service,
                  let port = UInt16(words[4]) else { continue }
            let address = RESPClusterNode.address(String(words[3]), Int(port))
            if address != primaryAddress {
                primary?.close(); primary = nil; primaryAddress = nil
                announced = (String(words[3]), port)
            }
        }
    }

    // MARK: discovery

    /// Asks the sentinels for the primary and checks it with ROLE; `done` gets nil once
    /// `primary` is set, or why no primary could be found. A primary a `+switch-master`
    /// announced is checked first.
    public func discover(on loop: EventLoop, _ done: @escaping (RESPError?) -> Void) {
        var failures: [String] = []
        if let (host, port) = announced {
            announced = nil
            verify(host, port, on: loop) { [weak self] why in
                guard let self else { return }
                if let why { failures.append("+switch-master named \(RESPClusterNode.address(host, Int(port))), \(why)") } else {
                    self.switchesFollowed += 1
                    done(nil); return
                }
                self.ask(0, failures, on: loop, done)
            }
            return
        }
        ask(0, failures, on: loop, done)
    }

    private func ask(_ k: Int, _ failures: [String], on loop: EventLoop, _ done: @escaping (RESPError?) -> Void) {
        guard k < sentinelSessions.count else {
            done(RESPError(.sentinel, "no Sentinel named a primary for \(service) that says it is one: " + failures.joined(separator: "; ")))
            return
        }
        var failures = failures
        if k == 0 { discoveries += 1 }
        let s = sentinelSessions[k]
        s.send([[.string("SENTINEL"), .string("get-master-addr-by-name"), .string(service)]], on: loop) { [weak self] r in
            guard let self else { return }
            let where_ = "sentinel \(s.endpoint.description)"
            switch r {
            case .failure(let e): failures.append("\(where_): \(e.message)"); self.ask(k + 1, failures, on: loop, done)
            case .success(let rs):
                guard let pair = rs[0].elements, pair.count == 2, let host = pair[0].string, let port = pair[1].int,
                      port > 0, port < 65536 else {
                    failures.append("\(where_): " + (rs[0].isNull ? "does not know \(self.service)" : (rs[0].errorMessage ?? "\(rs[0])")))
                    self.ask(k + 1, failures, on: loop, done); return
                }
                self.verify(host, UInt16(port), on: loop) { why in
                    if let why {
                        failures.append("\(where_) names \(RESPClusterNode.address(host, Int(port))), \(why)")
                        self.ask(k + 1, failures, on: loop, done)
                        return
                    }
                    self.subscribe(k, on: loop) { done(nil) }
                }
            }
        }
    }

    /// Asks the node ROLE and makes it the primary when it says it is one; `done` gets nil
    /// then, or why it was refused.
    private func verify(_ host: String, _ port: UInt16, on loop: EventLoop, _ done: @escaping (String?) -> Void) {
        let candidate = session(host, port)
        candidate.send([[.string("ROLE")]], on: loop) { [weak self] r in
            guard let self else { return }
            switch r {
            case .failure(let e): done("which cannot be reached: \(e.message)")
            case .success(let rs):
                let role = rs[0].elements?.first?.string ?? rs[0].errorMessage ?? "?"
                if role == "master" {
                    if self.primary !== candidate { self.primary?.close() }
                    self.primary = candidate
                    self.primaryAddress = RESPClusterNode.address(host, Int(port))
                    done(nil)
                    return
                }
                candidate.close()
                done("which says it is a \(role == "slave" ? "replica" : role) (a stale primary, refused)")
            }
        }
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
            readAnnouncements()
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
