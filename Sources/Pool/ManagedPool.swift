import Predict
import Synchronization

/// How a call through a managed pool ended, for the breaker and the statistics.
public enum CallOutcome: Sendable, Equatable {
    case success
    /// A failure the breaker counts under its type.
    case failure(FailureType, String)
    /// A failure of the call itself (a server error reply to a bad command): counted as a
    /// failed query in the statistics but not by the breaker (the endpoint answered).
    case rejectedByServer
}

/// One endpoint's pool with everything around it: the circuit breaker, connection affinity,
/// adaptive sizing (optional), the query-duration histogram, and its metrics.
///
/// A call: `admit()` (fails at once while the breaker is open), `checkout(pattern:)`, do the
/// I/O, then `finish` with the outcome; or `cancelAdmission` if it never ran.
public final class ManagedPool<Connection: AnyObject>: MetricsSource, @unchecked Sendable {
    public let pool: Pool<Connection>
    public let breaker: CircuitBreaker
    public let affinity: ConnectionAffinity
    public let sizer: AdaptiveSizer?
    /// The kind of endpoint, for `pool.list()` ("redis", "qdrant").
    public let kind: String
    let clock: PoolClock

    struct Counters {
        var queries = LogLinearHistogram()
        var calls = 0
        var failed = 0
        var connectionErrors = 0
        // at the previous sample
        var lastSampleT: Double?
        var lastCalls = 0
        var lastErrors = 0
        var lastQueries = LogLinearHistogram()
    }
    let counters = Mutex(Counters())

    public init(name: String, kind: String, options: PoolOptions, breaker: BreakerOptions = BreakerOptions(),
                connector: Pool<Connection>.Connector, sizing: SizingRules? = nil, forecaster: LoadForecaster? = nil,
                clock: PoolClock = .monotonic) throws(PoolError) {
        pool = try Pool(name: name, options: options, connector: connector, clock: clock)
        self.breaker = try CircuitBreaker(name: name, options: breaker, clock: clock)
        affinity = ConnectionAffinity(maxPatterns: 1000, clock: clock)
        self.sizer = try sizing.map { rules throws(PoolError) in try AdaptiveSizer(rules: rules, forecaster: forecaster) }
        self.kind = kind
        self.clock = clock
        // An adaptive pool starts at its configured size and moves from there.
        if let sizing { _ = pool.setCapacityWithinBounds(sizing.baseSize) }
    }

    public var name: String { pool.name }
    public var metricsName: String { pool.name }
    public var metricsKind: String { kind }

    /// The breaker's answer; `.rejected` carries the error to return at once.
    public func admit() -> Result<CircuitBreaker.Admission, PoolError> {
        let a = breaker.allow()
        if a == .rejected {
            let st = breaker.status
            let when = st.nextProbeIn.map { ", next probe in \(fmt($0))s" } ?? (st.forced ? ", forced open" : "")
            return .failure(PoolError(.circuitOpen, "circuit breaker of \(name) is \(st.state)\(when)"))
        }
        return .success(a)
    }

    public func cancelAdmission(_ a: CircuitBreaker.Admission) { breaker.cancel(a) }

    /// A checkout that prefers the idle connection affinity picks for `pattern`.
    public func checkout(pattern: String?, _ completion: @escaping Pool<Connection>.Completion) -> Pool<Connection>.Checkout {
        guard let pattern else { return pool.checkout(completion) }
        return pool.checkout(choosing: { [affinity] free in affinity.route(pattern: pattern, free: free) }, completion)
    }

    /// Ends a call that ran on `lease` for `nanoseconds`: statistics, affinity, breaker, and the
    /// connection back to the pool (`broken`: closed instead).
    public func finish(_ lease: Pool<Connection>.Lease, admission: CircuitBreaker.Admission, pattern: String?,
                       nanoseconds: UInt64, outcome: CallOutcome, broken: Bool) {
        record(admission: admission, pattern: pattern, connection: lease.id, nanoseconds: nanoseconds, outcome: outcome)
        if broken {
            affinity.forget(connection: lease.id)
            pool.discard(lease)
        } else {
            pool.release(lease)
        }
    }

    /// Records a call that had no connection (connecting failed, no connection in time).
    public func record(admission: CircuitBreaker.Admission, pattern: String?, connection: Int?,
                       nanoseconds: UInt64, outcome: CallOutcome) {
        counters.withLock { c in
            c.calls += 1
            c.queries.record(nanoseconds)
            if outcome != .success { c.failed += 1 }
            if case .failure(.connection, _) = outcome { c.connectionErrors += 1 }
        }
        if let pattern, let connection {
            affinity.record(pattern: pattern, connection: connection, ms: Double(nanoseconds) / 1e6, success: outcome == .success)
        }
        switch outcome {
        case .success, .rejectedByServer: breaker.recordSuccess(admission)
        case .failure(let t, let m): breaker.recordFailure(t, admission, message: m)
        }
    }

    // MARK: adaptive sizing

    /// One sampling step (every `sampleInterval` seconds): the load since the last sample
    /// goes to the sizer, whose decision is applied to the pool within its bounds.
    @discardableResult
    public func sample(t: Double, cpu: Double? = nil, memory: Double? = nil) -> AdaptiveSizer.Decision? {
        guard let sizer else { return nil }
        let st = pool.stats
        let s: LoadSample = counters.withLock { c in
            let dt = c.lastSampleT.map { max(t - $0, 1e-9) } ?? sizer.rules.sampleInterval
            var window = c.queries
            window.subtract(c.lastQueries)
            let rps = Double(c.calls - c.lastCalls) / dt
            let errors = Double(c.connectionErrors - c.lastErrors)
            c.lastSampleT = t; c.lastCalls = c.calls; c.lastErrors = c.connectionErrors; c.lastQueries = c.queries
            return LoadSample(t: t, concurrent: Double(st.checkedOut + st.waiting), requestsPerSecond: rps,
                              latencyMs: window.mean / 1e6, errors: errors, cpu: cpu, memory: memory)
        }
        var d = sizer.step(s, current: st.capacity)
        if d.applied { d.to = pool.setCapacityWithinBounds(d.to) }
        return d
    }

    /// The load predictor driving the sizer, when it is one.
    public var forecaster: PredictorForecaster? { sizer?.forecaster as? PredictorForecaster }
    public var loadPredictor: LoadPredictor? { forecaster?.snapshot }

    /// Takes a sample when one is due (`sampleInterval` after the last): pools sampled as they
    /// are used need no timer of their own; a gap is filled by the predictor with the last load.
    @discardableResult
    public func sampleIfDue(t: Double) -> AdaptiveSizer.Decision? {
        guard let sizer else { return nil }
        // The first call starts the clock: a sample is the load since the previous one.
        let due = counters.withLock { c -> Bool in
            guard let last = c.lastSampleT else {
                c.lastSampleT = t; c.lastCalls = c.calls; c.lastErrors = c.connectionErrors; c.lastQueries = c.queries
                return false
            }
            return t - last >= sizer.rules.sampleInterval
        }
        return due ? sample(t: t) : nil
    }

    // MARK: metrics

    /// The buckets of `db_query_duration_seconds`: the guide's 0.01 to 10 s, below them the
    /// sub-millisecond range opsh's own calls live in.
    public static var queryBuckets: [Double] { [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] }

    public var queryStats: (calls: Int, failed: Int, durations: LogLinearHistogram) {
        counters.withLock { ($0.calls, $0.failed, $0.queries) }
    }

    public func writeMetrics(_ out: inout PrometheusText) {
        let st = pool.stats
        let b = breaker.status
        let l: PrometheusText.Labels = [("pool", name)]
        out.gauge("db_connection_pool_size", "Connections the pool may hold now (its current size).", l, Double(st.capacity))
        out.gauge("db_connection_pool_open", "Connections open (idle and checked out).", l, Double(st.size))
        out.gauge("db_connection_pool_checked_out", "Connections lent out.", l, Double(st.checkedOut))
        out.gauge("db_connection_pool_checked_in", "Idle connections.", l, Double(st.idle))
        out.gauge("db_connection_pool_waiting", "Callers waiting for a connection.", l, Double(st.waiting))
        out.gauge("db_connection_pool_min", "Lower bound of the pool's size.", l, Double(st.min))
        out.gauge("db_connection_pool_max", "Upper bound of the pool's size.", l, Double(st.max))
        out.counter("db_connection_pool_created_total", "Connections made.", l, Double(st.createdTotal))
        out.counter("db_connection_pool_closed_total", "Connections closed.", l, Double(st.closedTotal))
        out.counter("db_connection_pool_acquire_timeouts_total", "Acquires that timed out.", l, Double(st.timeoutsTotal))
        out.histogram("db_connection_pool_acquire_duration_seconds", "Time from asking for a connection to getting one.", l,
                      nanoseconds: st.acquireWait, bounds: [0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10])
        for s in [BreakerState.closed, .open, .halfOpen] {
            out.gauge("db_circuit_breaker_state", "1 for the breaker's current state.", l + [("state", s.description)], b.state == s ? 1 : 0)
        }
        for t in FailureType.allCases {
            out.counter("db_circuit_breaker_failures_total", "Failures the breaker counted, by type.",
                        l + [("failure_type", t.description)], Double(b.failuresTotal[t.rawValue]))
        }
        out.counter("db_circuit_breaker_recoveries_total", "Half-open to closed transitions.", l, Double(b.recoveriesTotal))
        out.counter("db_circuit_breaker_rejected_total", "Calls refused while open.", l, Double(b.rejectedTotal))
        out.gauge("db_connection_affinity_performance_score", "Call-weighted affinity score, 0 to 1.", l, affinity.performanceScore)
        let hm = affinity.hitsAndMisses
        out.counter("db_connection_affinity_hits_total", "Calls routed to their pattern's preferred connection.", l, Double(hm.hits))
        out.counter("db_connection_affinity_misses_total", "Calls that could not be.", l, Double(hm.misses))
        let q = queryStats
        out.histogram("db_query_duration_seconds", "Duration of calls through the pool.", l,
                      nanoseconds: q.durations, bounds: Self.queryBuckets)
        out.counter("db_query_total", "Calls through the pool.", l, Double(q.calls))
        out.counter("db_query_failures_total", "Calls that failed.", l, Double(q.failed))
        if let sizer {
            let ll = sizer.lastLoad
            out.gauge("db_connection_pool_current_load_factor", "The load factor of the last sample, 0 to 1.", l, ll.current)
            if let p = ll.predicted {
                out.gauge("db_connection_pool_ml_predicted_load", "The predictor's load at the sizing horizon.", l, p)
            }
            out.counter("db_adaptive_config_changes_total", "Size changes adaptive sizing applied.", l, Double(sizer.changes))
        }
    }
}

extension LogLinearHistogram {
    /// Removes an earlier snapshot of the same histogram (what was recorded since).
    public mutating func subtract(_ earlier: LogLinearHistogram) {
        var c = counts
        for i in 0..<c.count { c[i] &-= earlier.counts[i] }
        self = LogLinearHistogram(counts: c, count: count &- earlier.count, sum: sum &- earlier.sum, max: max)
    }
}

extension ManagedPool {
    /// The blocking form for threads: the breaker's gate, a connection (affinity-routed for
    /// `pattern`), `body`, then the outcome recorded and the connection returned. `classify`
    /// says what a thrown error was (its failure type, or nil for a server's refusal that
    /// leaves the endpoint healthy) and whether the connection is broken; `judge` whether a
    /// result is a failure of the endpoint.
    public func call<T>(pattern: String?, timeout: Double? = nil,
                        classify: (Error) -> (type: FailureType?, broken: Bool),
                        judge: ((T) -> FailureType?)? = nil,
                        _ body: (Connection) throws -> T) throws -> T {
        let admission: CircuitBreaker.Admission
        switch admit() {
        case .failure(let e): throw e
        case .success(let a): admission = a
        }
        let start = clock.precise()
        let lease: Pool<Connection>.Lease
        do {
            lease = try pool.acquire(timeout: timeout, choosing: pattern.map { p in { [affinity] free in affinity.route(pattern: p, free: free) } })
        } catch {
            if error.kind == .connect {
                record(admission: admission, pattern: pattern, connection: nil, nanoseconds: clock.precise() &- start,
                       outcome: .failure(.connection, error.message))
            } else {
                cancelAdmission(admission)
            }
            throw error
        }
        do {
            let r = try body(lease.connection)
            // A result can be a failure too (a server's out-of-memory reply).
            let outcome: CallOutcome = judge?(r).map { .failure($0, "\(r)") } ?? .success
            finish(lease, admission: admission, pattern: pattern, nanoseconds: clock.precise() &- start, outcome: outcome, broken: false)
            return r
        } catch {
            let (type, broken) = classify(error)
            finish(lease, admission: admission, pattern: pattern, nanoseconds: clock.precise() &- start,
                   outcome: type.map { .failure($0, "\(error)") } ?? .rejectedByServer, broken: broken)
            throw error
        }
    }
}
