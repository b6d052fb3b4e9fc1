import EventLoop

/// A Redis Cluster client over `RESPSession`: one session per node, commands routed by the slot
/// of their keys (`RESPSlots`, `RESPKeys`), the slot map from `CLUSTER SHARDS` (or
/// `CLUSTER SLOTS` on servers before Redis 7).
///
/// - A pipeline is split per node, the parts sent at once, the replies put back in the
///   caller's order. A command whose keys span slots is refused before anything is sent.
/// - `MOVED` sends the command again to the node named, and the map is read again before the
///   next round; `ASK` sends it once to the node named, preceded by `ASKING`. `TRYAGAIN`,
///   `CLUSTERDOWN`, `LOADING`, `READONLY` (a primary demoted under us) and a node that cannot be
///   reached are retried with backoff until the call's deadline, the map read again: a failover
///   is followed. A command whose connection broke after it was sent is sent again only when
///   `RESPRetryPolicy.isSafeToResend` says it is read-only.
/// - A command that means the whole data set (DBSIZE, FLUSHDB, KEYS, INFO, SCRIPT LOAD) goes to
///   every primary (`fanOut`); `send` combines the replies (integers summed, arrays joined).
/// - With `readFrom = .replica`, read-only commands go to a replica of the slot's primary
///   (after `READONLY` on that connection), to the primary when it has none.
///
/// Calls run on an `EventLoop` (`send`), or block (`perform`, on a loop of its own). One call
/// at a time, like a session. Each node's connection stays registered on the loop between
/// calls (`Link`): a call writes every node's part, then reads the replies as they arrive,
/// with no epoll registration of its own (BENCHMARKS.md section 13).
public final class RESPCluster {
    public enum ReadFrom: Sendable { case primary, replica }

    public let seeds: [RESPEndpoint]
    /// Seconds for a whole call, redirects and retries included (and for each exchange).
    public var timeout: Double
    public var connectTimeout: Double
    public var readFrom: ReadFrom
    /// Redirects (MOVED, ASK) one command may follow before the call fails.
    public var maxRedirects = 16
    public private(set) var map: RESPSlotMap?
    /// Which node the map was read from last.
    public private(set) var mapSource: String?

    /// Counters since the client was made: what the cluster asked of it.
    public struct Stats: Sendable, Equatable {
        public var moved = 0, ask = 0, retried = 0, refreshes = 0
    }
    public private(set) var stats = Stats()

    private var links: [String: Link] = [:]
    /// The links of the map's nodes by their index in `map.nodes` (emptied when the map changes):
    /// routing a command needs no address string.
    private var nodeLinks: [Link?] = []
    /// The connectCount of a replica's session when READONLY was sent on it.
    private var readonlyOn: [String: Int] = [:]
    private var staleMap = true
    private var replicaTurn = 0
    private let blocking = RESPBlockingLoop()
    public private(set) var isBusy = false

    public init(seeds: [RESPEndpoint], connectTimeout: Double = 5, timeout: Double = 10, readFrom: ReadFrom = .primary) {
        self.seeds = seeds
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.readFrom = readFrom
    }

    /// Seeds from "redis://h1:7000,h2:7001/?password=..." or "h1:7000,h2:7001": the
    /// credentials, TLS and protocol of the first apply to every node.
    public static func seeds(from text: String) throws(RESPError) -> [RESPEndpoint] {
        var scheme = "redis://", rest = Substring(text)
        let chars = Array(text.utf8)
        if let k = (0..<max(0, chars.count - 2)).first(where: { chars[$0] == 0x3A && chars[$0 + 1] == 0x2F && chars[$0 + 2] == 0x2F }) {
            let end = text.utf8.index(text.startIndex, offsetBy: k + 3)
            scheme = String(text[..<end]); rest = text[end...]
        }
        var userinfo = ""
        if let at = rest.firstIndex(of: "@"), !rest[..<at].contains("/") {
            userinfo = String(rest[...at]); rest = rest[rest.index(after: at)...]
        }
        var tail = ""
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) { tail = String(rest[slash...]); rest = rest[..<slash] }
        let hosts = rest.split(separator: ",").map(String.init)
        guard !hosts.isEmpty else { throw RESPError(.badURL, "no cluster node in \(text)") }
        var out: [RESPEndpoint] = []
        for h in hosts {
            let e = try RESPEndpoint(url: scheme + userinfo + h + tail)
            guard e.database == 0 else { throw RESPError(.badURL, "\(text): a cluster has only database 0") }
            out.append(e)
        }
        return out
    }

    deinit { close() }

    public func close() {
        for l in links.values { release(l); l.session.close() }
        links.removeAll()
        nodeLinks.removeAll()
        readonlyOn.removeAll()
    }

    // MARK: nodes

    /// The session of the node at `address` ("host:port"), made on first use with the seeds'
    /// credentials and TLS.
    public func session(for address: String) -> RESPSession { link(for: address).session }

    private func link(for address: String) -> Link {
        if let l = links[address] { return l }
        var e = seeds[0]
        if let (h, p) = RESPClusterNode.split(address) { e.address = .tcp(host: h, port: UInt16(p)) }
        let l = Link(RESPSession(endpoint: e, connectTimeout: connectTimeout, timeout: timeout,
                                 retry: RESPRetryPolicy(maxAttempts: 2)))
        links[address] = l
        return l
    }

    /// The link of the node at `index` in `map.nodes`.
    private func link(node index: Int, _ map: RESPSlotMap) -> Link {
        if nodeLinks.count != map.nodes.count { nodeLinks = Array(repeating: nil, count: map.nodes.count) }
        if let l = nodeLinks[index] { return l }
        let l = link(for: map.nodes[index].address)
        nodeLinks[index] = l
        return l
    }

    private var seedAddresses: [String] {
        seeds.compactMap { e in
            if case .tcp(let h, let p) = e.address { return RESPClusterNode.address(h, Int(p)) }
            return nil
        }
    }

    /// Where a slot's command goes (an index in `map.nodes`), or nil when no node serves the slot.
    private func target(slot: Int?, readOnly: Bool, map: RESPSlotMap) -> (node: Int, replica: Bool)? {
        let p: Int
        if let slot {
            let i = map.slots[slot]
            guard i >= 0 else { return nil }
            p = Int(i)
        } else {
            guard let n = map.servingPrimaries.first ?? map.primaries.first, let i = map.nodes.firstIndex(of: n) else { return nil }
            p = i
        }
        if readOnly && readFrom == .replica {
            let r = map.replicas(of: map.nodes[p])
            if !r.isEmpty {
                replicaTurn &+= 1
                if let i = map.nodes.firstIndex(of: r[replicaTurn % r.count]) { return (i, true) }
            }
        }
        return (p, false)
    }

    // MARK: the slot map

    /// Reads the slot map from the known nodes, then the seeds, the first that answers.
    public func refresh(on loop: EventLoop, _ done: @escaping (RESPError?) -> Void) {
        var candidates: [String] = []
        for a in (map?.servingPrimaries.map(\.address) ?? []) + (map?.nodes.map(\.address) ?? []) + seedAddresses
        where !candidates.contains(a) { candidates.append(a) }
        var failures: [String] = []
        stats.refreshes += 1
        func attempt(_ k: Int) {
            guard k < candidates.count else {
                done(RESPError(.cluster, "no node of the cluster answered CLUSTER SHARDS or CLUSTER SLOTS: " + failures.joined(separator: "; ")))
                return
            }
            let address = candidates[k]
            let l = link(for: address)
            let host = RESPClusterNode.split(address)?.host ?? ""
            exchange(l, [[.string("CLUSTER"), .string("SHARDS")]], on: loop) { [weak self] r in
                guard let self else { return }
                switch r {
                case .failure(let e): failures.append("\(address): \(e.message)"); attempt(k + 1)
                case .success(let replies):
                    if let m = RESPSlotMap.parseShards(replies[0], askedHost: host) { self.adopt(m, from: address); done(nil); return }
                    // before Redis 7 (or a server without SHARDS): CLUSTER SLOTS
                    self.exchange(l, [[.string("CLUSTER"), .string("SLOTS")]], on: loop) { [weak self] r in
                        guard let self else { return }
                        if case .success(let rs) = r, let m = RESPSlotMap.parseSlots(rs[0], askedHost: host) {
                            self.adopt(m, from: address); done(nil); return
                        }
                        let why: String
                        switch r {
                        case .failure(let e): why = e.message
                        case .success(let rs): why = rs[0].errorMessage ?? "not a slot map: \(String(describing: rs[0]).prefix(80))"
                        }
                        failures.append("\(address): \(why)")
                        attempt(k + 1)
                    }
                }
            }
        }
        attempt(0)
    }

    private func adopt(_ m: RESPSlotMap, from address: String) {
        map = m
        nodeLinks.removeAll()
        mapSource = address
        staleMap = false
        // sessions of nodes that left the cluster are closed (the seeds' are kept to find it again)
        let known = Set(m.nodes.map(\.address)).union(seedAddresses)
        for (a, l) in links where !known.contains(a) && !l.session.isBusy {
            release(l); l.session.close(); links[a] = nil; readonlyOn[a] = nil
        }
    }

    // MARK: node links

    /// A node's session and the persistent watch (readable) on its connection, kept between
    /// calls: an exchange asks the loop for nothing but a deadline timer. A connection that
    /// becomes readable while no exchange runs (closed by the server) loses its watch, and a
    /// new connection (or another loop) gets a new one.
    private final class Link {
        let session: RESPSession
        var token: WaitToken?
        weak var loop: EventLoop?
        /// The connection the watch is on.
        var watched: RESPConnection?
        /// The exchange waiting for the connection's replies.
        var step: (() -> Void)?
        init(_ session: RESPSession) { self.session = session }
    }

    private func release(_ l: Link) {
        if let t = l.token { l.token = nil; l.loop?.unwatch(t) }
        l.watched = nil
    }

    /// Drops the watch when it is not on the session's connection on `loop` (the session
    /// replaced or closed its connection).
    private func check(_ l: Link, _ loop: EventLoop) {
        guard l.token != nil else { return }
        let c = l.session.connection
        if l.watched !== c || l.loop !== loop || c?.isBroken != false { release(l) }
    }

    private func register(_ l: Link, _ c: RESPConnection, _ loop: EventLoop) {
        if l.token != nil && l.watched === c && l.loop === loop { return }
        release(l)
        l.loop = loop
        l.watched = c
        l.token = loop.watchPersistent(fd: c.fd, events: .readable) { [weak self, weak l] _ in
            guard let l else { return }
            if let step = l.step { step() } else { self?.release(l) }
        }
    }

    /// Runs `commands` on the link's session (its state machine), the replies awaited through
    /// the link's watch; other waits (connecting, a full socket buffer, TLS, a backoff) are
    /// one-shot. Returns a canceller (`done` is then never called).
    @discardableResult
    private func exchange(_ l: Link, _ commands: [[RESPArgument]], on loop: EventLoop,
                          _ done: @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void {
        let s = l.session
        do { try s.begin(commands) } catch { done(.failure(error)); return {} }
        final class State {
            var token: WaitToken?
            var until: Deadline?
            var over = false
        }
        let st = State()
        func clear() {
            if let t = st.token { st.token = nil; st.until = nil; loop.cancel(t) }
        }
        func step() {
            if st.over { return }
            let p = s.advance()
            check(l, loop)
            switch p {
            case .finished(let r):
                st.over = true
                l.step = nil
                clear()
                done(r)
            case .wait(let fd, let need, let until):
                if need == .readable, let c = s.connection, c.fd == fd, !c.isTLS {
                    register(l, c, loop)
                    l.step = step
                    // the exchange's deadline: one timer, kept while the deadline stays
                    if st.token != nil && st.until == until { return }
                    clear()
                    st.until = until
                    st.token = loop.timer(at: until) { o in st.token = nil; st.until = nil; if o != .cancelled { step() } }
                } else {
                    l.step = nil
                    clear()
                    st.token = loop.watch(fd: fd, events: need == .writable ? .writable : .readable, deadline: until) { o in
                        st.token = nil; if o != .cancelled { step() }
                    }
                }
            case .sleep(let until):
                l.step = nil
                clear()
                st.token = loop.timer(at: until) { o in st.token = nil; if o != .cancelled { step() } }
            }
        }
        step()
        return { [weak self] in
            guard !st.over else { return }
            st.over = true
            l.step = nil
            clear()
            s.abandon()
            self?.check(l, loop)
        }
    }

    // MARK: calls

    private final class Call {
        let commands: [[RESPArgument]]
        /// The replies by the caller's index, as they come in (allocated by the first part that
        /// is not the whole call, see `wholeReplies`).
        var replies: [RESPValue?] = []
        /// The replies of a call answered whole by one node in one round with nothing redirected
        /// or retried: given to the caller as they are (the common call, without a copy).
        var wholeReplies: [RESPValue]?
        /// What the caller gets once nothing is pending.
        var result: [RESPValue] {
            if let wholeReplies { return wholeReplies }
            return replies.isEmpty ? Array(repeating: .null, count: commands.count) : replies.map { $0 ?? .null }
        }
        var slots: [Int?]
        private var readOnly: [Bool]
        func isReadOnly(_ i: Int) -> Bool { readOnly.isEmpty ? RESPRetryPolicy.isSafeToResend(commands[i]) : readOnly[i] }
        var ask: [Int: String] = [:]
        /// Redirects followed per command (only commands redirected at least once).
        var redirects: [Int: Int] = [:]
        /// The commands to send in the next round; before the first, every command (`firstRound`,
        /// the list not made: a call sent whole never needs it).
        var pending: [Int] = []
        var firstRound = true
        let deadline: Deadline
        var rounds = 0
        /// The round in flight: its parts not answered yet and what their answers asked for
        /// (kept here rather than captured by each part's closure: no boxes per call).
        struct Round {
            var left = 0
            var retry = false, refreshAfter = false
            var failure: RESPError?
        }
        var round = Round()
        var lastTrouble: String?
        var refreshedForHoles = false
        var cancellers: [() -> Void] = []
        var timer: WaitToken?
        var over = false
        let done: (Result<[RESPValue], RESPError>) -> Void
        init(_ commands: [[RESPArgument]], slots: [Int?], readFrom: ReadFrom, deadline: Deadline,
             done: @escaping (Result<[RESPValue], RESPError>) -> Void) {
            self.commands = commands
            self.slots = slots
            // only replica reads need it before a failure: spared on the common path
            readOnly = readFrom == .replica ? commands.map(RESPRetryPolicy.isSafeToResend) : []
            self.deadline = deadline
            self.done = done
        }
    }

    /// Sends `commands` (one, or a pipeline) and gives their replies in order, a server error
    /// being an `.error` reply. Returns a canceller (`done` is then never called).
    @discardableResult
    public func send(_ commands: [[RESPArgument]], on loop: EventLoop,
                     _ done: @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void {
        var slots: [Int?] = []
        slots.reserveCapacity(commands.count)
        for cmd in commands {
            if let slot = RESPKeys.firstKeySlot(cmd) { slots.append(slot); continue }
            switch RESPKeys.route(cmd) {
            case .anyNode: slots.append(nil)
            case .keys(let k):
                do throws(RESPError) { slots.append(try RESPKeys.slot(of: cmd, keys: k)) } catch { done(.failure(error)); return {} }
            case .refused(let why):
                done(.failure(RESPError(.cluster, "not sent to the cluster: \(why)"))); return {}
            case .everyPrimary:
                guard commands.count == 1 else {
                    done(.failure(RESPError(.cluster, "\(cmd[0].text.uppercased()) means every primary of the cluster: send it alone, not in a pipeline")))
                    return {}
                }
                if cmd[0].text.uppercased() == "SCAN" {
                    done(.failure(RESPError(.cluster, "SCAN walks one node: use the cluster's scan, which walks every primary")))
                    return {}
                }
                return fanOut(cmd, on: loop) { results in done(RESPCluster.combine(cmd, results)) }
            }
        }
        guard !isBusy else { done(.failure(RESPError(.busy, "the cluster client is in use by another call"))); return {} }
        isBusy = true
        let call = Call(commands, slots: slots, readFrom: readFrom, deadline: .after(seconds: timeout)) { [weak self] r in
            self?.isBusy = false
            done(r)
        }
        round(call, loop)
        return { [weak self] in
            guard !call.over else { return }
            call.over = true
            if let t = call.timer { call.timer = nil; loop.cancel(t) }
            for c in call.cancellers { c() }
            self?.isBusy = false
        }
    }

    private func finish(_ c: Call, _ r: Result<[RESPValue], RESPError>) {
        guard !c.over else { return }
        c.over = true
        c.done(r)
    }

    private func round(_ c: Call, _ loop: EventLoop) {
        if c.over { return }
        if staleMap || map == nil {
            refresh(on: loop) { [weak self] e in
                guard let self, !c.over else { return }
                if let e {
                    // a node not answering while the cluster fails over: try again until the deadline
                    c.lastTrouble = e.message
                    if self.map == nil || Deadline.now() >= c.deadline { self.finish(c, .failure(e)); return }
                    self.staleMap = false
                    self.backoff(c, loop, refreshAfter: true)
                    return
                }
                self.route(c, loop)
            }
            return
        }
        route(c, loop)
    }

    private struct Part {
        /// The node's index in the map's nodes; -1: an ASK target the map does not name.
        var node: Int
        var address: String
        var commands: [[RESPArgument]] = []
        /// For each command sent: the caller's index, or nil for ASKING/READONLY. Empty when
        /// the part is the whole call in the caller's order (`whole`).
        var owners: [Int?] = []
        var whole = false
        var sentReadonly = false

        /// The caller's index of the `k`th command sent, nil for ASKING/READONLY.
        func owner(_ k: Int) -> Int? { whole ? k : owners[k] }
        /// The callers' indices of the commands sent.
        var callers: [Int] { whole ? Array(commands.indices) : owners.compactMap { $0 } }
    }

    /// The one part of a call whose every command goes to the same primary in the first round:
    /// the caller's commands sent as they are, with no part of their own built.
    private func wholeCallPart(_ c: Call, _ map: RESPSlotMap) -> Part? {
        guard c.firstRound, readFrom == .primary, !c.slots.isEmpty,   // no ASK before the first round's answers
              let first = target(slot: c.slots[0], readOnly: false, map: map) else { return nil }
        for slot in c.slots.dropFirst() {
            if let slot {
                guard map.slots[slot] == first.node else { return nil }
            } else if target(slot: nil, readOnly: false, map: map)?.node != first.node {
                return nil
            }
        }
        return Part(node: first.node, address: map.nodes[first.node].address, commands: c.commands, whole: true)
    }

    private func route(_ c: Call, _ loop: EventLoop) {
        guard let map else { finish(c, .failure(RESPError(.cluster, "no slot map"))); return }
        var parts: [Part] = []
        var holes: [Int] = []
        if let whole = wholeCallPart(c, map) { parts.append(whole) } else {
            let todo = c.firstRound ? Array(c.commands.indices) : c.pending
            for i in todo {
                var node: Int, replica = false
                let askTo = c.ask.isEmpty ? nil : c.ask[i]
                if let a = askTo {
                    node = map.nodes.firstIndex { $0.address == a } ?? -1
                } else if let t = target(slot: c.slots[i], readOnly: readFrom == .replica && c.isReadOnly(i), map: map) {
                    (node, replica) = t
                } else { holes.append(i); continue }
                var k = 0
                while k < parts.count && (parts[k].node != node || (node < 0 && parts[k].address != askTo)) { k += 1 }
                if k == parts.count {
                    let address = node >= 0 ? map.nodes[node].address : askTo!
                    parts.append(Part(node: node, address: address))
                    // room for every command at once: a part's lists are not grown step by step
                    parts[k].commands.reserveCapacity(todo.count + 1); parts[k].owners.reserveCapacity(todo.count + 1)
                    if replica {
                        let s = session(for: address)
                        if s.connection == nil || s.connection!.isBroken || readonlyOn[address] != s.connectCount {
                            parts[k].commands.append([.string("READONLY")]); parts[k].owners.append(nil)
                            parts[k].sentReadonly = true
                        }
                    }
                }
                if askTo != nil { parts[k].commands.append([.string("ASKING")]); parts[k].owners.append(nil) }
                parts[k].commands.append(c.commands[i]); parts[k].owners.append(i)
            }
        }
        if !holes.isEmpty {
            let missing = RESPSlotMap.describe(map.missingRanges)
            if !c.refreshedForHoles {
                // the map may be older than the cluster: read it once more before giving up
                c.refreshedForHoles = true
                staleMap = true
                round(c, loop)
                return
            }
            let slot = c.slots[holes[0]] ?? -1
            finish(c, .failure(RESPError(.cluster, "slot \(slot) is served by no node of the cluster "
                + "(the slot map from \(mapSource ?? "?") leaves slots \(missing) uncovered)")))
            return
        }
        c.pending.removeAll()
        c.firstRound = false
        c.rounds += 1
        if parts.isEmpty { finish(c, .success(c.result)); return }
        c.round = Call.Round(left: parts.count)
        for part in parts {
            let l = part.node >= 0 ? link(node: part.node, map) : link(for: part.address)
            let cancel = exchange(l, part.commands, on: loop) { [weak self] r in
                guard let self, !c.over else { return }
                let (again, refresh, fail) = self.absorb(c, part.address, part, r, l.session)
                c.round.retry = c.round.retry || again
                c.round.refreshAfter = c.round.refreshAfter || refresh
                if c.round.failure == nil { c.round.failure = fail }
                c.round.left -= 1
                if c.round.left > 0 { return }
                c.cancellers.removeAll()
                if let f = c.round.failure { self.finish(c, .failure(f)); return }
                if c.pending.isEmpty { self.finish(c, .success(c.result)); return }
                c.pending.sort()
                if c.round.retry { self.backoff(c, loop, refreshAfter: c.round.refreshAfter); return }
                self.round(c, loop)
            }
            c.cancellers.append(cancel)
        }
    }

    /// Takes one node's replies: final ones are kept, redirected ones queued again. Returns
    /// whether to back off before the next round, whether to read the map again, and a failure
    /// that ends the call.
    private func absorb(_ c: Call, _ address: String, _ part: Part, _ r: Result<[RESPValue], RESPError>,
                        _ s: RESPSession) -> (Bool, Bool, RESPError?) {
        switch r {
        case .failure(let e):
            let neverSent = [RESPError.Kind.connectRefused, .connectTimeout, .connect, .dns].contains(e.kind)
            for i in part.callers {
                if neverSent || c.isReadOnly(i) { c.pending.append(i); c.ask[i] = nil; continue }
                return (false, false, RESPError(e.kind, "\(e.message) (node \(address) of the cluster; "
                    + "\(c.commands[i].first?.text.uppercased() ?? "the command") not sent again: it may already have run)", serverCode: e.serverCode))
            }
            if e.kind == .busy || e.kind == .handshake || e.kind == .badURL || e.kind == .tlsVerify { return (false, false, e) }
            c.lastTrouble = "\(address): \(e.message)"
            staleMap = true
            return (true, true, nil)
        case .success(let replies):
            var again = false, refresh = false
            if part.sentReadonly, replies.first.map({ !$0.isError }) ?? false {
                readonlyOn[address] = s.connectCount
            }
            if part.whole && !replies.contains(where: \.isError) { c.wholeReplies = replies; return (false, false, nil) }
            if c.replies.isEmpty { c.replies = Array(repeating: nil, count: c.commands.count) }
            for k in replies.indices {
                guard let i = part.owner(k) else { continue }
                let reply = replies[k]
                if !c.ask.isEmpty { c.ask[i] = nil }
                guard reply.isError, let code = reply.errorCode else { c.replies[i] = reply; continue }
                switch code {
                case "MOVED", "ASK":
                    let words = (reply.errorMessage ?? "").split(separator: " ")
                    guard words.count >= 3, let slot = Int(words[1]), slot >= 0, slot < RESPSlots.count else {
                        c.replies[i] = reply; continue
                    }
                    let to = String(words[2])
                    c.redirects[i, default: 0] += 1
                    if c.redirects[i, default: 0] > maxRedirects {
                        let loop = to == address ? " (the node answered \(code) to itself: its slot map contradicts itself)" : ""
                        return (false, false, RESPError(.cluster, "\(c.commands[i].first?.text.uppercased() ?? "command") for slot \(slot) "
                            + "was redirected \(maxRedirects) times, last by \(address): \(reply.errorMessage ?? "")\(loop)"))
                    }
                    if code == "MOVED" {
                        stats.moved += 1
                        map?.move(slot: slot, to: to)
                        nodeLinks.removeAll()
                        staleMap = true
                    } else {
                        stats.ask += 1
                        c.ask[i] = to
                    }
                    c.pending.append(i)
                case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "READONLY", "MASTERDOWN":
                    // not run: a slot being moved, a cluster or node not ready, a primary demoted
                    c.lastTrouble = "\(address): \(reply.errorMessage ?? code)"
                    c.pending.append(i)
                    again = true
                    if code != "TRYAGAIN" { refresh = true; staleMap = true }
                default:
                    c.replies[i] = reply
                }
            }
            return (again, refresh, nil)
        }
    }

    private func backoff(_ c: Call, _ loop: EventLoop, refreshAfter: Bool) {
        stats.retried += 1
        let wait = RESPRetryPolicy(maxAttempts: 1, initialBackoff: 0.05, maxBackoff: 0.5).backoff(attempt: c.rounds)
        let at = Deadline.after(seconds: wait)
        if at >= c.deadline {
            finish(c, .failure(RESPError(.timeout, "the cluster did not serve the call within \(timeout)s"
                + (c.lastTrouble.map { ": \($0)" } ?? ""))))
            return
        }
        if refreshAfter { staleMap = true }
        c.timer = loop.timer(at: at) { [weak self] o in
            c.timer = nil
            guard o != .cancelled, let self else { return }
            self.round(c, loop)
        }
    }

    // MARK: transactions

    /// Sends MULTI ... EXEC (or any batch that must run on one connection) to the primary of
    /// the one slot its keys hash to. Not redirected: a slot that moved meanwhile makes EXEC
    /// fail (EXECABORT), and the map is read again before the next call.
    @discardableResult
    public func sendPinned(_ commands: [[RESPArgument]], on loop: EventLoop,
                           _ done: @escaping (Result<[RESPValue], RESPError>) -> Void) -> () -> Void {
        var slot: Int? = nil
        for cmd in commands {
            guard case .keys(let k) = RESPKeys.route(cmd) else { continue }
            do throws(RESPError) {
                guard let s = try RESPKeys.slot(of: cmd, keys: k) else { continue }
                if let t = slot, t != s {
                    throw RESPError(.cluster, "a transaction runs on one node: its keys must share one hash slot "
                        + "(\(t) and \(s) here); give them a common {hash tag}")
                }
                slot = s
            } catch { done(.failure(error)); return {} }
        }
        guard !isBusy else { done(.failure(RESPError(.busy, "the cluster client is in use by another call"))); return {} }
        isBusy = true
        var cancel: (() -> Void)? = nil
        var over = false
        func end(_ r: Result<[RESPValue], RESPError>) {
            guard !over else { return }
            over = true; isBusy = false
            if case .success(let rs) = r, rs.contains(where: { $0.errorCode == "MOVED" || $0.errorCode == "ASK" }) { staleMap = true }
            done(r)
        }
        func go() {
            guard let map, let t = target(slot: slot, readOnly: false, map: map) else {
                end(.failure(RESPError(.cluster, "slot \(slot ?? -1) is served by no node of the cluster"))); return
            }
            cancel = exchange(link(node: t.node, map), commands, on: loop) { r in end(r) }
        }
        if staleMap || map == nil { refresh(on: loop) { e in if let e { end(.failure(e)) } else { go() } } } else { go() }
        return {
            guard !over else { return }
            over = true; self.isBusy = false
            cancel?()
        }
    }

    // MARK: every node

    public enum Nodes: Sendable { case primaries, all }

    /// Sends `cmd` to every primary (or every node) at once; `done` gets each node's reply.
    @discardableResult
    public func fanOut(_ cmd: [RESPArgument], nodes: Nodes = .primaries, on loop: EventLoop,
                       _ done: @escaping (Result<[(address: String, reply: RESPValue)], RESPError>) -> Void) -> () -> Void {
        guard !isBusy else { done(.failure(RESPError(.busy, "the cluster client is in use by another call"))); return {} }
        isBusy = true
        var cancellers: [() -> Void] = []
        var over = false
        func end(_ r: Result<[(address: String, reply: RESPValue)], RESPError>) {
            guard !over else { return }
            over = true
            isBusy = false
            done(r)
        }
        func go() {
            guard let map else { end(.failure(RESPError(.cluster, "no slot map"))); return }
            let targets = nodes == .primaries ? map.servingPrimaries : map.nodes.filter { $0.health == "online" }
            var results: [RESPValue?] = Array(repeating: nil, count: targets.count)
            var left = targets.count
            if left == 0 { end(.success([])); return }
            for (k, n) in targets.enumerated() {
                let readonly = !n.isPrimary && RESPRetryPolicy.isSafeToResend(cmd)
                let cmds: [[RESPArgument]] = readonly ? [[.string("READONLY")], cmd] : [cmd]
                cancellers.append(exchange(link(for: n.address), cmds, on: loop) { r in
                    guard !over else { return }
                    switch r {
                    case .failure(let e): end(.failure(RESPError(e.kind, "\(e.message) (node \(n.address) of the cluster)", serverCode: e.serverCode)))
                    case .success(let rs):
                        results[k] = rs[rs.count - 1]
                        left -= 1
                        if left == 0 { end(.success(zip(targets, results).map { ($0.address, $1!) })) }
                    }
                })
            }
        }
        if staleMap || map == nil {
            refresh(on: loop) { e in
                if let e, self.map == nil { end(.failure(e)); return }
                go()
            }
        } else {
            go()
        }
        return {
            guard !over else { return }
            over = true
            self.isBusy = false
            for c in cancellers { c() }
        }
    }

    /// One reply from every primary's: the first error (naming its node); integers summed
    /// (DBSIZE); arrays joined (KEYS); equal replies once (OK, a script's SHA); else each
    /// node's reply in an array.
    public static func combine(_ cmd: [RESPArgument], _ r: Result<[(address: String, reply: RESPValue)], RESPError>) -> Result<[RESPValue], RESPError> {
        switch r {
        case .failure(let e): return .failure(e)
        case .success(let all):
            if let bad = all.first(where: { $0.reply.isError }) {
                return .success([.error(Array("\(bad.reply.errorMessage ?? "ERR") (node \(bad.address))".utf8))])
            }
            let replies = all.map(\.reply)
            guard let first = replies.first else { return .success([.array([])]) }
            if replies.allSatisfy({ if case .integer = $0 { return true } else { return false } }) {
                return .success([.integer(replies.reduce(0) { $0 + ($1.int ?? 0) })])
            }
            let name = cmd[0].text.uppercased()
            if name == "KEYS" { return .success([.array(replies.flatMap { $0.elements ?? [] })]) }
            if name == "RANDOMKEY" { return .success([replies.first { !$0.isNull } ?? first]) }
            if replies.allSatisfy({ $0 == first }) { return .success([first]) }
            return .success([.array(replies)])
        }
    }

    // MARK: blocking

    private func wait<T>(_ start: (EventLoop, @escaping (Result<T, RESPError>) -> Void) -> Void) throws(RESPError) -> T {
        try blocking.wait("cluster", start)
    }

    /// `send`, blocking on a loop of its own. Not for code on an event loop.
    public func perform(_ commands: [[RESPArgument]]) throws(RESPError) -> [RESPValue] {
        try wait { l, done in send(commands, on: l, done) }
    }

    public func command(_ args: [String]) throws(RESPError) -> RESPValue {
        try perform([args.map { .string($0) }])[0]
    }

    public func pipeline(_ commands: [[String]]) throws(RESPError) -> [RESPValue] {
        try perform(commands.map { $0.map { .string($0) } })
    }

    /// Reads the slot map now (blocking).
    public func refresh() throws(RESPError) {
        let _: Bool = try wait { l, done in refresh(on: l) { e in done(e.map { .failure($0) } ?? .success(true)) } }
    }

    /// `fanOut`, blocking.
    public func fanOut(_ cmd: [String], nodes: Nodes = .primaries) throws(RESPError) -> [(address: String, reply: RESPValue)] {
        try wait { l, done in fanOut(cmd.map { .string($0) }, nodes: nodes, on: l, done) }
    }

    /// Walks SCAN over every primary, one after the other; `page` gets each page's keys and
    /// returns false to stop.
    public func scan(match: String? = nil, count: Int? = nil, type: String? = nil, page: ([RESPValue]) -> Bool) throws(RESPError) {
        if staleMap || map == nil { try refresh() }
        for p in map?.servingPrimaries ?? [] {
            var stop = false
            if let r = try session(for: p.address).scan(match: match, count: count, type: type, page: { keys in
                stop = !page(keys); return !stop
            }), r.isError {
                throw RESPError(.cluster, "SCAN on \(p.address): \(r.errorMessage ?? "")")
            }
            if stop { return }
        }
    }
}
