import EventLoop

/// When a request is tried again: an idempotent one (not a streamed upload, whose file is not
/// read twice) after a connection failure, a timeout or a 502/503/504, at most `retries` times,
/// with backoff doubling from 0.2 s, and never past `deadline`: the request's timeout bounds
/// the whole call, every try and every wait between them included.
public struct HTTPRetryPolicy: Sendable {
    public var retries: Int
    public var deadline: Deadline

    /// A call made now that must end within `timeout` seconds.
    public init(retries: Int, timeout: Double) {
        self.retries = retries
        self.deadline = .after(seconds: timeout)
    }

    /// The timeout for a try started now: what is left of the call's.
    public var timeLeft: Double {
        // at least a millisecond: libcurl takes a timeout of 0 as none at all
        max(deadline.secondsFromNow, 0.001)
    }

    /// The seconds to wait before try `n + 1` of `request`, after try `n` ended with `result`;
    /// nil when there is none: not worth trying again, retries used up, or no time left after
    /// the wait.
    public func backoff(after n: Int, _ result: Result<HTTPResponse, HTTPError>, of request: HTTPRequest) -> Double? {
        let retryable: Bool
        switch result {
        case .failure(let e): retryable = e.kind == .connect || e.kind == .timeout
        case .success(let r): retryable = [502, 503, 504].contains(r.status)
        }
        guard retryable, request.isIdempotent, request.bodyFile == nil, n <= retries else { return nil }
        let wait = 0.2 * Double(1 << min(n - 1, 20))
        return wait < deadline.secondsFromNow ? wait : nil
    }
}
