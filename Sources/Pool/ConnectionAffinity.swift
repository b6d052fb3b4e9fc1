import Synchronization

/// Connection affinity: which connection serves which query pattern best, learned from the
/// calls themselves, and used to pick among the free connections.
///
/// Per pattern and connection: an exponential moving average of the time (α 0.3, the first
/// sample taken as is, as in the original) and of success (α 0.2). A connection's performance
/// score on a pattern is in [0, 1]: its success average times the pattern's best average time
/// divided by its own (1 for the fastest connection that never fails). A connection's score and
/// the pool's are the call-weighted means of those. The original defined no score at all (its
/// metric had no source); its routing never had connections registered.
public final class ConnectionAffinity: @unchecked Sendable {
    struct PerConnection {
        var calls = 0
        var emaMs = 0.0
        var success = 1.0
    }

    struct Pattern {
        var calls = 0
        var totalMs = 0.0
        var lastSeen: UInt64 = 0
        var byConnection: [Int: PerConnection] = [:]
        var preferred: Int?
    }

    struct State {
        var patterns: [String: Pattern] = [:]
        var hits = 0
        var misses = 0
    }

    public let maxPatterns: Int
    /// Calls a connection needs on a pattern before routing trusts its average.
    public let minCalls: Int
    let clock: PoolClock
    let state = Mutex(State())

    public init(maxPatterns: Int = 1000, minCalls: Int = 3, clock: PoolClock = .monotonic) {
        self.maxPatterns = maxPatterns
        self.minCalls = minCalls
        self.clock = clock
    }

    /// One call of `pattern` on `connection` took `ms` and succeeded or not.
    public func record(pattern: String, connection: Int, ms: Double, success: Bool) {
        let now = clock.now()
        state.withLock { s in
            if s.patterns[pattern] == nil && s.patterns.count >= maxPatterns { evictOldest(&s) }
            var p = s.patterns[pattern, default: Pattern()]
            p.calls += 1
            p.totalMs += ms
            p.lastSeen = now
            var c = p.byConnection[connection, default: PerConnection()]
            c.emaMs = c.calls == 0 ? ms : 0.3 * ms + 0.7 * c.emaMs
            c.success = success ? 0.2 + 0.8 * c.success : 0.8 * c.success
            c.calls += 1
            p.byConnection[connection] = c
            if p.preferred == nil, c.calls >= minCalls { p.preferred = connection }
            s.patterns[pattern] = p
        }
    }

    /// The free connection to use for `pattern`: its preferred one when free (a hit), else the
    /// free one scoring best on it; nil when none is known (the caller takes any).
    public func route(pattern: String, free: [Int]) -> Int? {
        state.withLock { s in
            guard let p = s.patterns[pattern], !free.isEmpty else { s.misses += 1; return nil }
            if let pref = p.preferred, free.contains(pref) {
                s.hits += 1
                return pref
            }
            s.misses += 1
            let best = Self.best(p)
            var pick: (Int, Double)?
            for id in free {
                guard let c = p.byConnection[id], c.calls >= minCalls else { continue }
                let sc = Self.score(c, best)
                if sc > (pick?.1 ?? -1) { pick = (id, sc) }
            }
            return pick?.0
        }
    }

    /// A connection closed: forget what was learned about it.
    public func forget(connection: Int) {
        state.withLock { s in
            for key in Array(s.patterns.keys) {
                s.patterns[key]!.byConnection[connection] = nil
                if s.patterns[key]!.preferred == connection { s.patterns[key]!.preferred = nil }
                if s.patterns[key]!.byConnection.isEmpty { s.patterns[key] = nil }
            }
        }
    }

    // MARK: scores

    static func best(_ p: Pattern) -> Double {
        p.byConnection.values.map(\.emaMs).min() ?? 0
    }

    static func score(_ c: PerConnection, _ best: Double) -> Double {
        let speed = c.emaMs <= 0 ? 1 : min(1, Swift.max(best, 1e-9) / c.emaMs)
        return speed * c.success
    }

    /// The pool's affinity performance score in [0, 1] (1 with no calls yet).
    public var performanceScore: Double {
        state.withLock { s in
            var weighted = 0.0, calls = 0
            for p in s.patterns.values {
                let best = Self.best(p)
                for c in p.byConnection.values { weighted += Self.score(c, best) * Double(c.calls); calls += c.calls }
            }
            return calls == 0 ? 1 : weighted / Double(calls)
        }
    }

    public struct PatternReport: Sendable, Equatable {
        public var pattern: String
        public var calls: Int
        public var avgMs: Double
        public var preferred: Int?
        /// Mean score of its connections.
        public var score: Double
        public var connections: [Int: Double]
    }

    public struct ConnectionReport: Sendable, Equatable {
        public var connection: Int
        public var calls: Int
        public var avgMs: Double
        public var successRate: Double
        public var score: Double
        /// The pattern family (command or method) making 70 % or more of its calls, or "general".
        public var specialization: String
    }

    public var patterns: [PatternReport] {
        state.withLock { s in
            s.patterns.map { key, p in
                let best = Self.best(p)
                var scores: [Int: Double] = [:]
                for (id, c) in p.byConnection { scores[id] = Self.score(c, best) }
                let mean = scores.isEmpty ? 1 : scores.values.reduce(0, +) / Double(scores.count)
                return PatternReport(pattern: key, calls: p.calls, avgMs: p.calls == 0 ? 0 : p.totalMs / Double(p.calls),
                                     preferred: p.preferred, score: mean, connections: scores)
            }.sorted { $0.calls != $1.calls ? $0.calls > $1.calls : $0.pattern < $1.pattern }
        }
    }

    public var connections: [ConnectionReport] {
        state.withLock { s in
            var acc: [Int: (calls: Int, ms: Double, success: Double, score: Double, families: [String: Int])] = [:]
            for (key, p) in s.patterns {
                let best = Self.best(p)
                let family = String(key.split(separator: " ").first ?? "")
                for (id, c) in p.byConnection {
                    var a = acc[id, default: (0, 0, 0, 0, [:])]
                    let w = Double(c.calls)
                    a.calls += c.calls; a.ms += c.emaMs * w; a.success += c.success * w
                    a.score += Self.score(c, best) * w
                    a.families[family, default: 0] += c.calls
                    acc[id] = a
                }
            }
            return acc.map { id, a in
                let n = Double(max(a.calls, 1))
                let top = a.families.max { $0.value < $1.value }
                let spec = top.map { Double($0.value) >= 0.7 * n ? $0.key : "general" } ?? "general"
                return ConnectionReport(connection: id, calls: a.calls, avgMs: a.ms / n, successRate: a.success / n,
                                        score: a.score / n, specialization: spec)
            }.sorted { $0.connection < $1.connection }
        }
    }

    public var hitsAndMisses: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }

    // MARK: the guide's maintenance

    /// Drops what each connection learned on a pattern where it scores below `minScore`
    /// (with at least `minCalls` calls), and patterns left with nothing; returns how many
    /// (pattern, connection) entries went.
    @discardableResult
    public func clearLowPerformers(minScore: Double) -> Int {
        state.withLock { s in
            var removed = 0
            for key in Array(s.patterns.keys) {
                var p = s.patterns[key]!
                let best = Self.best(p)
                for (id, c) in p.byConnection where c.calls >= minCalls && Self.score(c, best) < minScore {
                    p.byConnection[id] = nil
                    if p.preferred == id { p.preferred = nil }
                    removed += 1
                }
                s.patterns[key] = p.byConnection.isEmpty ? nil : p
            }
            return removed
        }
    }

    /// Re-picks each pattern's preferred connection: the one scoring best with at least
    /// `minCalls` calls. Returns the patterns whose preference changed (old, new).
    @discardableResult
    public func optimize() -> [(pattern: String, from: Int?, to: Int?)] {
        state.withLock { s in
            var changes: [(String, Int?, Int?)] = []
            for key in s.patterns.keys.sorted() {
                var p = s.patterns[key]!
                let best = Self.best(p)
                let pick = p.byConnection.filter { $0.value.calls >= minCalls }
                    .max { a, b in
                        let sa = Self.score(a.value, best), sb = Self.score(b.value, best)
                        return sa != sb ? sa < sb : a.key > b.key
                    }?.key
                if pick != p.preferred {
                    changes.append((key, p.preferred, pick))
                    p.preferred = pick
                    s.patterns[key] = p
                }
            }
            return changes
        }
    }

    func evictOldest(_ s: inout State) {
        // The oldest tenth by last use goes (the original removed only those idle for an hour,
        // so a full table stopped learning).
        let n = max(1, s.patterns.count / 10)
        for key in s.patterns.sorted(by: { $0.value.lastSeen < $1.value.lastSeen }).prefix(n).map(\.key) {
            s.patterns[key] = nil
        }
    }
}
