import Glibc

/// A point in time on CLOCK_MONOTONIC, in nanoseconds.
public struct Deadline: Comparable, Hashable, Sendable {
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func now() -> Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Deadline(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// Now plus `seconds` (negative or NaN: now; too large or infinite: `distantFuture`).
    public static func after(seconds: Double) -> Deadline {
        let base = now().nanoseconds
        guard seconds > 0 else { return Deadline(nanoseconds: base) }
        let ns = seconds * 1e9
        guard ns < Double(UInt64.max - base) else { return .distantFuture }
        return Deadline(nanoseconds: base + UInt64(ns))
    }

    public static let distantFuture = Deadline(nanoseconds: UInt64.max)

    /// Seconds from now until this deadline; negative when it has passed.
    public var secondsFromNow: Double {
        let n = Deadline.now().nanoseconds
        if nanoseconds >= n { return Double(nanoseconds - n) / 1e9 }
        return -(Double(n - nanoseconds) / 1e9)
    }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}

/// What a file descriptor is ready for (or is waited for).
public struct IOEvents: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let readable = IOEvents(rawValue: 1 << 0)
    public static let writable = IOEvents(rawValue: 1 << 1)
    /// The peer hung up (EPOLLHUP / EPOLLRDHUP). Always reported, whether asked for or not.
    public static let hangup = IOEvents(rawValue: 1 << 2)
    /// An error condition on the fd (EPOLLERR). Always reported, whether asked for or not.
    public static let error = IOEvents(rawValue: 1 << 3)
}

/// How a one-shot wait ended.
public enum WaitOutcome: Sendable, Equatable {
    /// The fd is ready; the events it is ready for (timers never end with this).
    case ready(IOEvents)
    /// The deadline (of a watch) or the time (of a timer) has come.
    case timedOut
    /// `EventLoop.cancel` was called before the wait ended.
    case cancelled
}

/// Identifies one registration in an `EventLoop`. Tokens are never reused by a loop.
public struct WaitToken: Hashable, Sendable {
    public let id: UInt64
    init(_ id: UInt64) { self.id = id }
}

public enum EventLoopError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed: the call and errno.
    case system(String, Int32)
    /// A dynamically opened library (libcurl) could not be loaded: opsh_dyn_error()'s text.
    case libraryUnavailable(String)
    /// libcurl's multi interface reported an error.
    case curl(String)

    public var description: String {
        switch self {
        case .system(let call, let err): return "\(call) failed: \(String(cString: strerror(err))) (errno \(err))"
        case .libraryUnavailable(let why): return why
        case .curl(let why): return why
        }
    }
}

/// A handle another thread or a signal handler can use to wake the loop; valid while its
/// `EventLoop` lives (the loop closes the eventfd in its deinit).
public struct EventLoopWaker: Sendable {
    public let fd: Int32
    /// Async-signal-safe: one write(2) of an 8-byte counter to the eventfd.
    public func wake() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }
}
