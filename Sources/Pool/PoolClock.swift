import Glibc
import Synchronization

/// Where the pool, the breaker and the sizer read the time: the system's monotonic clock, or a
/// clock a test moves by hand (so every timer-driven transition is tested without sleeping).
public struct PoolClock: Sendable {
    @usableFromInline let manual: ManualClock?

    public static let monotonic = PoolClock(manual: nil)
    public static func manual(_ clock: ManualClock) -> PoolClock { PoolClock(manual: clock) }

    /// Nanoseconds, to a few milliseconds (CLOCK_MONOTONIC_COARSE: a few ns to read): for
    /// lifetimes, idle times and recovery timeouts, never for latencies.
    @inlinable
    public func now() -> UInt64 {
        if let manual { return manual.nanoseconds }
        return Self.coarse()
    }

    /// The system's coarse monotonic clock (what `now()` reads unless the clock is manual).
    @inlinable
    public static func coarse() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(truncatingIfNeeded: ts.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: ts.tv_nsec)
    }

    /// Nanoseconds, exact (CLOCK_MONOTONIC): for latencies. Never earlier than `now()`.
    public func precise() -> UInt64 {
        if let manual { return manual.nanoseconds }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Unix time in seconds (the predictor learns time of day and day of week from it).
    public static func unixSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds as nanoseconds (negative: 0; beyond UInt64: UInt64.max).
    public static func nanos(_ seconds: Double) -> UInt64 {
        guard seconds > 0 else { return 0 }
        let ns = seconds * 1e9
        return ns >= 1.8e19 ? UInt64.max : UInt64(ns)
    }
}

/// A clock that moves only when told to (tests, replays).
public final class ManualClock: Sendable {
    private let ns: Atomic<UInt64>
    public init(seconds: Double = 1_000) { ns = Atomic(PoolClock.nanos(seconds)) }
    public var nanoseconds: UInt64 { ns.load(ordering: .relaxed) }
    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public func advance(seconds: Double) { ns.add(PoolClock.nanos(seconds), ordering: .relaxed) }
}
