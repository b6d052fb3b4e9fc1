import Pool
import Predict
import RESP
import Synchronization

/// The guide's connection-pool admin endpoints (Enhanced Database Connection Pool Management)
/// on the agent's own pools: what each returns and changes. Every function here may block (it
/// calls Redis or Qdrant through the pools): the server runs them on a worker thread.
public final class PoolAdmin: @unchecked Sendable {
    public let pools: AgentPools
    let training = Mutex(TrainingStatus())
    let temporary = Mutex<[String: Int]>([:])   // target -> size to return to

    struct TrainingStatus {
        var status = "idle"
        var startedAt: Double?
        var finishedAt: Double?
        var reports: [JSONValue] = []
        var error: String?
    }

    /// The minute snapshots the weekly report reads.
    public let history: PoolHistory

    public init(pools: AgentPools, history: PoolHistory) {
        self.pools = pools
        self.history = history
    }

    /// GET connection-affinity-weekly-report: the last 7 days of snapshots (PoolHistory).
    public func weeklyReport() throws -> JSONValue {
        try history.weeklyReport(days: 7, now: PoolClock.unixSeconds())
    }

    public static let targets = ["all", "redis", "qdrant"]

    func views(_ target: String?) -> [PoolView] {
        let t = target ?? "all"
        return pools.views.filter { t == "all" || $0.target == t }
    }

    static func target(_ f: [String: JSONValue]) -> String? {
        if case .string(let s)? = f["target"] { return s }
        return nil
    }

    // MARK: db-stats

    /// GET /admin/db-stats: each pool's figures, Redis INFO and Qdrant's health read through
    /// the pools, and an overall status (healthy, degraded: one endpoint failing or a breaker
    /// not closed, unhealthy: none answering).
    public func dbStats() -> JSONValue {
        var pools: [(String, JSONValue)] = []
        var answering = 0
        var allClosed = true
        for v in self.pools.views {
            var fields = Self.statsFields(v)
            do {
                if v.target == "redis" {
                    let reply = try self.pools.redisCommands([["INFO"]]).first
                    let info = RESPInfo.parse(reply?.string ?? "")
                    var server: [(String, JSONValue)] = []
                    for (section, key) in [("server", "redis_version"), ("server", "uptime_in_seconds"), ("clients", "connected_clients"),
                                           ("clients", "blocked_clients"), ("memory", "used_memory"), ("memory", "used_memory_peak"),
                                           ("memory", "maxmemory"), ("stats", "total_commands_processed"),
                                           ("stats", "instantaneous_ops_per_sec"), ("stats", "keyspace_hits"), ("stats", "keyspace_misses"),
                                           ("stats", "rejected_connections"), ("replication", "role")] {
                        if let value = info[section]?[key] { server.append((key, Self.json(value))) }
                    }
                    fields.append(("server", .object(server)))
                } else {
                    let r = try self.pools.qdrantGet("/healthz")
                    fields.append(("server", .object([("http_status", .integer(r.status)),
                                                      ("body", .string(String(decoding: r.body.prefix(200), as: UTF8.self)))])))
                }
                fields.append(("reachable", true))
                answering += 1
            } catch {
                fields.append(("reachable", false))
                fields.append(("error", .string("\(error)")))
            }
            if v.breaker.state != .closed { allClosed = false }
            pools.append((v.target, .object(fields)))
        }
        let status = answering == 0 ? "unhealthy" : (answering < self.pools.views.count || !allClosed ? "degraded" : "healthy")
        return .object([("connection_pool", .object([("status", .string(status))] + pools))])
    }

    static func json(_ v: RESPInfo.Value) -> JSONValue {
        if let i = v.int { return .int(i) }
        if let d = v.double { return .double(d) }
        return .string(v.string ?? "")
    }

    static func statsFields(_ v: PoolView) -> [(String, JSONValue)] {
        let s = v.stats
        return [("pool", .string(v.name)), ("size", .integer(s.capacity)), ("open", .integer(s.size)), ("checked_out", .integer(s.checkedOut)),
                ("checked_in", .integer(s.idle)), ("peak_checked_out", .integer(s.peakCheckedOut)), ("waiting", .integer(s.waiting)),
                ("min", .integer(s.min)), ("max", .integer(s.max)),
                ("utilization", .double(s.capacity > 0 ? Double(s.checkedOut) / Double(s.capacity) : 0)),
                ("created_total", .integer(s.createdTotal)), ("closed_total", .integer(s.closedTotal)),
                ("acquired_total", .integer(s.acquiredTotal)), ("acquire_timeouts_total", .integer(s.timeoutsTotal)),
                ("acquire_wait_p95_seconds", .double(s.acquireWaitP95)), ("breaker", .string(v.breaker.state.description))]
    }

    // MARK: circuit breakers

    static func breakerJSON(_ v: PoolView) -> JSONValue {
        let s = v.breaker.status
        func perType(_ a: [Int]) -> JSONValue { .object(FailureType.allCases.map { ($0.description, .integer(a[$0.rawValue])) }) }
        var f: [(String, JSONValue)] = [
            ("target", .string(v.target)), ("pool", .string(v.name)), ("state", .string(s.state.description)), ("forced", .bool(s.forced)),
            ("failures", perType(s.counts)), ("failures_total", perType(s.failuresTotal)),
            ("calls_total", .integer(s.callsTotal)), ("successes_total", .integer(s.successesTotal)),
            ("rejected_total", .integer(s.rejectedTotal)), ("opens_total", .integer(s.opensTotal)),
            ("recoveries_total", .integer(s.recoveriesTotal)), ("success_rate", .double(s.successRate)),
            ("seconds_in_state", .double(s.secondsInState)), ("next_probe_in", .optional(s.nextProbeIn)),
            ("config", configJSON(s.options)),
            ("transitions", .array(s.transitions.suffix(20).map { t in
                .object([("from", .string(t.from.description)), ("to", .string(t.to.description)), ("reason", .string(t.reason)),
                         ("seconds_ago", .double(max(0, s.now - t.at)))])
            })),
        ]
        if let ago = s.lastFailureAgo {
            f.append(("last_failure", .object([("seconds_ago", .double(ago)), ("type", .string(s.lastFailureType?.description ?? "")),
                                               ("message", .string(s.lastFailureMessage))])))
        } else {
            f.append(("last_failure", .null))
        }
        return .object(f)
    }

    static func configJSON(_ o: BreakerOptions) -> JSONValue {
        .object([("failure_threshold", .object(FailureType.allCases.map { ($0.description, .integer(o.threshold($0))) })),
                 ("recovery_timeout", .double(o.recoveryTimeout)), ("half_open_max_calls", .integer(o.halfOpenMaxCalls)),
                 ("half_open_success_threshold", .integer(o.halfOpenSuccessThreshold)),
                 ("failure_rate_threshold", .double(o.failureRateThreshold)), ("min_requests", .integer(o.minRequestsForRate))])
    }

    /// The worst state among the breakers: open, half_open, closed.
    static func worst(_ vs: [PoolView]) -> String {
        let states = vs.map { $0.breaker.state }
        if states.contains(.open) { return BreakerState.open.description }
        if states.contains(.halfOpen) { return BreakerState.halfOpen.description }
        return BreakerState.closed.description
    }

    public func breakerStatus() -> JSONValue {
        let vs = pools.views
        return .object([("state", .string(Self.worst(vs))), ("breakers", .array(vs.map(Self.breakerJSON)))])
    }

    public func breakerHealthSummary() -> JSONValue {
        let vs = pools.views
        return .object([
            ("healthy", .bool(vs.allSatisfy { $0.breaker.state == .closed })), ("state", .string(Self.worst(vs))),
            ("breakers", .array(vs.map { v in
                let s = v.breaker.status
                return .object([("target", .string(v.target)), ("state", .string(s.state.description)),
                                ("opens_total", .integer(s.opensTotal)), ("recoveries_total", .integer(s.recoveriesTotal)),
                                ("rejected_total", .integer(s.rejectedTotal)), ("failures_total", .integer(s.failuresTotal.reduce(0, +))),
                                ("success_rate", .double(s.successRate))])
            })),
        ])
    }

    public static let resetSchema = BodySchema([
        .field("failure_type", .string, choices: ["all"]),
        .field("target", .string, choices: targets),
    ])

    /// POST circuit-breaker-reset {"failure_type": "all"}: closes the breakers and clears
    /// their counts. A breaker's counts are reset together, so "all" is the one type accepted.
    public func breakerReset(_ f: [String: JSONValue]) -> JSONValue {
        let vs = views(Self.target(f))
        var out: [JSONValue] = []
        for v in vs {
            let before = v.breaker.state.description
            v.breaker.reset()
            out.append(.object([("target", .string(v.target)), ("from", .string(before)), ("to", .string(v.breaker.state.description))]))
        }
        return .object([("reset", .array(out))])
    }

    public static let testSchema = BodySchema([
        .field("test_type", .string, required: true, choices: ["controlled_failure"]),
        .field("target", .string, choices: targets),
    ])

    /// POST circuit-breaker-test {"test_type": "controlled_failure"}: forces a breaker open,
    /// checks that a call is refused at once without a connection being made, resets it, and
    /// checks that a call succeeds again (as pool/breaker --action test).
    public func breakerTest(_ f: [String: JSONValue]) -> JSONValue {
        var results: [JSONValue] = []
        var passed = true
        for v in views(Self.target(f)) {
            let made = v.stats.createdTotal
            v.breaker.forceOpen()
            var refusedError = ""
            var refused = false
            do { try probe(v) } catch {
                refusedError = "\(error)"
                refused = (error as? PoolError)?.kind == .circuitOpen && v.stats.createdTotal == made
            }
            v.breaker.reset()
            var recovered = true
            var recoverError: String?
            do { try probe(v) } catch { recovered = false; recoverError = "\(error)" }
            passed = passed && refused && recovered
            results.append(.object([("target", .string(v.target)), ("refused_while_open", .bool(refused)),
                                    ("refusal", .string(refusedError)), ("recovered_after_reset", .bool(recovered)),
                                    ("error", recoverError.map { .string($0) } ?? .null)]))
        }
        return .object([("test_type", "controlled_failure"), ("passed", .bool(passed)), ("results", .array(results))])
    }

    func probe(_ v: PoolView) throws {
        if v.target == "redis" {
            _ = try pools.redisCommands([["PING"]])
        } else {
            let r = try pools.qdrantGet("/healthz")
            if r.status >= 400 { throw APIError.unavailable("Qdrant answered HTTP \(r.status)") }
        }
    }

    public static let configSchema = BodySchema([
        .field("failure_threshold", .integer, range: 1...1_000_000),
        .field("recovery_timeout", .number, range: 0.001...86_400),
        .field("half_open_max_calls", .integer, range: 1...1_000_000),
        .field("target", .string, choices: targets),
    ])

    /// PUT circuit-breaker-config {failure_threshold, recovery_timeout, half_open_max_calls}:
    /// the given settings on top of each breaker's current ones (failure_threshold for every
    /// failure type, as the guide's one number).
    public func breakerConfig(_ f: [String: JSONValue]) throws(APIError) -> JSONValue {
        guard f["failure_threshold"] != nil || f["recovery_timeout"] != nil || f["half_open_max_calls"] != nil else {
            throw .badRequest("nothing to configure: give failure_threshold, recovery_timeout or half_open_max_calls")
        }
        var out: [JSONValue] = []
        for v in views(Self.target(f)) {
            var o = v.breaker.options
            if case .int(let n)? = f["failure_threshold"] { for t in FailureType.allCases { o.setThreshold(t, Int(n)) } }
            switch f["recovery_timeout"] {
            case .int(let n)?: o.recoveryTimeout = Double(n)
            case .double(let d)?: o.recoveryTimeout = d
            default: break
            }
            if case .int(let n)? = f["half_open_max_calls"] {
                o.halfOpenMaxCalls = Int(n)
                o.halfOpenSuccessThreshold = min(o.halfOpenSuccessThreshold, Int(n))
            }
            do throws(PoolError) { try v.breaker.configure(o) } catch { throw .badRequest(error.message) }
            out.append(.object([("target", .string(v.target)), ("config", Self.configJSON(v.breaker.options))]))
        }
        return .object([("configured", .array(out))])
    }

    // MARK: the load model

    /// The 25 s horizon's accuracy, as the pool procedures read it.
    static func accuracy(_ p: LoadPredictor) -> Accuracy? {
        p.accuracy().first { $0.horizonSeconds == 25 && $0.trained } ?? p.accuracy().first { $0.trained }
    }

    static func samplesSinceTraining(_ p: LoadPredictor) -> Int {
        max(0, p.sampleCount - (p.lastTraining?.samples ?? 0))
    }

    /// GET ml-model-stats. `accuracy` is 1 - MAPE of the 25 s forecasts on targets the model
    /// never trained on (0 to 1; the guide retrains below 0.7), `training_samples` the samples
    /// gathered since the last training (the guide retrains above 5,000); MASE beside them.
    public func modelStats() -> JSONValue {
        var models: [JSONValue] = []
        var accuracies: [Double] = []
        var newSamples = 0
        for v in pools.views {
            guard let p = v.forecaster?.snapshot else { continue }
            let a = Self.accuracy(p)
            let acc = a?.mape.map { max(0, 1 - $0) }
            if let acc { accuracies.append(acc) }
            let since = Self.samplesSinceTraining(p)
            newSamples = max(newSamples, since)
            models.append(.object([
                ("target", .string(v.target)), ("trained", .bool(p.isTrained)), ("samples", .integer(p.sampleCount)),
                ("training_samples", .integer(since)), ("retrains", .integer(p.retrains)),
                ("accuracy", .optional(acc)), ("mase", .optional(a?.mase)), ("mae", .optional(a?.mae)), ("mape", .optional(a?.mape)),
                ("source", .string(a?.source.rawValue ?? "none")), ("horizon_seconds", .optional(a?.horizonSeconds)),
            ]))
        }
        return .object([("accuracy", .optional(accuracies.min())),
                        ("accuracy_measure", "1 - MAPE of the 25 s load forecasts on targets the model never trained on"),
                        ("training_samples", .integer(newSamples)), ("models", .array(models))])
    }

    public static let retrainSchema = BodySchema([
        .field("force", .boolean), .field("background", .boolean), .field("target", .string, choices: targets),
    ])

    /// POST retrain-ml-model {"force": false, "background": true}: retrains the predictors
    /// whose triggers fire (MASE above 1 on live forecasts, or 5,000 samples since the last
    /// training; every one with force). In the background the answer is 202 and
    /// ml-model-training-status follows it; otherwise the answer waits for the training.
    public func retrain(_ f: [String: JSONValue], onDone: @escaping @Sendable () -> Void) throws(APIError) -> (Int, JSONValue) {
        let force = f["force"] == .bool(true)
        let background = f["background"] == .bool(true)
        let chosen = views(Self.target(f)).filter { v in
            guard let p = v.forecaster?.snapshot else { return false }
            if force { return true }
            if let a = Self.accuracy(p), a.source == .live, let m = a.mase, m > 1 { return true }
            return Self.samplesSinceTraining(p) >= 5000
        }
        guard !chosen.isEmpty else {
            return (200, .object([("status", "not_needed"), ("reason", "no model has MASE above 1 on live forecasts or 5,000 samples since its training (force: true retrains anyway)"), ("reports", .array([]))]))
        }
        let began = training.withLock { t -> Bool in
            guard t.status != "running" else { return false }
            t = TrainingStatus(status: "running", startedAt: PoolClock.unixSeconds())
            return true
        }
        guard began else { throw .conflict("a training is already running: follow /api/admin/ml-model-training-status") }
        let work: @Sendable () -> JSONValue = { [self] in
            var reports: [JSONValue] = []
            for v in chosen {
                guard let r = v.forecaster?.train() else { continue }
                let a = r.accuracy.first { $0.horizonSeconds == 25 && $0.trained }
                reports.append(.object([("target", .string(v.target)), ("samples", .integer(r.samples)), ("duration_seconds", .double(r.duration)),
                                        ("mase", .optional(a?.mase)), ("mae", .optional(a?.mae))]))
            }
            let saveErrors = pools.savePredictors()
            return training.withLock { t in
                t.status = saveErrors.isEmpty ? "completed" : "failed"
                t.error = saveErrors.isEmpty ? nil : "trained, but saving failed: " + saveErrors.joined(separator: "; ")
                t.finishedAt = PoolClock.unixSeconds()
                t.reports = reports
                return Self.statusJSON(t)
            }
        }
        if background {
            AgentPools.work.async { _ = work(); onDone() }
            return (202, trainingStatus())
        }
        let r = work()
        onDone()
        return (200, r)
    }

    static func statusJSON(_ t: TrainingStatus) -> JSONValue {
        .object([("status", .string(t.status)), ("started_at", .optional(t.startedAt)), ("finished_at", .optional(t.finishedAt)),
                 ("error", t.error.map { .string($0) } ?? .null), ("reports", .array(t.reports))])
    }

    public func trainingStatus() -> JSONValue { training.withLock { Self.statusJSON($0) } }

    // MARK: affinity

    public func affinityPatterns() -> JSONValue {
        var out: [JSONValue] = []
        for v in pools.views {
            for p in v.affinity.patterns {
                out.append(.object([("target", .string(v.target)), ("normalized_query", .string(p.pattern)), ("execution_count", .integer(p.calls)),
                                    ("avg_execution_time_ms", .double(p.avgMs)), ("preferred_connection", p.preferred.map { .integer($0) } ?? .null),
                                    ("performance_score", .double(p.score))]))
            }
        }
        return .object([("patterns", .array(out))])
    }

    public func affinityPerformance() -> JSONValue {
        .object([("pools", .array(pools.views.map { v in
            let hm = v.affinity.hitsAndMisses
            return .object([
                ("target", .string(v.target)), ("performance_score", .double(v.affinity.performanceScore)),
                ("hits", .integer(hm.hits)), ("misses", .integer(hm.misses)),
                ("connections", .array(v.affinity.connections.map { c in
                    .object([("connection", .integer(c.connection)), ("specialization", .string(c.specialization)),
                             ("execution_count", .integer(c.calls)), ("avg_execution_time_ms", .double(c.avgMs)),
                             ("success_rate", .double(c.successRate)), ("performance_score", .double(c.score))])
                })),
            ])
        }))])
    }

    public static let clearSchema = BodySchema([
        .field("min_performance_score", .number, required: true, range: 0...1), .field("target", .string, choices: targets),
    ])

    public func clearLowPerformers(_ f: [String: JSONValue]) -> JSONValue {
        var min = 0.3
        switch f["min_performance_score"] { case .int(let i)?: min = Double(i); case .double(let d)?: min = d; default: break }
        var total = 0
        var per: [JSONValue] = []
        for v in views(Self.target(f)) {
            let n = v.affinity.clearLowPerformers(minScore: min)
            total += n
            per.append(.object([("target", .string(v.target)), ("cleared", .integer(n))]))
        }
        return .object([("cleared", .integer(total)), ("min_performance_score", .double(min)), ("pools", .array(per))])
    }

    public static let optimizeSchema = BodySchema([.field("target", .string, choices: targets)])

    public func optimize(_ f: [String: JSONValue]) -> JSONValue {
        var out: [JSONValue] = []
        for v in views(Self.target(f)) {
            for c in v.affinity.optimize() {
                out.append(.object([("target", .string(v.target)), ("normalized_query", .string(c.pattern)),
                                    ("from", c.from.map { .integer($0) } ?? .null), ("to", c.to.map { .integer($0) } ?? .null)]))
            }
        }
        return .object([("changes", .array(out))])
    }

    // MARK: pool size

    public static let poolConfigSchema = BodySchema([
        .field("pool_size", .integer, required: true, range: 1...10_000), .field("temporary", .boolean),
        .field("review_after", .number, range: 1...604_800), .field("target", .string, choices: ["all", "redis", "qdrant"]),
    ])

    /// PUT connection-pool-config {"pool_size": N, "temporary": true}: resizes; a temporary
    /// size lapses after review_after seconds (default the guide's hour), when the size it
    /// replaced comes back.
    public func poolConfig(_ f: [String: JSONValue], schedule: @escaping @Sendable (Double, @escaping @Sendable () -> Void) -> Void) throws(APIError) -> JSONValue {
        guard case .int(let n)? = f["pool_size"] else { throw .badRequest("missing field 'pool_size' (integer)") }
        let temporary = f["temporary"] == .bool(true)
        var after = 3600.0
        switch f["review_after"] { case .int(let i)?: after = Double(i); case .double(let d)?: after = d; default: break }
        var out: [JSONValue] = []
        for v in views(Self.target(f)) {
            let from = v.stats.capacity
            do throws(PoolError) { try v.resize(Int(n)) } catch { throw .badRequest(error.message) }
            if temporary {
                let original = originalSize(target: v.target, from: from)
                schedule(after) { [weak self] in
                    guard let self else { return }
                    let back = self.temporary.withLock { $0.removeValue(forKey: v.target) }
                    if back == original { try? v.resize(original) }
                }
            } else {
                _ = self.temporary.withLock { $0.removeValue(forKey: v.target) }
            }
            out.append(.object([("target", .string(v.target)), ("from", .integer(from)), ("to", .integer(Int(n))),
                                ("temporary", .bool(temporary)), ("review_due", temporary ? .double(PoolClock.unixSeconds() + after) : .null)]))
        }
        return .object([("pools", .array(out))])
    }

    /// The size a temporary change returns to: the first one's original when changes stack.
    func originalSize(target: String, from: Int) -> Int {
        temporary.withLock { t in
            if let o = t[target] { return o }
            t[target] = from
            return from
        }
    }
}
