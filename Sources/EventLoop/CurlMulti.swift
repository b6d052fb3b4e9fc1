import CDyn
import Glibc

/// libcurl's multi interface driven by an `EventLoop` (CURLMOPT_SOCKETFUNCTION /
/// CURLMOPT_TIMERFUNCTION and curl_multi_socket_action). libcurl is opened through CDyn on
/// first use.
///
/// Transfers run while the loop runs (`EventLoop.runOnce`); each easy handle's completion is
/// called once, from a loop handler, with its CURLcode, after the handle was removed from the
/// multi handle (the caller owns the easy handle and cleans it up). The loop holds watches and
/// a timer for this multi only while transfers are active.
///
/// Not thread-safe: use it on the loop's thread.
public final class CurlMulti {
    public let loop: EventLoop
    private let api: UnsafePointer<opsh_curl_api>
    private let multi: OpaquePointer
    private var completions: [OpaquePointer: (Int32) -> Void] = [:]
    private var sockets: [curl_socket_t: WaitToken] = [:]
    private var timerToken: WaitToken?
    private var timerGeneration: UInt64 = 0

    /// Throws `.libraryUnavailable` (with CDyn's message: which library or symbol, and
    /// dlerror's text) when libcurl cannot be opened.
    public init(loop: EventLoop) throws(EventLoopError) {
        guard let api = opsh_curl() else {
            throw .libraryUnavailable(String(cString: opsh_dyn_error()))
        }
        guard let m = api.pointee.multi_init() else {
            throw .curl("curl_multi_init failed")
        }
        self.loop = loop
        self.api = api
        self.multi = m
        let me = Unmanaged.passUnretained(self).toOpaque()
        var rc = opsh_curl_multi_set_socket_cb(m, { _, s, what, userp, _ in
            guard let userp else { return -1 }
            Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().socketCallback(s, what)
            return 0
        }, me)
        if rc == CURLM_OK {
            rc = opsh_curl_multi_set_timer_cb(m, { _, timeoutMs, userp in
                guard let userp else { return -1 }
                Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().timerCallback(timeoutMs)
                return 0
            }, me)
        }
        if rc != CURLM_OK {
            let why = cString(api.pointee.multi_strerror(rc))
            _ = api.pointee.multi_cleanup(m)
            throw .curl("curl_multi_setopt: \(why)")
        }
    }

    deinit {
        // No callback into this object from here on: libcurl's first, then the loop's (the
        // loop handlers capture self weakly, and a weak load during deinit gives nil).
        _ = opsh_curl_multi_set_socket_cb(multi, nil, nil)
        _ = opsh_curl_multi_set_timer_cb(multi, nil, nil)
        for easy in completions.keys { _ = api.pointee.multi_remove_handle(multi, easy) }
        completions.removeAll()
        _ = api.pointee.multi_cleanup(multi)
        for t in sockets.values { loop.unwatch(t) }
        sockets.removeAll()
        if let t = timerToken { timerToken = nil; loop.cancel(t) }
    }

    /// Transfers added and not yet completed or removed.
    public var activeCount: Int { completions.count }

    /// Starts the transfer of `easy` (a CURL*). `completion` runs once with its CURLcode when
    /// it ends; it is not called if `add` throws or after `remove(easy:)`.
    public func add(easy: OpaquePointer, completion: @escaping (Int32) -> Void) throws(EventLoopError) {
        guard completions[easy] == nil else { throw .curl("curl_multi_add_handle: handle already added") }
        completions[easy] = completion
        let rc = api.pointee.multi_add_handle(multi, easy)
        if rc != CURLM_OK {
            completions[easy] = nil
            throw .curl("curl_multi_add_handle: \(cString(api.pointee.multi_strerror(rc)))")
        }
    }

    /// Stops the transfer of `easy` without calling its completion. Harmless if not added.
    public func remove(easy: OpaquePointer) {
        guard completions.removeValue(forKey: easy) != nil else { return }
        _ = api.pointee.multi_remove_handle(multi, easy)
        releaseIfIdle()
    }

    /// curl_easy_strerror's text for a CURLcode.
    public func describe(code: Int32) -> String {
        cString(api.pointee.easy_strerror(CURLcode(rawValue: UInt32(bitPattern: code))))
    }

    // MARK: callbacks from libcurl

    private func socketCallback(_ s: curl_socket_t, _ what: Int32) {
        if what == CURL_POLL_REMOVE {
            if let t = sockets.removeValue(forKey: s) { loop.unwatch(t) }
            return
        }
        var events: IOEvents = []
        if what & CURL_POLL_IN != 0 { events.insert(.readable) }
        if what & CURL_POLL_OUT != 0 { events.insert(.writable) }
        if let t = sockets[s] {
            loop.update(t, events: events)
        } else {
            sockets[s] = loop.watchPersistent(fd: s, events: events) { [weak self] ready in
                self?.socketReady(s, ready)
            }
        }
    }

    private func timerCallback(_ timeoutMs: Int) {
        if let t = timerToken { timerToken = nil; loop.cancel(t) }
        guard timeoutMs >= 0 else { return }
        // Never call socket_action from inside this callback: fire from the loop instead
        // (timeout 0 fires on the next runOnce).
        timerGeneration &+= 1
        let gen = timerGeneration
        timerToken = loop.timer(at: .after(seconds: Double(timeoutMs) / 1000)) { [weak self] outcome in
            guard outcome == .timedOut, let self, gen == self.timerGeneration else { return }
            self.timerToken = nil
            self.action(CURL_SOCKET_TIMEOUT, 0)
        }
    }

    // MARK: driving

    private func socketReady(_ s: curl_socket_t, _ ready: IOEvents) {
        var flags: Int32 = 0
        if ready.contains(.readable) { flags |= CURL_CSELECT_IN }
        if ready.contains(.writable) { flags |= CURL_CSELECT_OUT }
        if ready.contains(.error) || ready.contains(.hangup) { flags |= CURL_CSELECT_ERR }
        action(s, flags)
    }

    private func action(_ s: curl_socket_t, _ flags: Int32) {
        var running: Int32 = 0
        _ = api.pointee.multi_socket_action(multi, s, flags, &running)
        collectDone()
    }

    private func collectDone() {
        var done: [(OpaquePointer, Int32, (Int32) -> Void)] = []
        while true {
            var left: Int32 = 0
            guard let msg = api.pointee.multi_info_read(multi, &left) else { break }
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let code = Int32(bitPattern: opsh_curl_msg_result(msg).rawValue)
            _ = api.pointee.multi_remove_handle(multi, easy)
            if let c = completions.removeValue(forKey: easy) { done.append((easy, code, c)) }
        }
        releaseIfIdle()
        for (_, code, c) in done { c(code) }
    }

    /// With no transfer active, libcurl needs no timer; drop it so an idle multi does not
    /// keep the loop busy. (libcurl removes its sockets itself with CURL_POLL_REMOVE.)
    private func releaseIfIdle() {
        guard completions.isEmpty else { return }
        if let t = timerToken { timerToken = nil; loop.cancel(t) }
    }
}

private func cString(_ p: UnsafePointer<CChar>?) -> String {
    guard let p else { return "(no message)" }
    return String(cString: p)
}
