import Synchronization

/// What went wrong with a call, as the breaker counts it (each kind has its own threshold).
public enum FailureType: Int, CaseIterable, Sendable, CustomStringConvertible {
    case connection, timeout, query, transaction, resource

    public var description: String {
        switch self {
        case .connection: return "connection"
        case .timeout: return "timeout"
        case .query: return "query"
        case .transaction: return "transaction"
        case .resource: return "resource"
        }
    }

    /// The type named `name`; an unknown name is refused, naming `option`.
    public init(name: String, option: String = "failure_type") throws(PoolError) {
        guard let t = FailureType.allCases.first(where: { $0.description == name }) else {
            let known = FailureType.allCases.map(\.description).joined(separator: ", ")
            throw .badOption(option, "unknown failure type '\(name)' (known: \(known))")
        }
        self = t
    }
}

public enum BreakerState: UInt8, Sendable, CustomStringConvertible {
    case closed = 0, open = 1, halfOpen = 2
    public var description: String {
        switch self {
        case .closed: return "closed"
        case .open: return "open"
        case .halfOpen: return "half_open"
        }
    }
}

/// The breaker's settings; the defaults are the original system's (docs/ARCHITECTURE.md names
/// where they come from): thresholds connection 3, timeout 5, query 10, transaction 5,
/// resource 3; 60 s recovery; 3 half-open probes of which 2 must succeed; a 50 % success rate
/// over at least 10 requests.
public struct BreakerOptions: Sendable, Equatable {
    public var thresholds: [Int] = [3, 5, 10, 5, 3]
    public var recoveryTimeout: Double = 60
    public var halfOpenMaxCalls: Int = 3
    public var halfOpenSuccessThreshold: Int = 2
    public var failureRateThreshold: Double = 0.5
    public var minRequestsForRate: Int = 10
    /// Failure counts halve every this many successes while closed...
    public var decayEverySuccesses: Int = 100
    /// ...and once per this many seconds without a failure.
    public var decayAfterQuiet: Double = 600

    public init() {}

    public func threshold(_ t: FailureType) -> Int { thresholds[t.rawValue] }
    public mutating func setThreshold(_ t: FailureType, _ n: Int) { thresholds[t.rawValue] = n }

    public func validate() throws(PoolError) {
        for t in FailureType.allCases where thresholds[t.rawValue] < 1 {
            throw .badOption("thresholds.\(t)", "must be 1 or more, got \(thresholds[t.rawValue])")
        }
        try PoolOptions.seconds("recovery_timeout", recoveryTimeout, zeroAllowed: false)
        if halfOpenMaxCalls < 1 { throw .badOption("half_open_max_calls", "must be 1 or more, got \(halfOpenMaxCalls)") }
        if halfOpenSuccessThreshold < 1 || halfOpenSuccessThreshold > halfOpenMaxCalls {
            throw .badOption("half_open_success_threshold",
                             "must be between 1 and half_open_max_calls (\(halfOpenMaxCalls)), got \(halfOpenSuccessThreshold)")
        }
        if !(failureRateThreshold > 0 && failureRateThreshold <= 1) {
            throw .badOption("failure_rate_threshold", "must be in (0, 1], got \(failureRateThreshold)")
        }
        if minRequestsForRate < 1 { throw .badOption("min_requests", "must be 1 or more, got \(minRequestsForRate)") }
        if decayEverySuccesses < 1 { throw .badOption("decay_every", "must be 1 or more, got \(decayEverySuccesses)") }
        try PoolOptions.seconds("decay_after", decayAfterQuiet, zeroAllowed: false)
    }
}

/// A multi-level circuit breaker for one endpoint, the original's design with its bugs fixed:
///
/// - closed: every call passes. A failure of type T opens it when T's count reaches T's
///   threshold, or when at least `minRequestsForRate` recent calls succeeded less than
///   `failureRateThreshold` of the time.
/// - open: calls are refused at once, until `recoveryTimeout` has passed since it opened;
///   then the next call moves it to half-open.
/// - half-open: at most `halfOpenMaxCalls` probe calls are admitted — really counted (the
///   original never incremented its counter, so half-open admitted everything); any probe
///   failure reopens it, `halfOpenSuccessThreshold` probe successes close it and clear the
///   counts. Only probes count: a call admitted while closed that ends now changes nothing.
/// - decay: while closed, the failure counts (and the recent-call window of the rate trip)
///   halve every `decayEverySuccesses` successes, and once per `decayAfterQuiet` seconds
///   without a failure (the original halved on every success once 600 s had passed).
/// - `forceOpen` holds it open until `reset` (the recovery timer does not close a breaker an
///   operator opened).
///
/// The check on the hot path, `allow()` while closed, is one relaxed atomic load.
public final class CircuitBreaker: @unchecked Sendable {
    public enum Admission: Equatable, Sendable {
        /// Closed: the call goes ahead.
        case pass
        /// Half-open: the call goes ahead as one of the counted probes.
        case probe
        /// Open (or half-open with every probe taken): fail at once.
        case rejected
    }

    struct Core {
        var options: BreakerOptions
        var state: BreakerState = .closed
        var forced = false
        var enteredState: UInt64
        var openedAt: UInt64 = 0
        var counts = [Int](repeating: 0, count: FailureType.allCases.count)
        var recentCalls = 0
        var recentFailures = 0
        var successesSinceDecay = 0
        var lastFailureAt: UInt64?
        var lastFailureType: FailureType?
        var lastFailureMessage = ""
        var quietDecayFrom: UInt64 = 0
        var probesAdmitted = 0
        var probesInFlight = 0
        var probeSuccesses = 0
        // lifetime counters (Prometheus counters never go down)
        var failuresTotal = [Int](repeating: 0, count: FailureType.allCases.count)
        var callsTotal = 0
        var successesTotal = 0
        var rejectedTotal = 0
        var opensTotal = 0
        var recoveriesTotal = 0
        var transitions: [Transition] = []
    }

    /// One state change, for the status and the weekly review.
    public struct Transition: Sendable, Equatable {
        public let from: BreakerState
        public let to: BreakerState
        /// Seconds on the breaker's clock.
        public let at: Double
        public let reason: String
    }

    public let name: String
    let clock: PoolClock
    /// The state, readable without the lock (the hot path's check).
    let gate = Atomic<UInt8>(BreakerState.closed.rawValue)
    let core: Mutex<Core>

    public init(name: String, options: BreakerOptions = BreakerOptions(), clock: PoolClock = .monotonic) throws(PoolError) {
        try options.validate()
        self.name = name
        self.clock = clock
        core = Mutex(Core(options: options, enteredState: clock.now()))
    }

    public var state: BreakerState { BreakerState(rawValue: gate.load(ordering: .relaxed))! }

    /// May a call go ahead now? Report how it ended with `record`, or `cancel` a probe that
    /// never ran.
    @inline(__always)
    public func allow() -> Admission {
        if gate.load(ordering: .relaxed) == BreakerState.closed.rawValue { return .pass }
        return slowAllow()
    }

    func slowAllow() -> Admission {
        let now = clock.now()
        return core.withLock { c in
            switch c.state {
            case .closed:
                return .pass
            case .open:
                let due = c.openedAt &+ PoolClock.nanos(c.options.recoveryTimeout)
                if c.forced || now < due {
                    c.rejectedTotal += 1
                    return .rejected
                }
                move(&c, to: .halfOpen, now, "recovery timeout of \(c.options.recoveryTimeout)s passed")
                c.probesAdmitted = 1
                c.probesInFlight = 1
                return .probe
            case .halfOpen:
                if c.probesAdmitted >= c.options.halfOpenMaxCalls {
                    c.rejectedTotal += 1
                    return .rejected
                }
                c.probesAdmitted += 1
                c.probesInFlight += 1
                return .probe
            }
        }
    }

    /// A call admitted as `admission` succeeded.
    public func recordSuccess(_ admission: Admission) {
        let now = clock.now()
        core.withLock { c in
            c.callsTotal += 1
            c.successesTotal += 1
            switch c.state {
            case .closed:
                c.recentCalls += 1
                c.successesSinceDecay += 1
                let quietNs = PoolClock.nanos(c.options.decayAfterQuiet)
                if c.successesSinceDecay >= c.options.decayEverySuccesses {
                    decay(&c)
                } else if c.lastFailureAt != nil && now &- c.quietDecayFrom > quietNs {
                    decay(&c)
                    c.quietDecayFrom = now
                }
            case .halfOpen where admission == .probe:
                c.probesInFlight -= 1
                c.probeSuccesses += 1
                if c.probeSuccesses >= c.options.halfOpenSuccessThreshold {
                    c.recoveriesTotal += 1
                    move(&c, to: .closed, now, "\(c.probeSuccesses) probe calls succeeded")
                    clearCounts(&c)
                }
            default:
                break
            }
        }
    }

    /// A call admitted as `admission` failed with `type`.
    public func recordFailure(_ type: FailureType, _ admission: Admission, message: String = "") {
        let now = clock.now()
        core.withLock { c in
            c.callsTotal += 1
            c.failuresTotal[type.rawValue] += 1
            c.counts[type.rawValue] += 1
            c.lastFailureAt = now
            c.quietDecayFrom = now
            c.lastFailureType = type
            c.lastFailureMessage = message
            switch c.state {
            case .closed:
                c.recentCalls += 1
                c.recentFailures += 1
                let n = c.counts[type.rawValue], limit = c.options.threshold(type)
                if n >= limit {
                    open(&c, now, "\(n) \(type) failures reached the threshold of \(limit)")
                } else if c.recentCalls >= c.options.minRequestsForRate {
                    let rate = Double(c.recentCalls - c.recentFailures) / Double(c.recentCalls)
                    if rate < c.options.failureRateThreshold {
                        let pct = Int((rate * 100).rounded())
                        open(&c, now, "success rate \(pct)% over \(c.recentCalls) calls is below \(Int(c.options.failureRateThreshold * 100))%")
                    }
                }
            case .halfOpen where admission == .probe:
                c.probesInFlight -= 1
                open(&c, now, "a probe call failed (\(type))")
            default:
                break
            }
        }
    }

    /// A probe that was admitted but never ran (its caller gave up first): its place is freed.
    public func cancel(_ admission: Admission) {
        guard admission == .probe else { return }
        core.withLock { c in
            if c.state == .halfOpen && c.probesInFlight > 0 {
                c.probesInFlight -= 1
                c.probesAdmitted -= 1
            }
        }
    }

    /// Closes the breaker and clears its counts (lifetime totals stay).
    public func reset() {
        let now = clock.now()
        core.withLock { c in
            c.forced = false
            if c.state != .closed { move(&c, to: .closed, now, "reset") }
            clearCounts(&c)
        }
    }

    /// Opens the breaker and holds it open until `reset`.
    public func forceOpen() {
        let now = clock.now()
        core.withLock { c in
            c.forced = true
            if c.state != .open { open(&c, now, "forced open") }
        }
    }

    public var options: BreakerOptions { core.withLock { $0.options } }

    /// Replaces the settings (validated first; the state and counts stay).
    public func configure(_ options: BreakerOptions) throws(PoolError) {
        try options.validate()
        core.withLock { $0.options = options }
    }

    // MARK: status

    public struct Status: Sendable {
        public var name: String
        public var state: BreakerState
        public var forced: Bool
        /// Current (decaying) failure counts per type, in `FailureType` order.
        public var counts: [Int]
        /// Failures per type since the breaker was made (never decay).
        public var failuresTotal: [Int]
        public var callsTotal: Int
        public var successesTotal: Int
        public var rejectedTotal: Int
        public var opensTotal: Int
        public var recoveriesTotal: Int
        /// Recent calls' success rate (1 with none).
        public var successRate: Double
        public var secondsInState: Double
        /// Seconds since the last failure (nil: none), its type and message.
        public var lastFailureAgo: Double?
        public var lastFailureType: FailureType?
        public var lastFailureMessage: String
        /// While open: seconds until a call may probe (0: the next call will; nil when forced
        /// or not open).
        public var nextProbeIn: Double?
        public var probesAdmitted: Int
        public var probeSuccesses: Int
        public var options: BreakerOptions
        public var transitions: [Transition]
        /// The breaker's clock now, in seconds (what `Transition.at` is measured on).
        public var now: Double
    }

    public var status: Status {
        let now = clock.now()
        return core.withLock { c in
            var next: Double?
            if c.state == .open && !c.forced {
                let due = c.openedAt &+ PoolClock.nanos(c.options.recoveryTimeout)
                next = due > now ? Double(due - now) / 1e9 : 0
            }
            return Status(name: name, state: c.state, forced: c.forced, counts: c.counts, failuresTotal: c.failuresTotal,
                          callsTotal: c.callsTotal, successesTotal: c.successesTotal, rejectedTotal: c.rejectedTotal,
                          opensTotal: c.opensTotal, recoveriesTotal: c.recoveriesTotal,
                          successRate: c.recentCalls == 0 ? 1 : Double(c.recentCalls - c.recentFailures) / Double(c.recentCalls),
                          secondsInState: Double(now &- c.enteredState) / 1e9,
                          lastFailureAgo: c.lastFailureAt.map { Double(now &- $0) / 1e9 },
                          lastFailureType: c.lastFailureType, lastFailureMessage: c.lastFailureMessage,
                          nextProbeIn: next, probesAdmitted: c.probesAdmitted, probeSuccesses: c.probeSuccesses,
                          options: c.options, transitions: c.transitions, now: Double(now) / 1e9)
        }
    }

    // MARK: transitions (under the lock)

    func open(_ c: inout Core, _ now: UInt64, _ reason: String) {
        c.opensTotal += 1
        c.openedAt = now
        move(&c, to: .open, now, reason)
    }

    func move(_ c: inout Core, to s: BreakerState, _ now: UInt64, _ reason: String) {
        c.transitions.append(Transition(from: c.state, to: s, at: Double(now) / 1e9, reason: reason))
        if c.transitions.count > 100 { c.transitions.removeFirst(c.transitions.count - 100) }
        c.state = s
        c.enteredState = now
        c.probesAdmitted = 0
        c.probesInFlight = 0
        c.probeSuccesses = 0
        gate.store(s.rawValue, ordering: .relaxed)
    }

    func decay(_ c: inout Core) {
        for i in c.counts.indices { c.counts[i] /= 2 }
        c.recentCalls /= 2
        c.recentFailures /= 2
        c.successesSinceDecay = 0
    }

    func clearCounts(_ c: inout Core) {
        for i in c.counts.indices { c.counts[i] = 0 }
        c.recentCalls = 0
        c.recentFailures = 0
        c.successesSinceDecay = 0
    }
}
