import EventLoop
import LuaRuntime
import Pool
import Predict
import RESP

/// `opsh._pool`: opsh's own connection pools (Sources/Pool) as Lua sees them, under the
/// `opsh.pool` stdlib module (stdlib/opsh/pool.lua), which `redis.pool` and `qdrant.pool` use.
/// A pool hands out leases: `h:acquire(...)` goes through the breaker (refused at once while
/// it is open), then waits for a connection as a native wait, so a task waiting suspends only
/// itself; `lease:finish(err)` records how the call ended and gives the connection back. A
/// lease closed without `finish` (a cancelled task, an error raised in between) gives its
/// connection back when it is idle and closes it when replies may be owed.
public enum PoolModule {
    static let poolType = "opsh.pool.pool"
    static let leaseType = "opsh.pool.lease"
    static let breakerType = "opsh.pool.breaker"

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: poolType, methods: [
            ("acquire", acquire), ("stats", stats), ("resize", resize), ("breaker", breaker),
            ("affinity", affinity), ("clear_low_performers", clearLowPerformers), ("optimize", optimize),
            ("sample", sample), ("predictor", predictor), ("retrain", retrain),
            ("save_predictor", savePredictor), ("load_predictor", loadPredictor),
        ]))
        lua.vm.register(LuaClass(name: leaseType, methods: [("connection", leaseConnection), ("finish", finish)]))
        lua.vm.register(LuaClass(name: breakerType, methods: [
            ("state", breakerState), ("status", breakerStatus), ("reset", breakerReset),
            ("force_open", breakerForceOpen), ("configure", breakerConfigure),
        ]))
        lua.newModule([("redis", redis), ("qdrant", qdrant), ("metrics", metrics), ("list", list)])
        return 1
    }

    // MARK: pools

    /// One pool as a Lua object: the managed pool and how its connections are made and lent.
    final class Handle: LuaClosable, CustomStringConvertible {
        let kind: String
        let name: String
        let breaker: CircuitBreaker
        let affinity: ConnectionAffinity
        let timeout: Double
        let acquireTimeout: Double
        let source: MetricsSource
        let lender: Lender
        init(kind: String, name: String, breaker: CircuitBreaker, affinity: ConnectionAffinity, timeout: Double,
             acquireTimeout: Double, source: MetricsSource, lender: Lender) {
            self.kind = kind; self.name = name; self.breaker = breaker; self.affinity = affinity
            self.timeout = timeout; self.acquireTimeout = acquireTimeout; self.source = source; self.lender = lender
        }
        func close() {
            lender.close()
            MetricsRegistry.shared.unregister(source)
        }
        var description: String { "\(kind) \(name)" }
    }

    /// What differs between Redis and Qdrant pools, behind one face.
    class Lender {
        func acquire(_ lua: Lua, _ h: Handle, pattern: String) -> Int32 { fatalError("abstract") }
        func stats(_ lua: Lua) {}
        func resize(_ n: Int) throws(PoolError) {}
        func close() {}
        func sample(t: Double) -> AdaptiveSizer.Decision? { nil }
        var sizer: AdaptiveSizer? { nil }
        var forecaster: PredictorForecaster? { nil }
    }

    /// A lease as Lua holds it.
    final class Lease: LuaClosable {
        /// Records the outcome and gives the connection back (`err`: the call's error table's
        /// code and status; nil for a success; `raised`: the call raised before it ran).
        var end: ((_ code: String?, _ status: Int?, _ message: String, _ raised: Bool) -> Void)?
        /// What `lease:connection()` pushes.
        let push: (Lua) -> Void
        /// Closed without `finish`: give the connection back, or close it.
        let abandon: () -> Void
        init(push: @escaping (Lua) -> Void, end: @escaping (String?, Int?, String, Bool) -> Void, abandon: @escaping () -> Void) {
            self.push = push; self.end = end; self.abandon = abandon
        }
        func close() {
            if end != nil { end = nil; abandon() }
        }
    }

    /// Lends connections of a `ManagedPool<C>` on the event loop.
    final class Lending<C: AnyObject>: Lender {
        let managed: ManagedPool<C>
        let make: () -> C
        /// A lease's Lua face (the borrowed connection, or nothing).
        let face: (Pool<C>.Lease, Handle) -> LeaseFace
        /// Runs a check on a connection idle past the validation interval (PING); nil: none.
        let validate: ((Lua, C, Handle, @escaping (Lua, Bool) -> Int32) -> Int32)?

        init(managed: ManagedPool<C>, make: @escaping () -> C, face: @escaping (Pool<C>.Lease, Handle) -> LeaseFace,
             validate: ((Lua, C, Handle, @escaping (Lua, Bool) -> Int32) -> Int32)?) {
            self.managed = managed; self.make = make; self.face = face; self.validate = validate
        }

        /// The checkout of one acquire, alive as long as someone may still hand it something:
        /// whatever it holds when it goes (a task cancelled while queued or just served) is
        /// given back, and the breaker's admission with it.
        final class Pending {
            let managed: ManagedPool<C>
            let admission: CircuitBreaker.Admission
            var outcome: Pool<C>.Checkout?
            var wake: (() -> Void)?
            var handedOn = false
            init(_ m: ManagedPool<C>, _ a: CircuitBreaker.Admission) { managed = m; admission = a }
            func served(_ o: Pool<C>.Checkout) { outcome = o; wake?() }
            func take() -> Pool<C>.Checkout? { defer { outcome = nil }; return outcome }
            deinit {
                switch outcome {
                case .ready(let l): managed.pool.release(l)
                case .create(let p): managed.pool.abandon(p)
                default: break
                }
                if !handedOn { managed.cancelAdmission(admission) }
            }
        }

        override func sample(t: Double) -> AdaptiveSizer.Decision? { managed.sample(t: t) }
        override var sizer: AdaptiveSizer? { managed.sizer }
        override var forecaster: PredictorForecaster? { managed.forecaster }

        override func acquire(_ lua: Lua, _ h: Handle, pattern: String) -> Int32 {
            managed.sampleIfDue(t: PoolClock.unixSeconds())
            let admission: CircuitBreaker.Admission
            switch managed.admit() {
            case .failure(let e): return PoolModule.fail(lua, e, h)
            case .success(let a): admission = a
            }
            return attempt(lua, h, Pending(managed, admission), pattern, .after(seconds: h.acquireTimeout))
        }

        func attempt(_ lua: Lua, _ h: Handle, _ p: Pending, _ pattern: String, _ deadline: Deadline) -> Int32 {
            let started = Deadline.now()
            let checkout = managed.checkout(pattern: pattern) { [weak p] o in
                guard let p else {
                    // the waiter is gone: nobody takes it
                    if case .ready(let l) = o { self.managed.pool.release(l) }
                    if case .create(let permit) = o { self.managed.pool.abandon(permit) }
                    return
                }
                p.served(o)
            }
            guard case .waiting(let ticket) = checkout else {
                return got(lua, h, p, checkout, pattern, deadline)
            }
            let pool = managed.pool
            let wait: NativeWait = .custom(start: { complete in
                p.wake = { complete(.ready([])) }
                if p.outcome != nil { complete(.ready([])) }
                return { _ = pool.cancel(ticket, timedOut: Deadline.now() >= deadline) }
            })
            return lua.wait(wait, deadline: deadline) { lua, _ in
                guard let o = p.take() else {
                    _ = pool.cancel(ticket)
                    let waited = Double(Deadline.now().nanoseconds &- started.nanoseconds) / 1e9
                    return PoolModule.fail(lua, PoolError(.timeout, "no connection of pool \(h.name) became free within \(h.acquireTimeout)s"),
                                           h, [("waited", .number(waited))])
                }
                return self.got(lua, h, p, o, pattern, deadline)
            }
        }

        func got(_ lua: Lua, _ h: Handle, _ p: Pending, _ o: Pool<C>.Checkout, _ pattern: String, _ deadline: Deadline) -> Int32 {
            switch o {
            case .failed(let e):
                return PoolModule.fail(lua, e, h)
            case .waiting:
                return attempt(lua, h, p, pattern, deadline)
            case .create(let permit):
                return lend(lua, h, p, managed.pool.fill(permit, with: make()), pattern)
            case .ready(let lease):
                guard lease.needsValidation, let validate else { return lend(lua, h, p, lease, pattern) }
                return validate(lua, lease.connection, h) { lua, alive in
                    if alive { return self.lend(lua, h, p, lease, pattern) }
                    self.managed.affinity.forget(connection: lease.id)
                    self.managed.pool.discard(lease)
                    return self.attempt(lua, h, p, pattern, deadline)
                }
            }
        }

        func lend(_ lua: Lua, _ h: Handle, _ p: Pending, _ lease: Pool<C>.Lease, _ pattern: String) -> Int32 {
            p.handedOn = true
            let admission = p.admission
            let start = Deadline.now()
            let f = face(lease, h)
            let managed = self.managed
            let l = Lease(push: f.push, end: { code, status, message, raised in
                f.revoke()
                let ns = Deadline.now().nanoseconds &- start.nanoseconds
                if raised {
                    managed.cancelAdmission(admission)
                    if f.idle() { managed.pool.release(lease) } else { managed.pool.discard(lease) }
                    return
                }
                let (outcome, broken) = f.outcome(code, status, message)
                managed.finish(lease, admission: admission, pattern: pattern, nanoseconds: ns, outcome: outcome, broken: broken)
            }, abandon: {
                f.revoke()
                managed.cancelAdmission(admission)
                if f.idle() { managed.pool.release(lease) } else {
                    managed.affinity.forget(connection: lease.id)
                    managed.pool.discard(lease)
                }
            })
            lua.push(object: l, type: leaseType)
            return 1
        }

        override func stats(_ lua: Lua) {
            let s = managed.pool.stats
            let q = managed.queryStats
            let fields: [(String, LuaValue)] = [
                ("size", .integer(Int64(s.capacity))), ("open", .integer(Int64(s.size))), ("idle", .integer(Int64(s.idle))),
                ("checked_out", .integer(Int64(s.checkedOut))), ("peak_checked_out", .integer(Int64(s.peakCheckedOut))),
                ("creating", .integer(Int64(s.creating))),
                ("waiting", .integer(Int64(s.waiting))), ("min", .integer(Int64(s.min))), ("max", .integer(Int64(s.max))),
                ("created_total", .integer(Int64(s.createdTotal))), ("closed_total", .integer(Int64(s.closedTotal))),
                ("acquired_total", .integer(Int64(s.acquiredTotal))), ("timeouts_total", .integer(Int64(s.timeoutsTotal))),
                ("utilization", .number(s.capacity > 0 ? Double(s.checkedOut) / Double(s.capacity) : 0)),
                ("acquire_wait_p50_ms", .number(Double(s.acquireWait.quantile(0.5)) / 1e6)),
                ("acquire_wait_p99_ms", .number(Double(s.acquireWait.quantile(0.99)) / 1e6)),
                ("calls_total", .integer(Int64(q.calls))), ("failed_total", .integer(Int64(q.failed))),
                ("p50_ms", .number(Double(q.durations.quantile(0.5)) / 1e6)),
                ("p95_ms", .number(Double(q.durations.quantile(0.95)) / 1e6)),
                ("p99_ms", .number(Double(q.durations.quantile(0.99)) / 1e6)),
            ]
            var m: [LuaValue: LuaValue] = [:]
            for (k, v) in fields { m[.string(k)] = v }
            lua.push(value: .map(m))
        }

        override func resize(_ n: Int) throws(PoolError) { try managed.pool.resize(n) }
        override func close() { managed.pool.close() }
    }

    /// A lease's Lua face: what it pushes, how its call ended, whether its connection is idle.
    struct LeaseFace {
        var push: (Lua) -> Void
        var outcome: (String?, Int?, String) -> (CallOutcome, Bool)
        var idle: () -> Bool
        var revoke: () -> Void
    }

    // MARK: creating pools

    static let poolOptions = ["min", "max", "timeout", "acquire_timeout", "max_lifetime", "idle_timeout", "breaker", "adaptive"]
    static let breakerOptions = ["failure_threshold", "recovery_timeout", "half_open_max_calls", "half_open_success_threshold",
                                 "failure_rate_threshold", "min_requests"]

    static func number(_ lua: Lua, _ t: Int32, _ key: String, arg: Int32, prefix: String = "") throws(LuaRaise) -> Double? {
        guard try lua.optionField(t, key, .number, arg: arg) else { return nil }
        let v = lua.toNumber(-1)!
        lua.pop()
        if v.isNaN { throw .argument(arg, "\(prefix)\(key): must be a number, got nan") }
        return v
    }

    static func whole(_ lua: Lua, _ t: Int32, _ key: String, arg: Int32, prefix: String = "") throws(LuaRaise) -> Int? {
        guard let v = try number(lua, t, key, arg: arg, prefix: prefix) else { return nil }
        guard v == v.rounded(), abs(v) < 1e9 else { throw .argument(arg, "\(prefix)\(key): must be a whole number, got \(v)") }
        return Int(v)
    }

    /// The options table at `t` (or none): pool options, the call timeout, breaker options.
    struct Options {
        var pool = PoolOptions(min: 0, max: 10)
        var timeout = 5.0
        var breaker = BreakerOptions()
        var adaptive = false

        /// Adaptive sizing between max(min, 1) and max, starting at half of max (the cap is
        /// min(max, 2 x base): the original's rules), forecast by the load predictor.
        func sizing() throws(PoolError) -> (SizingRules, PredictorForecaster)? {
            guard adaptive else { return nil }
            var r = SizingRules()
            r.minSize = max(pool.min, 1)
            r.maxSize = pool.max
            r.baseSize = max(r.minSize, (pool.max + 1) / 2)
            return (r, try PredictorForecaster(rules: r))
        }
    }

    static func options(_ lua: Lua, _ t: Int32) throws(LuaRaise) -> Options {
        var all = Options()
        guard !lua.isNoneOrNil(t) else { return all }
        let (o, timeout, b) = try parse(lua, t, &all.adaptive)
        all.pool = o; all.timeout = timeout; all.breaker = b
        return all
    }

    static func parse(_ lua: Lua, _ t: Int32, _ adaptive: inout Bool) throws(LuaRaise) -> (PoolOptions, Double, BreakerOptions) {
        var o = PoolOptions(min: 0, max: 10)
        var timeout = 5.0
        var b = BreakerOptions()
        try lua.checkTable(t)
        try lua.checkOptionKeys(t, poolOptions, arg: t)
        if let v = try whole(lua, t, "min", arg: t) { o.min = v }
        if let v = try whole(lua, t, "max", arg: t) { o.max = v }
        if let v = try number(lua, t, "timeout", arg: t) {
            guard v > 0, v.isFinite else { throw .argument(t, "timeout: must be a positive number of seconds, got \(v)") }
            timeout = v
        }
        if let v = try number(lua, t, "acquire_timeout", arg: t) { o.acquireTimeout = v }
        if let v = try number(lua, t, "max_lifetime", arg: t) { o.maxLifetime = v }
        if let v = try number(lua, t, "idle_timeout", arg: t) { o.idleTimeout = v }
        if try lua.optionField(t, "adaptive", .boolean, arg: t) { adaptive = lua.toBool(-1); lua.pop() }
        do throws(PoolError) { try o.validate() } catch { throw .argument(t, error.message) }
        if try lua.optionField(t, "breaker", .table, arg: t) {
            let bt = lua.top
            defer { lua.pop() }
            b = try breakerOptions(lua, bt, b, arg: t)
        }
        return (o, timeout, b)
    }

    /// Breaker options from the table at `t` over `base`: failure_threshold is a number (every
    /// failure type) or a table of type = threshold; unknown keys and types are refused by name.
    static func breakerOptions(_ lua: Lua, _ t: Int32, _ base: BreakerOptions, arg: Int32) throws(LuaRaise) -> BreakerOptions {
        var b = base
        let p = "breaker."
        do {
            try lua.checkOptionKeys(t, breakerOptions, arg: arg)
        } catch {
            throw .argument(arg, "breaker: unknown option (options: \(breakerOptions.joined(separator: ", ")))")
        }
        switch lua.rawGet(t, field: "failure_threshold") {
        case .nil: lua.pop()
        case .number:
            let v = lua.toNumber(-1)!
            lua.pop()
            guard v == v.rounded(), abs(v) < 1e9 else { throw .argument(arg, "\(p)failure_threshold: must be a whole number, got \(v)") }
            for ft in FailureType.allCases { b.setThreshold(ft, Int(v)) }
        case .table:
            let ft = lua.top
            defer { lua.pop() }
            var entries: [(String, Double?)] = []
            lua.withCollectorStopped {
                lua.pushNil()
                while lua.next(ft) {
                    entries.append((lua.type(at: -2) == .string ? lua.toString(-2)! : "?", lua.type(at: -1) == .number ? lua.toNumber(-1) : nil))
                    lua.pop()
                }
            }
            for (name, v) in entries {
                let type: FailureType
                do throws(PoolError) { type = try FailureType(name: name, option: "\(p)failure_threshold") } catch {
                    throw .argument(arg, error.message)
                }
                guard let v, v == v.rounded(), abs(v) < 1e9 else { throw .argument(arg, "\(p)failure_threshold.\(name): must be a whole number") }
                b.setThreshold(type, Int(v))
            }
        default:
            let got = lua.typeName(at: -1)
            lua.pop()
            throw .argument(arg, "\(p)failure_threshold: must be a number or a table of failure type = number, got \(got)")
        }
        if let v = try number(lua, t, "recovery_timeout", arg: arg, prefix: p) { b.recoveryTimeout = v }
        if let v = try whole(lua, t, "half_open_max_calls", arg: arg, prefix: p) {
            b.halfOpenMaxCalls = v
            b.halfOpenSuccessThreshold = min(b.halfOpenSuccessThreshold, max(v, 1))
        }
        if let v = try whole(lua, t, "half_open_success_threshold", arg: arg, prefix: p) { b.halfOpenSuccessThreshold = v }
        if let v = try number(lua, t, "failure_rate_threshold", arg: arg, prefix: p) { b.failureRateThreshold = v }
        if let v = try whole(lua, t, "min_requests", arg: arg, prefix: p) { b.minRequestsForRate = v }
        do throws(PoolError) { try b.validate() } catch {
            throw .argument(arg, error.message.hasPrefix("thresholds.") ? p + error.message.replacingPrefix("thresholds.", "failure_threshold.") : p + error.message)
        }
        return b
    }

    /// A name no live pool has (metrics label sets stay unique).
    static func uniqueName(_ base: String) -> String {
        let taken = Set(MetricsRegistry.shared.live.map(\.metricsName))
        if !taken.contains(base) { return base }
        var n = 2
        while taken.contains("\(base)#\(n)") { n += 1 }
        return "\(base)#\(n)"
    }

    /// _pool.redis([url], [opts]) -> pool. url: the configured redis_url when nil.
    static let redis: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let url = try lua.optString(1) ?? ConfigModule.string(lua, "redis_url") ?? "redis://localhost:6379"
            let opts = try options(lua, 2)
            let (o, timeout, b) = (opts.pool, opts.timeout, opts.breaker)
            let endpoint: RESPEndpoint
            do throws(RESPError) { endpoint = try RESPEndpoint(url: url) } catch { throw .argument(1, error.message) }
            let name = uniqueName(endpoint.description)
            let managed: ManagedPool<RESPSession>
            do throws(PoolError) {
                let sizing = try opts.sizing()
                managed = try ManagedPool(name: name, kind: "redis", options: o, breaker: b,
                                          connector: RESPPooling.connector(endpoint: endpoint, connectTimeout: timeout, timeout: timeout),
                                          sizing: sizing?.0, forecaster: sizing?.1)
            } catch { throw .argument(2, error.message) }
            let lending = Lending<RESPSession>(
                managed: managed,
                make: { RESPSession(endpoint: endpoint, connectTimeout: timeout, timeout: timeout, retry: RESPRetryPolicy(maxAttempts: 1)) },
                face: { lease, _ in RedisModule.borrowed(lease.connection) },
                validate: { lua, session, _, then in RedisModule.validate(lua, session, then) })
            return push(lua, Handle(kind: "redis", name: name, breaker: managed.breaker, affinity: managed.affinity, timeout: timeout,
                                    acquireTimeout: o.acquireTimeout, source: managed, lender: lending))
        }
    }

    /// _pool.qdrant(url, [opts]) -> pool of request slots for the client the caller wraps.
    static let qdrant: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let url = try lua.checkString(1)
            let opts = try options(lua, 2)
            let (o, timeout, b) = (opts.pool, opts.timeout, opts.breaker)
            let name = uniqueName(url)
            let managed: ManagedPool<QdrantPooling.Slot>
            do throws(PoolError) {
                let sizing = try opts.sizing()
                managed = try ManagedPool(name: name, kind: "qdrant", options: o, breaker: b, connector: QdrantPooling.connector,
                                          sizing: sizing?.0, forecaster: sizing?.1)
            } catch { throw .argument(2, error.message) }
            let lending = Lending<QdrantPooling.Slot>(
                managed: managed, make: { QdrantPooling.Slot() },
                face: { _, _ in
                    LeaseFace(push: { $0.pushNil() }, outcome: { code, status, message in
                        let o = QdrantPooling.outcome(code: code, status: status, message: message)
                        return (o, false)
                    }, idle: { true }, revoke: {})
                },
                validate: nil)
            return push(lua, Handle(kind: "qdrant", name: name, breaker: managed.breaker, affinity: managed.affinity, timeout: timeout,
                                    acquireTimeout: o.acquireTimeout, source: managed, lender: lending))
        }
    }

    static func push(_ lua: Lua, _ h: Handle) -> Int32 {
        MetricsRegistry.shared.register(h.source)
        lua.push(object: h, type: poolType)
        return 1
    }

    static func handle(_ lua: Lua) throws(LuaRaise) -> Handle {
        try lua.checkObject(1, type: poolType, as: Handle.self)
    }

    static func fail(_ lua: Lua, _ e: PoolError, _ h: Handle, _ more: [(String, LuaValue)] = []) -> Int32 {
        lua.failure(code: e.kind.rawValue, message: e.message,
                    fields: [("pool", .string(h.name)), ("state", .string(h.breaker.state.description))] + more)
    }

    // MARK: pool methods

    /// h:acquire(command | method, [key | path]) -> lease, or nil, err (circuit_open, timeout, closed)
    static let acquire: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let a = try lua.checkString(2)
            let b: String? = lua.type(at: 3) == .string || lua.type(at: 3) == .number ? lua.toString(3) : nil
            let pattern = h.kind == "redis" ? QueryPattern.redis(command: a, key: b) : QueryPattern.qdrant(method: a, path: b ?? "/")
            return h.lender.acquire(lua, h, pattern: pattern)
        }
    }

    /// h:stats() -> {size, open, idle, checked_out, waiting, utilization, ..., p95_ms}
    static let stats: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            h.lender.stats(lua)
            lua.push(h.kind); lua.rawSet(-2, field: "kind")
            lua.push(h.name); lua.rawSet(-2, field: "name")
            lua.push(h.breaker.state.description); lua.rawSet(-2, field: "breaker_state")
            lua.push(h.affinity.performanceScore); lua.rawSet(-2, field: "affinity_score")
            return 1
        }
    }

    /// h:resize(n): the size the pool may grow to (above max raises max)
    static let resize: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let n = try lua.checkInteger(2)
            if lua.dryRun { return lua.would("resize pool \(h.name) to \(n)") }
            do throws(PoolError) { try h.lender.resize(Int(clamping: n)) } catch { throw .argument(2, error.message) }
            lua.push(true)
            return 1
        }
    }

    /// h:breaker() -> breaker
    static let breaker: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            lua.push(object: BreakerHandle(h.breaker, pool: h.name), type: breakerType)
            return 1
        }
    }

    /// h:affinity() -> {score, hits, misses, patterns = {...}, connections = {...}}
    static let affinity: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let a = try handle(lua).affinity
            let hm = a.hitsAndMisses
            let patterns: [LuaValue] = a.patterns.map { p in
                var m: [LuaValue: LuaValue] = [.string("pattern"): .string(p.pattern), .string("calls"): .integer(Int64(p.calls)),
                                               .string("avg_ms"): .number(p.avgMs), .string("score"): .number(p.score)]
                if let pref = p.preferred { m[.string("preferred")] = .integer(Int64(pref)) }
                return .map(m)
            }
            let connections: [LuaValue] = a.connections.map { c in
                .map([.string("connection"): .integer(Int64(c.connection)), .string("calls"): .integer(Int64(c.calls)),
                      .string("avg_ms"): .number(c.avgMs), .string("success_rate"): .number(c.successRate),
                      .string("score"): .number(c.score), .string("specialization"): .string(c.specialization)])
            }
            lua.push(value: .map([.string("score"): .number(a.performanceScore), .string("hits"): .integer(Int64(hm.hits)),
                                  .string("misses"): .integer(Int64(hm.misses)), .string("patterns"): .array(patterns),
                                  .string("connections"): .array(connections)]))
            return 1
        }
    }

    /// h:clear_low_performers(min_score) -> entries removed
    static let clearLowPerformers: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let min = try lua.checkNumber(2)
            guard min >= 0, min <= 1 else { throw .argument(2, "min_score must be between 0 and 1") }
            if lua.dryRun { return lua.would("clear affinity entries of pool \(h.name) scoring below \(min)") }
            lua.push(Int64(h.affinity.clearLowPerformers(minScore: min)))
            return 1
        }
    }

    /// h:optimize() -> {{pattern, from, to}, ...}: each pattern's preferred connection re-picked
    static let optimize: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            if lua.dryRun { return lua.would("re-pick the preferred connections of pool \(h.name)") }
            let changes: [LuaValue] = h.affinity.optimize().map { c in
                var m: [LuaValue: LuaValue] = [.string("pattern"): .string(c.pattern)]
                if let f = c.from { m[.string("from")] = .integer(Int64(f)) }
                if let t = c.to { m[.string("to")] = .integer(Int64(t)) }
                return .map(m)
            }
            lua.push(value: .array(changes))
            return 1
        }
    }

    // MARK: adaptive sizing and the load predictor

    static func decision(_ d: AdaptiveSizer.Decision) -> LuaValue {
        var m: [LuaValue: LuaValue] = [.string("t"): .number(d.t), .string("from"): .integer(Int64(d.from)), .string("to"): .integer(Int64(d.to)),
                                       .string("current_load"): .number(d.currentLoad), .string("applied"): .boolean(d.applied),
                                       .string("reason"): .string(d.reason)]
        if let p = d.predictedLoad { m[.string("predicted_load")] = .number(p) }
        return .map(m)
    }

    /// h:sample() -> the sizing decision of a sample taken now (nil for a fixed pool)
    static let sample: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            guard let d = h.lender.sample(t: PoolClock.unixSeconds()) else { lua.pushNil(); return 1 }
            lua.push(value: decision(d))
            return 1
        }
    }

    /// h:predictor() -> nil (fixed pool), or {trained, samples, retrains, accuracy = {...},
    /// forecast = {...} (at the sizing horizon), forecast_15m = {...}, decisions = {...}}
    static let predictor: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            guard let f = h.lender.forecaster, let sizer = h.lender.sizer else { lua.pushNil(); return 1 }
            let p = f.snapshot
            var m: [LuaValue: LuaValue] = [
                .string("trained"): .boolean(p.isTrained), .string("samples"): .integer(Int64(p.sampleCount)),
                .string("retrains"): .integer(Int64(p.retrains)), .string("accuracy"): .array(p.accuracy().map(PredictModule.value)),
                .string("horizon"): .number(sizer.rules.horizon), .string("interval"): .number(sizer.rules.sampleInterval),
                .string("decisions"): .array(sizer.decisions.suffix(20).map(decision)),
            ]
            if let fc = try? p.predict(horizon: sizer.rules.horizon) { m[.string("forecast")] = PredictModule.value(fc) }
            if let fc = try? p.predict(horizon: PredictorForecaster.longHorizon) { m[.string("forecast_15m")] = PredictModule.value(fc) }
            if let t = p.lastTraining { m[.string("last_training")] = PredictModule.value(t) }
            lua.push(value: .map(m))
            return 1
        }
    }

    /// h:retrain() -> the training report (nil for a fixed pool); refused under --dry-run
    static let retrain: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            guard let f = h.lender.forecaster else { lua.pushNil(); return 1 }
            if lua.dryRun { return lua.would("retrain the load predictor of pool \(h.name)") }
            lua.push(value: PredictModule.value(f.train()))
            return 1
        }
    }

    /// h:save_predictor(path) -> true, or nil, err; refused under --dry-run
    static let savePredictor: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let path = try lua.checkString(2)
            guard let f = h.lender.forecaster else { throw .argument(1, "pool \(h.name) is not adaptive: it has no predictor") }
            if lua.dryRun { return lua.would("save the load predictor of pool \(h.name) to \(path)") }
            do throws(PredictError) { try f.save(to: path) } catch {
                return lua.failure(code: "io", message: error.message, fields: [("path", .string(path))])
            }
            lua.push(true)
            return 1
        }
    }

    /// h:load_predictor(path) -> true, or nil, err {code = "io" | "corrupt_model" | "mismatch"}
    static let loadPredictor: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let path = try lua.checkString(2)
            guard let f = h.lender.forecaster else { throw .argument(1, "pool \(h.name) is not adaptive: it has no predictor") }
            do throws(PredictError) { try f.load(from: path) } catch {
                let code = error.kind == .io ? "io" : error.kind == .invalidOption ? "mismatch" : "corrupt_model"
                return lua.failure(code: code, message: error.message, fields: [("path", .string(path))])
            }
            lua.push(true)
            return 1
        }
    }

    // MARK: leases

    static func lease(_ lua: Lua) throws(LuaRaise) -> Lease {
        try lua.checkObject(1, type: leaseType, as: Lease.self)
    }

    /// lease:connection() -> the borrowed connection (Redis), nil (Qdrant)
    static let leaseConnection: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let l = try lease(lua)
            guard l.end != nil else { throw .argument(1, "the lease was already given back") }
            l.push(lua)
            return 1
        }
    }

    /// lease:finish([err], [raised]): err is the call's error (nil: it succeeded); raised: the
    /// call raised a Lua error (not the endpoint's doing).
    static let finish: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let l = try lease(lua)
            guard let end = l.end else { throw .argument(1, "the lease was already given back") }
            var code: String?, status: Int?, message = ""
            if lua.type(at: 2) == .table {
                code = lua.rawGet(2, field: "code") == .string ? lua.toString(-1) : "error"; lua.pop()
                if lua.rawGet(2, field: "status") == .number { status = Int(lua.toInteger(-1) ?? 0) }; lua.pop()
                if lua.rawGet(2, field: "message") == .string { message = lua.toString(-1)! }; lua.pop()
            } else if !lua.isNoneOrNil(2) {
                code = "error"; message = lua.toString(2) ?? ""
            }
            l.end = nil
            end(code, status, message, lua.toBool(3))
            return 0
        }
    }

    // MARK: breakers

    final class BreakerHandle: LuaClosable {
        let breaker: CircuitBreaker
        let pool: String
        init(_ b: CircuitBreaker, pool: String) { breaker = b; self.pool = pool }
        func close() {}
    }

    static func breakerHandle(_ lua: Lua) throws(LuaRaise) -> BreakerHandle {
        try lua.checkObject(1, type: breakerType, as: BreakerHandle.self)
    }

    /// b:state() -> "closed" | "open" | "half_open"
    static let breakerState: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(try breakerHandle(lua).breaker.state.description)
            return 1
        }
    }

    /// b:status() -> {state, counts = {type = n}, failures_total, last_failure, next_probe_in, ...}
    static let breakerStatus: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let b = try breakerHandle(lua)
            lua.push(value: status(b.breaker.status, pool: b.pool))
            return 1
        }
    }

    static func status(_ s: CircuitBreaker.Status, pool: String) -> LuaValue {
        func perType(_ a: [Int]) -> LuaValue {
            var m: [LuaValue: LuaValue] = [:]
            for t in FailureType.allCases { m[.string(t.description)] = .integer(Int64(a[t.rawValue])) }
            return .map(m)
        }
        var thresholds: [LuaValue: LuaValue] = [:]
        for t in FailureType.allCases { thresholds[.string(t.description)] = .integer(Int64(s.options.threshold(t))) }
        var m: [LuaValue: LuaValue] = [
            .string("pool"): .string(pool), .string("state"): .string(s.state.description), .string("forced"): .boolean(s.forced),
            .string("counts"): perType(s.counts), .string("failures_total"): perType(s.failuresTotal),
            .string("calls_total"): .integer(Int64(s.callsTotal)), .string("successes_total"): .integer(Int64(s.successesTotal)),
            .string("rejected_total"): .integer(Int64(s.rejectedTotal)), .string("opens_total"): .integer(Int64(s.opensTotal)),
            .string("recoveries_total"): .integer(Int64(s.recoveriesTotal)), .string("success_rate"): .number(s.successRate),
            .string("seconds_in_state"): .number(s.secondsInState), .string("probes_admitted"): .integer(Int64(s.probesAdmitted)),
            .string("probe_successes"): .integer(Int64(s.probeSuccesses)),
            .string("config"): .map([
                .string("failure_threshold"): .map(thresholds), .string("recovery_timeout"): .number(s.options.recoveryTimeout),
                .string("half_open_max_calls"): .integer(Int64(s.options.halfOpenMaxCalls)),
                .string("half_open_success_threshold"): .integer(Int64(s.options.halfOpenSuccessThreshold)),
                .string("failure_rate_threshold"): .number(s.options.failureRateThreshold),
                .string("min_requests"): .integer(Int64(s.options.minRequestsForRate)),
            ]),
            .string("transitions"): .array(s.transitions.suffix(20).map { t in
                .map([.string("from"): .string(t.from.description), .string("to"): .string(t.to.description),
                      .string("reason"): .string(t.reason), .string("seconds_ago"): .number(max(0, s.now - t.at))])
            }),
        ]
        if let a = s.lastFailureAgo {
            m[.string("last_failure")] = .map([.string("seconds_ago"): .number(a),
                                                .string("type"): .string(s.lastFailureType?.description ?? ""),
                                                .string("message"): .string(s.lastFailureMessage)])
        }
        if let n = s.nextProbeIn { m[.string("next_probe_in")] = .number(n) }
        return .map(m)
    }

    /// b:reset(): closes it and clears its counts
    static let breakerReset: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let b = try breakerHandle(lua)
            if lua.dryRun { return lua.would("reset the circuit breaker of \(b.pool)") }
            b.breaker.reset()
            lua.push(true)
            return 1
        }
    }

    /// b:force_open(): open until reset
    static let breakerForceOpen: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let b = try breakerHandle(lua)
            if lua.dryRun { return lua.would("force the circuit breaker of \(b.pool) open") }
            b.breaker.forceOpen()
            lua.push(true)
            return 1
        }
    }

    /// b:configure{failure_threshold=, recovery_timeout=, half_open_max_calls=, ...}
    static let breakerConfigure: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let b = try breakerHandle(lua)
            try lua.checkTable(2)
            let o = try breakerOptions(lua, 2, b.breaker.options, arg: 2)
            if lua.dryRun { return lua.would("configure the circuit breaker of \(b.pool)") }
            do throws(PoolError) { try b.breaker.configure(o) } catch { throw .argument(2, error.message) }
            lua.push(true)
            return 1
        }
    }

    // MARK: the process's pools

    /// _pool.metrics() -> Prometheus text of every pool, breaker and predictor
    static let metrics: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let pools = MetricsRegistry.shared.live.compactMap { s in s.loadPredictor.map { (s.metricsName, $0) } }
            lua.push(MetricsRegistry.shared.render() + PredictModule.metricsText(pools: pools))
            return 1
        }
    }

    /// _pool.list() -> {{name =, kind =}, ...}: every pool of the process
    static let list: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let live = MetricsRegistry.shared.live
            lua.push(value: .array(live.map { .map([.string("name"): .string($0.metricsName), .string("kind"): .string($0.metricsKind)]) }))
            return 1
        }
    }
}

extension String {
    func replacingPrefix(_ p: String, _ with: String) -> String {
        hasPrefix(p) ? with + dropFirst(p.count) : self
    }
}
