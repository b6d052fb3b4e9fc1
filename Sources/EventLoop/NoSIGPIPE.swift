import Glibc

/// Runs `body` (which may write to a socket the peer closed) without a SIGPIPE reaching the
/// process: the signal is blocked on this thread and a pending one is consumed.
public func withoutSIGPIPE<T>(_ body: () -> T) -> T {
    var block = sigset_t(), old = sigset_t(), pending = sigset_t()
    sigemptyset(&block); sigaddset(&block, SIGPIPE)
    sigpending(&pending)
    let wasPending = sigismember(&pending, SIGPIPE) == 1
    pthread_sigmask(SIG_BLOCK, &block, &old)
    let savedErrno = errno
    let r = body()
    let bodyErrno = errno
    if !wasPending {
        sigpending(&pending)
        if sigismember(&pending, SIGPIPE) == 1 {
            var ts = timespec(tv_sec: 0, tv_nsec: 0)
            _ = sigtimedwait(&block, nil, &ts)
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nil)
    _ = savedErrno
    errno = bodyErrno
    return r
}
