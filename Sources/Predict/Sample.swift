/// One observation of the load on what the predictor watches. Every field but `t` may be
/// missing: a missing field keeps its last known value (see `LoadFactor`).
public struct Sample: Sendable, Equatable {
    /// Unix time in seconds; nil means "one sampling interval after the last sample".
    public var t: Double?
    /// Requests per second.
    public var requests: Double?
    /// Mean request latency over the interval, in milliseconds.
    public var latencyMs: Double?
    /// Failed requests per second.
    public var errors: Double?
    /// CPU use, 0...1.
    public var cpu: Double?
    /// Memory use, 0...1.
    public var memory: Double?

    public init(t: Double? = nil, requests: Double? = nil, latencyMs: Double? = nil, errors: Double? = nil,
                cpu: Double? = nil, memory: Double? = nil) {
        self.t = t
        self.requests = requests
        self.latencyMs = latencyMs
        self.errors = errors
        self.cpu = cpu
        self.memory = memory
    }

    /// The field names as scripts spell them.
    public static let fieldNames = ["t", "requests", "latency_ms", "errors", "cpu", "memory"]

    /// Refuses NaN, infinities, negative rates and fractions outside 0...1, naming the field; and
    /// a sample that carries no measurement at all.
    public func validate() throws(PredictError) {
        func check(_ v: Double?, _ name: String, max: Double = .infinity) throws(PredictError) {
            guard let v else { return }
            if v.isNaN { throw PredictError(.invalidSample, field: name, "sample field '\(name)' is NaN") }
            if v.isInfinite { throw PredictError(.invalidSample, field: name, "sample field '\(name)' is infinite") }
            if v < 0 || v > max {
                let range = max.isInfinite ? "0 or more" : "between 0 and \(max)"
                throw PredictError(.invalidSample, field: name, "sample field '\(name)' must be \(range), got \(v)")
            }
        }
        if let t {
            if t.isNaN { throw PredictError(.invalidSample, field: "t", "sample field 't' is NaN") }
            if t.isInfinite { throw PredictError(.invalidSample, field: "t", "sample field 't' is infinite") }
        }
        try check(requests, "requests")
        try check(latencyMs, "latency_ms")
        try check(errors, "errors")
        try check(cpu, "cpu", max: 1)
        try check(memory, "memory", max: 1)
        if requests == nil && latencyMs == nil && errors == nil && cpu == nil && memory == nil {
            throw PredictError(.invalidSample, field: nil,
                               "a sample needs at least one of requests, latency_ms, errors, cpu, memory")
        }
    }
}
