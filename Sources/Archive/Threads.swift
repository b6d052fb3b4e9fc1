import Glibc

/// The few threading pieces the compressors need (no Foundation, no Dispatch on the run path):
/// a mutex with one condition variable, and detached-joinable pthreads running a closure.
final class Monitor: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Waits (the mutex held by `locked`) until signalled.
    func wait() { pthread_cond_wait(&cond, &mutex) }
    func broadcast() { pthread_cond_broadcast(&cond) }
}

private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a thread running `body`; join it with `joinThread` (log scanning and the agent use them too).
public func startThread(_ body: @escaping () -> Void) -> pthread_t? {
    var t = pthread_t()
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    let rc = pthread_create(&t, nil, { p in
        let b = Unmanaged<ThreadBody>.fromOpaque(p!).takeRetainedValue()
        b.run()
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        return nil
    }
    return t
}

public func joinThread(_ t: pthread_t) { pthread_join(t, nil) }

/// How many threads compression may use: the CPUs this process may run on.
public func availableCores() -> Int {
    let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    return max(1, Int(n))
}
