import CDyn
import Glibc

extension EventLoop {
    /// Runs `work` on a thread of its own, for a call that has no non-blocking form (a library
    /// that reads a socket itself, a long file operation): the loop, its timers and the other
    /// waits go on meanwhile. `done` runs on the loop's thread, from `runOnce`, with `.ready`
    /// once `work` returned, or with `.cancelled` when the token is cancelled first. A cancelled
    /// `work` still runs to its end on its thread: it must own everything it touches.
    @discardableResult
    public func runOnThread(_ work: @escaping @Sendable () -> Void, _ done: @escaping (WaitOutcome) -> Void) -> WaitToken {
        let signal = CompletionSignal()
        guard signal.fd >= 0, WorkThread.start({ work(); signal.fire() }) else {
            // no eventfd or no thread: run it here rather than not at all
            work()
            return timer(at: .now()) { o in done(o == .cancelled ? .cancelled : .ready([])) }
        }
        return watch(fd: signal.fd, events: .readable, deadline: nil) { o in
            withExtendedLifetime(signal) { done(o) }
        }
    }
}

/// An eventfd the worker writes once; closed when both the worker and the loop's watch are done
/// with it (each holds a reference), so a cancelled watch never leaves the worker writing to a
/// number that was reused.
private final class CompletionSignal: @unchecked Sendable {
    let fd = opsh_eventfd()
    func fire() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }
    deinit { if fd >= 0 { close(fd) } }
}

/// A detached thread running one closure.
private enum WorkThread {
    final class Body: @unchecked Sendable {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        var t = pthread_t()
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&t, nil, { p in
            Unmanaged<Body>.fromOpaque(p!).takeRetainedValue().run()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Body>.fromOpaque(box).release()
            return false
        }
        pthread_detach(t)
        return true
    }
}
