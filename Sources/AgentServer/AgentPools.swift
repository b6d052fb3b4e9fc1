import Dispatch
import Glibc
import Pool
import Predict
import RESP

/// The pools of docs/ARCHITECTURE.md's Pool library, in one long-running place: the agent's
/// adaptive pool of Redis connections (the user store, db-stats, the jobs' lock) and its pool of
/// Qdrant request slots, each with its breaker, affinity and load predictor. Every Redis or
/// Qdrant call the agent makes goes through them, so what the admin endpoints report is real
/// traffic. Calls block a worker thread, never the server's event loop.
public final class AgentPools: @unchecked Sendable {
    public let redis: ManagedPool<RESPSession>
    public let qdrant: ManagedPool<QdrantPooling.Slot>
    public let redisURL: String
    public let qdrantURL: String
    let qdrantKey: String?
    let timeout: Double
    let stateDir: String
    static let work = DispatchQueue(label: "opsh-agent.pool", attributes: .concurrent)

    public init(redisURL: String, qdrantURL: String, qdrantKey: String?, max: Int, stateDir: String, timeout: Double = 5) throws {
        self.redisURL = redisURL
        self.qdrantURL = qdrantURL.hasSuffix("/") ? String(qdrantURL.dropLast()) : qdrantURL
        self.qdrantKey = qdrantKey
        self.timeout = timeout
        self.stateDir = stateDir
        let endpoint = try RESPEndpoint(url: redisURL)
        let options = PoolOptions(min: 0, max: max, acquireTimeout: timeout)
        func sizing() throws -> (SizingRules, PredictorForecaster) {
            var r = SizingRules()
            r.minSize = 1
            r.maxSize = max
            r.baseSize = Swift.max(1, (max + 1) / 2)
            return (r, try PredictorForecaster(rules: r))
        }
        let rs = try sizing(), qs = try sizing()
        redis = try ManagedPool(name: endpoint.description, kind: "redis", options: options,
                                connector: RESPPooling.connector(endpoint: endpoint, connectTimeout: timeout, timeout: timeout),
                                sizing: rs.0, forecaster: rs.1)
        qdrant = try ManagedPool(name: self.qdrantURL, kind: "qdrant", options: options,
                                 // a slot is the right to one request in flight: made on demand, nothing to close
                                 connector: Pool<QdrantPooling.Slot>.Connector(close: { _ in }, create: { _ in QdrantPooling.Slot() }),
                                 sizing: qs.0, forecaster: qs.1)
        for v in views { try? v.forecaster?.load(from: modelPath(v.target)) }
    }

    /// Both pools by target name ("redis", "qdrant").
    public var views: [PoolView] { [PoolView("redis", redis), PoolView("qdrant", qdrant)] }

    /// pool_state_dir/<target>.model: the same files the pool procedures keep.
    func modelPath(_ target: String) -> String { stateDir + "/" + target + ".model" }

    /// Saves both predictors (on shutdown and after retraining); returns the errors.
    @discardableResult
    public func savePredictors() -> [String] {
        var errors: [String] = []
        _ = mkdir(stateDir, 0o700)
        for v in views {
            do { try v.forecaster?.save(to: modelPath(v.target)) } catch { errors.append("\(v.target): \(error)") }
        }
        return errors
    }

    public func close() {
        redis.pool.close()
        qdrant.pool.close()
    }

    /// Runs `body` on a worker thread.
    public static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            work.async { cont.resume(with: Result { try body() }) }
        }
    }

    /// Redis commands on one borrowed connection (blocking); affinity learns the first
    /// command's pattern ("GET apikey:*").
    public func redisCommands(_ commands: [[String]]) throws -> [RESPValue] {
        let first = commands.first ?? []
        let pattern = QueryPattern.redis(command: first.first ?? "", key: first.count > 1 ? first[1] : nil)
        defer { redis.sampleIfDue(t: PoolClock.unixSeconds()) }
        return try redis.call(pattern: pattern, timeout: timeout, classify: RESPPooling.classify,
                              judge: { (replies: [RESPValue]) in replies.lazy.compactMap(RESPPooling.failureType(ofReply:)).first }) { session in
            try commands.map { try session.command($0) }
        }
    }

    /// GET `path` on Qdrant through the pool of request slots (blocking).
    func qdrantGet(_ path: String) throws -> QdrantCall.Reply {
        defer { qdrant.sampleIfDue(t: PoolClock.unixSeconds()) }
        let admission: CircuitBreaker.Admission
        switch qdrant.admit() {
        case .failure(let e): throw e
        case .success(let a): admission = a
        }
        let start = PoolClock.monotonic.precise()
        let lease: Pool<QdrantPooling.Slot>.Lease
        do {
            lease = try qdrant.pool.acquire(timeout: timeout, choosing: nil)
        } catch {
            qdrant.cancelAdmission(admission)
            throw error
        }
        let r = QdrantCall.get(qdrantURL + path, apiKey: qdrantKey, timeout: timeout)
        qdrant.finish(lease, admission: admission, pattern: QueryPattern.qdrant(method: "GET", path: path), nanoseconds: PoolClock.monotonic.precise() &- start,
                      outcome: QdrantCall.outcome(r), broken: false)
        switch r {
        case .success(let reply): return reply
        case .failure(let e): throw e
        }
    }
}

/// What the admin endpoints need of either pool, whatever it holds.
public struct PoolView: @unchecked Sendable {
    public let target: String
    public let name: String
    public let breaker: CircuitBreaker
    public let affinity: ConnectionAffinity
    public let sizer: AdaptiveSizer?
    public let forecaster: PredictorForecaster?
    let statsOf: () -> Stats
    let resizeTo: (Int) throws(PoolError) -> Void
    let sampleAt: (Double) -> AdaptiveSizer.Decision?
    let queries: () -> (calls: Int, failed: Int, durations: LogLinearHistogram)

    init<C>(_ target: String, _ m: ManagedPool<C>) {
        self.target = target
        name = m.name
        breaker = m.breaker
        affinity = m.affinity
        sizer = m.sizer
        forecaster = m.forecaster
        statsOf = {
            let s = m.pool.stats
            return Stats(size: s.size, idle: s.idle, checkedOut: s.checkedOut, peakCheckedOut: s.peakCheckedOut, waiting: s.waiting,
                         capacity: s.capacity, min: s.min, max: s.max, createdTotal: s.createdTotal, closedTotal: s.closedTotal,
                         acquiredTotal: s.acquiredTotal, timeoutsTotal: s.timeoutsTotal, createFailuresTotal: s.createFailuresTotal,
                         acquireWaitP95: Double(s.acquireWait.quantile(0.95)) / 1e9)
        }
        resizeTo = { n throws(PoolError) in try m.pool.resize(n) }
        sampleAt = { m.sample(t: $0) }
        queries = { m.queryStats }
    }

    /// Pool<C>.Stats without its connection type.
    public struct Stats: Sendable {
        public var size, idle, checkedOut, peakCheckedOut, waiting, capacity, min, max: Int
        public var createdTotal, closedTotal, acquiredTotal, timeoutsTotal, createFailuresTotal: Int
        public var acquireWaitP95: Double
    }

    public var stats: Stats { statsOf() }
    public func resize(_ n: Int) throws(PoolError) { try resizeTo(n) }
    public func sample(t: Double) -> AdaptiveSizer.Decision? { sampleAt(t) }
}
