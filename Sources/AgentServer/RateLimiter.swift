import Synchronization

/// Token buckets by name (an API key's user, a client address): `rate` requests a second on
/// average, bursts up to `burst`. A bucket untouched for a minute is dropped, so an address
/// scan cannot grow the table without bound.
public final class RateLimiter: @unchecked Sendable {
    struct Bucket { var tokens: Double; var last: Double }
    struct State {
        var rate: Double
        var burst: Double
        var buckets: [String: Bucket] = [:]
        var lastSweep = 0.0
    }
    let state: Mutex<State>

    /// `rate` 0 or less: unlimited.
    public init(rate: Double, burst: Double) {
        state = Mutex(State(rate: rate, burst: max(burst, 1)))
    }

    public func reconfigure(rate: Double, burst: Double) {
        state.withLock { $0.rate = rate; $0.burst = max(burst, 1); $0.buckets.removeAll() }
    }

    /// Whether a request of `name` at `now` may go ahead; if not, the seconds until it may.
    public func admit(_ name: String, now: Double) -> (allowed: Bool, retryAfter: Double) {
        state.withLock { s in
            guard s.rate > 0 else { return (true, 0) }
            if now - s.lastSweep > 60 {
                s.buckets = s.buckets.filter { now - $0.value.last < 60 }
                s.lastSweep = now
            }
            var b = s.buckets[name] ?? Bucket(tokens: s.burst, last: now)
            b.tokens = min(s.burst, b.tokens + (now - b.last) * s.rate)
            b.last = now
            if b.tokens >= 1 {
                b.tokens -= 1
                s.buckets[name] = b
                return (true, 0)
            }
            s.buckets[name] = b
            return (false, (1 - b.tokens) / s.rate)
        }
    }
}
