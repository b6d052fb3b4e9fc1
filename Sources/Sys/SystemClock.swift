import Glibc

/// The clocks, in seconds: monotonic for durations and deadlines (never jumps), wall for
/// timestamps (Unix time, follows the system's clock).
public enum SystemClock {
    public static func monotonic() -> Double { read(CLOCK_MONOTONIC) }
    public static func wall() -> Double { read(CLOCK_REALTIME) }

    static func read(_ id: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
