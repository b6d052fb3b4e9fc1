import EventLoop
import Glibc

/// A one-shot hand-over between threads: one side `put`s a value, the other `take`s it,
/// waiting at most until a deadline (pthread condition on CLOCK_MONOTONIC).
final class HandOver<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var value: Value?

    init() {
        pthread_mutex_init(&mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(&cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    func put(_ v: Value) {
        pthread_mutex_lock(&mutex)
        value = v
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// The value, or nil when the deadline passed first (nil deadline: wait for ever).
    func take(until deadline: Deadline?) -> Value? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while value == nil {
            guard let d = deadline else { pthread_cond_wait(&cond, &mutex); continue }
            if Deadline.now() >= d { return nil }
            var ts = timespec(tv_sec: Int(d.nanoseconds / 1_000_000_000), tv_nsec: Int(d.nanoseconds % 1_000_000_000))
            _ = pthread_cond_timedwait(&cond, &mutex, &ts)
        }
        return value
    }
}

extension Pool {
    /// Blocks the calling thread until a connection is free, made or validated, or the
    /// timeout (default: the pool's `acquireTimeout`) passes. Uses the connector's `create`
    /// and `validate`; an idle connection that fails validation is closed and the next tried.
    /// Not for the event loop's thread (use `checkout`).
    public func acquire(timeout: Double? = nil, choosing choose: (([Int]) -> Int?)? = nil) throws(PoolError) -> Lease {
        if choose == nil, let lease = checkoutCached() {
            if !lease.needsValidation || connector.validate?(lease.connection) != false { return lease }
            discard(lease)
        }
        let seconds = timeout ?? options.acquireTimeout
        let deadline = Deadline.after(seconds: seconds)
        while true {
            let box = HandOver<Checkout>()
            var outcome = checkout(choosing: choose) { box.put($0) }
            if case .waiting(let ticket) = outcome {
                if let got = box.take(until: deadline) {
                    outcome = got
                } else if cancel(ticket) {
                    throw PoolError(.timeout, "no connection of pool \(name) became free within \(seconds)s")
                } else {
                    outcome = box.take(until: nil)!    // served as the deadline came: take it
                }
            }
            switch outcome {
            case .ready(let lease):
                if lease.needsValidation, let validate = connector.validate, !validate(lease.connection) {
                    discard(lease)
                    continue
                }
                return lease
            case .create(let permit):
                guard let create = connector.create else {
                    abandon(permit)
                    throw PoolError(.connect, "pool \(name) has no connector to make connections with")
                }
                do {
                    return fill(permit, with: try create(deadline))
                } catch {
                    abandon(permit)
                    throw PoolError(.connect, "pool \(name) could not connect: \(error)")
                }
            case .failed(let e):
                throw e
            case .waiting:
                continue
            }
        }
    }

    /// Runs `body` with a connection and returns it (discarded when `body` throws `broken`).
    public func withConnection<T>(timeout: Double? = nil, _ body: (Connection) throws -> T) throws -> T {
        let lease = try acquire(timeout: timeout)
        do {
            let r = try body(lease.connection)
            release(lease)
            return r
        } catch {
            discard(lease)
            throw error
        }
    }
}
