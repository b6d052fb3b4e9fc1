import Glibc

/// What a non-blocking step needs before it can make progress.
public enum IONeed: Sendable, Equatable {
    /// The step finished (connected / queue flushed / some bytes were read).
    case done
    /// Wait until `fd` is readable, then call the same step again.
    case readable
    /// Wait until `fd` is writable, then call the same step again.
    case writable
}

/// One connection to a Redis/DragonflyDB server whose methods never block (except name
/// resolution in `init` for a host name that is not an IP literal: getaddrinfo has no
/// non-blocking form). Drive it from an event loop:
///
/// ```
/// let c = try RESPConnection(endpoint: ep)          // socket created, connect() started
/// while true { switch try c.connectStep() { case .done: break loop; case let need: wait(c.fd, need) } }
/// c.enqueue(["GET", "k"])                            // any number of commands (a pipeline)
/// while case let need = try c.flushStep(), need != .done { wait(c.fd, need) }
/// var replies: [RESPValue] = []
/// while replies.count < 1 {
///     if let r = try c.nextReply() { replies.append(r); continue }
///     let need = try c.readStep()                    // .done: bytes arrived, try nextReply again
///     if need != .done { wait(c.fd, need) }
/// }
/// ```
///
/// Deadlines are the driver's: when one passes, call `fail(_:)` (the stream is then out of step
/// and the connection is broken). Any thrown error also breaks it; a broken connection throws
/// `.broken` from every step and is never reused. Server error replies are not thrown: they are
/// `RESPValue.error` replies. The handshake (AUTH/HELLO/SELECT) is the driver's too:
/// `RESPSession.handshakeCommands(for:)` gives the commands to enqueue first; `RESPSession` is
/// the driver that does all of this (reconnects included).
public final class RESPConnection {
    public let endpoint: RESPEndpoint
    public private(set) var fd: Int32 = -1

    private enum State { case connecting, tls, ready, broken }
    private var state: State = .connecting
    private var addresses: [RESPSocket.Address] = []
    private var addressIndex = 0
    private var connectErrors: [String] = []
    private var tls: RESPTLS? = nil
    private var host = ""

    public let parser: RESPParser
    private var out = RESPEncoder(reservingCapacity: 4096)
    private var written = 0
    /// Commands enqueued whose replies have not been returned by `nextReply` yet
    /// (RESP3 push messages do not count).
    public private(set) var pendingReplies = 0
    /// Why the connection broke (nil while healthy).
    public private(set) var failure: RESPError? = nil

    public var isBroken: Bool { state == .broken }
    public var isConnected: Bool { state == .ready }
    /// True for a TLS connection. libssl may hold decrypted bytes that the fd does not show as
    /// readable: always call `readStep` until it answers `.readable` before waiting.
    public var isTLS: Bool { endpoint.tls != nil }
    /// The address actually connected to (or being tried).
    public var peerDescription: String {
        addressIndex < addresses.count ? addresses[addressIndex].text : endpoint.description
    }

    public init(endpoint: RESPEndpoint, limits: RESPParserLimits = RESPParserLimits()) throws(RESPError) {
        self.endpoint = endpoint
        self.parser = RESPParser(limits: limits)
        switch endpoint.address {
        case .tcp(let h, let p):
            host = h
            addresses = try RESPSocket.resolve(host: h, port: p)
        case .unix(let path):
            addresses = [try RESPSocket.unixAddress(path)]
        }
        try startNextAddress()
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Starts connect() on addresses[addressIndex...] until one is in progress or done.
    private func startNextAddress() throws(RESPError) {
        while addressIndex < addresses.count {
            let a = addresses[addressIndex]
            let r = RESPSocket.startConnect(a)
            if r.fd >= 0 {
                fd = r.fd
                state = r.done ? .tls : .connecting
                if r.done { try afterTCP() }
                return
            }
            connectErrors.append("\(a.text): \(RESPSocket.errnoText(r.err))")
            let last = r.err
            addressIndex += 1
            if addressIndex == addresses.count { throw connectFailure(last) }
        }
        throw connectFailure(ECONNREFUSED)
    }

    private func connectFailure(_ e: Int32) -> RESPError {
        let what = connectErrors.joined(separator: "; ")
        let err: RESPError
        switch e {
        case ECONNREFUSED, ENOENT: err = RESPError(.connectRefused, "cannot connect to \(endpoint): \(what)")
        case ETIMEDOUT: err = RESPError(.connectTimeout, "cannot connect to \(endpoint): \(what)")
        default: err = RESPError(.connect, "cannot connect to \(endpoint): \(what)")
        }
        return breakWith(err)
    }

    private func afterTCP() throws(RESPError) {
        if let opts = endpoint.tls {
            do { tls = try RESPTLS(fd: fd, host: host, options: opts) } catch { throw breakWith(error) }
            state = .tls
        } else {
            state = .ready
        }
    }

    @discardableResult
    private func breakWith(_ e: RESPError) -> RESPError {
        if state != .broken { state = .broken; failure = e }
        return e
    }

    /// Marks the connection broken (a deadline passed, the caller gave up); the fd stays open
    /// until `close()` so an event loop can first drop its watch.
    public func fail(_ error: RESPError) { breakWith(error) }

    private func brokenError() -> RESPError {
        RESPError(.broken, "connection to \(endpoint) is broken" + (failure.map { ": \($0.message)" } ?? ""))
    }

    /// Finishes the TCP connect and the TLS handshake. `.done` when ready for commands.
    public func connectStep() throws(RESPError) -> IONeed {
        while true {
            switch state {
            case .broken: throw brokenError()
            case .ready: return .done
            case .connecting:
                if !RESPSocket.ready(fd, Int16(POLLOUT)) { return .writable }
                let e = RESPSocket.pendingError(fd)
                if e == 0 {
                    try afterTCP()
                    continue
                }
                connectErrors.append("\(addresses[addressIndex].text): \(RESPSocket.errnoText(e))")
                Glibc.close(fd); fd = -1
                addressIndex += 1
                if addressIndex >= addresses.count { throw connectFailure(e) }
                try startNextAddress()
            case .tls:
                guard let t = tls else { state = .ready; continue }
                do {
                    let need = try t.handshake()
                    if need != .done { return need }
                    state = .ready
                } catch {
                    throw breakWith(error)
                }
            }
        }
    }

    // MARK: writing

    public func enqueue(_ args: [[UInt8]]) { out.append(args); pendingReplies += 1 }
    public func enqueue(_ args: [String]) { out.append(args); pendingReplies += 1 }
    public func enqueue(_ args: [RESPArgument]) { out.append(args); pendingReplies += 1 }
    /// A pipeline in one go (one access to the output buffer, not one per command).
    public func enqueue(commands: [[RESPArgument]]) {
        out.append(commands: commands)
        pendingReplies += commands.count
    }

    /// Builds commands straight into the output buffer (no intermediate arrays). Every
    /// `beginCommand` counts as one expected reply.
    public func enqueue(_ build: (inout RESPEncoder) -> Void) {
        let before = out.commandCount
        build(&out)
        pendingReplies += out.commandCount - before
    }

    /// Already encoded commands (`commandCount` of them).
    public func enqueue(encoded: UnsafeRawBufferPointer, commandCount: Int) {
        out.enqueueRaw(encoded, commands: commandCount)
        pendingReplies += commandCount
    }

    /// Bytes enqueued but not yet written.
    public var unflushedByteCount: Int { out.buffer.count - written }

    /// Writes what the socket takes. `.done` once everything enqueued is written.
    public func flushStep() throws(RESPError) -> IONeed {
        if state == .broken { throw brokenError() }
        if state != .ready {
            let need = try connectStep()
            if need != .done { return need }
        }
        while written < out.buffer.count {
            let r: Int = out.buffer.withUnsafeBytes { raw -> Int in
                let p = raw.baseAddress! + written
                let n = raw.count - written
                if let t = tls {
                    switch t.write(p, n) {
                    case .bytes(let k): return k
                    case .need(let need): return need == .readable ? -2 : -1
                    case .eof: return -3
                    case .failed(let why): breakWith(RESPError(.io, "TLS write to \(endpoint) failed: \(why)")); return -4
                    }
                }
                let k = send(fd, p, n, Int32(MSG_NOSIGNAL))
                if k >= 0 { return k }
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return -1 }
                breakWith(e == EPIPE || e == ECONNRESET
                          ? RESPError(.closedByServer, "connection to \(endpoint) closed by the server while writing (\(RESPSocket.errnoText(e)))")
                          : RESPError(.io, "write to \(endpoint) failed: \(RESPSocket.errnoText(e))"))
                return -4
            }
            switch r {
            case -1: return .writable
            case -2: return .readable
            case -3: throw breakWith(RESPError(.closedByServer, "connection to \(endpoint) closed by the server while writing"))
            case -4: throw failure ?? brokenError()
            default: written += r
            }
        }
        out.removeAll()
        written = 0
        return .done
    }

    // MARK: reading

    /// Reads what is available into the parser. `.done`: bytes arrived (call `nextReply`);
    /// `.readable`: nothing yet, wait. End of stream is an error (`.closedByServer`).
    public func readStep() throws(RESPError) -> IONeed {
        if state == .broken { throw brokenError() }
        if state != .ready {
            let need = try connectStep()
            if need != .done { return need }
        }
        var need: IONeed = .done
        var eof = false
        var err: RESPError? = nil
        let n = parser.withWritableSpace(minimum: 16 << 10) { p, cap -> Int in
            if let t = tls {
                switch t.read(p, cap) {
                case .bytes(let k): return k
                case .need(let w): need = w; return 0
                case .eof: eof = true; return 0
                case .failed(let why): err = RESPError(.io, "TLS read from \(endpoint) failed: \(why)"); return 0
                }
            }
            let k = recv(fd, p, cap, 0)
            if k > 0 { return k }
            if k == 0 { eof = true; return 0 }
            let e = errno
            if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { need = .readable; return 0 }
            err = e == ECONNRESET
                ? RESPError(.closedByServer, "connection to \(endpoint) reset by the server (\(RESPSocket.errnoText(e)))")
                : RESPError(.io, "read from \(endpoint) failed: \(RESPSocket.errnoText(e))")
            return 0
        }
        if n > 0 { return .done }
        if let e = err { throw breakWith(e) }
        if eof {
            let mid = parser.isIdle ? "" : " in the middle of a reply"
            throw breakWith(RESPError(.closedByServer, "connection to \(endpoint) closed by the server\(mid)"
                + (pendingReplies > 0 ? " (\(pendingReplies) repl\(pendingReplies == 1 ? "y" : "ies") pending)" : "")))
        }
        return need
    }

    /// The next complete reply, if the bytes read so far hold one. A malformed reply breaks the
    /// connection and throws `.protocolError`.
    public func nextReply() throws(RESPError) -> RESPValue? {
        if state == .broken { throw brokenError() }
        do {
            guard let v = try parser.next() else { return nil }
            if case .push = v {} else if pendingReplies > 0 { pendingReplies -= 1 }
            return v
        } catch {
            throw breakWith(RESPError(error))
        }
    }

    /// True when the connection owes no reply yet the socket is readable: the server closed it
    /// (or wrote unasked) while it sat idle, so a command sent on it now would fail unsent
    /// though it could not be told apart from one that reached the server. One poll(2).
    public var closedWhileIdle: Bool {
        state == .ready && pendingReplies == 0 && !isTLS && RESPSocket.ready(fd, Int16(POLLIN))
    }

    /// Closes the socket (no QUIT is sent). Idempotent; the connection is broken afterwards.
    public func close() {
        breakWith(RESPError(.broken, "connection closed by the client"))
        tls = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}

extension RESPEncoder {
    mutating func enqueueRaw(_ bytes: UnsafeRawBufferPointer, commands: Int) {
        appendRaw(bytes, commands: commands)
    }
}
