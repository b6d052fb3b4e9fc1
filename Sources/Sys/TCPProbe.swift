import Glibc

/// Whether a TCP port accepts connections, and how long the handshake took: a non-blocking
/// connect(2) to each address in turn (as a client falls back from ::1 to 127.0.0.1), closed as
/// soon as it is established. The caller waits for the descriptor `step` names (an event loop,
/// or `run`'s poll) and calls `step` again when it is writable, or `timedOut` at its deadline.
public final class TCPProbe {
    public struct Outcome: Sendable {
        public let connected: Bool
        /// nil when connected; else "refused", "timeout", "unreachable", "connect".
        public let code: String?
        public let message: String
        /// The address that answered (or the last one tried).
        public let address: String?
        /// From the first connect(2) to the end.
        public let seconds: Double
    }

    public enum Step {
        case waitWritable(Int32)
        case done(Outcome)
    }

    let addresses: [SocketAddress]
    let port: UInt16
    let label: String
    var next = 0
    var fd: Int32 = -1
    var current: SocketAddress?
    var lastError: (code: String, message: String)?
    var started = 0.0

    /// `label` names the target in messages ("db.example:5432").
    public init(addresses: [SocketAddress], port: UInt16, label: String) {
        self.addresses = addresses
        self.port = port
        self.label = label
    }

    deinit { close() }

    /// The first step, and each one after the descriptor became writable.
    public func step() -> Step {
        if started == 0 { started = SystemClock.monotonic() }
        if fd >= 0 {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { err = errno }
            if err == 0 { return finish(connected: true) }
            fail(err)
        }
        while next < addresses.count {
            let a = addresses[next]
            next += 1
            current = a
            fd = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { fail(errno); continue }
            var storage = a.storage
            storage.withUnsafeMutableBytes { raw in
                // the port in network byte order, in the same place for both families
                raw.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self)
            }
            let rc = storage.withUnsafeBytes { connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
            if rc == 0 { return finish(connected: true) }
            if errno == EINPROGRESS { return .waitWritable(fd) }
            fail(errno)
        }
        if addresses.isEmpty { lastError = ("connect", "\(label): no address to connect to") }
        return finish(connected: false)
    }

    /// The deadline passed while a connection was in progress.
    public func timedOut(after seconds: Double) -> Outcome {
        lastError = ("timeout", "\(label): no answer within \(seconds) s\(current.map { " (\($0.numeric))" } ?? "")")
        guard case .done(let o) = finish(connected: false) else { fatalError("unreachable") }
        return o
    }

    /// Blocks until connected, refused or `timeout` seconds passed (for callers without an event loop).
    public func run(timeout: Double) -> Outcome {
        let deadline = SystemClock.monotonic() + timeout
        var s = step()
        while case .waitWritable(let fd) = s {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let left = deadline - SystemClock.monotonic()
            if left <= 0 { return timedOut(after: timeout) }
            let rc = poll(&p, 1, Int32(min(left * 1000 + 1, 2_000_000_000)))
            if rc < 0 && errno == EINTR { continue }
            if rc == 0 { return timedOut(after: timeout) }
            s = step()
        }
        guard case .done(let o) = s else { fatalError("unreachable") }
        return o
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    func fail(_ e: Int32) {
        close()
        let code = e == ECONNREFUSED ? "refused" : e == ETIMEDOUT ? "timeout" :
            e == EHOSTUNREACH || e == ENETUNREACH ? "unreachable" : "connect"
        lastError = (code, "\(label)\(current.map { " (\($0.numeric))" } ?? ""): \(String(cString: strerror(e)))")
    }

    func finish(connected: Bool) -> Step {
        close()
        let seconds = SystemClock.monotonic() - started
        let e = connected ? nil : lastError ?? ("connect", "\(label): not connected")
        return .done(Outcome(connected: connected, code: e?.code, message: e?.message ?? "\(label): connected",
                             address: current?.numeric, seconds: seconds))
    }
}
