import Predict
import Synchronization

/// One load sample, as the sampling loop takes it every `sampleInterval` seconds.
public struct LoadSample: Sendable, Equatable {
    /// Seconds (Unix time for a predictor that learns daily and weekly patterns).
    public var t: Double
    /// Calls in flight (checked out + waiting).
    public var concurrent: Double
    /// Calls per second since the previous sample.
    public var requestsPerSecond: Double
    public var latencyMs: Double
    /// Connection errors since the previous sample.
    public var errors: Double
    /// 0...1 (nil: unknown, counted as 0 in the load factor).
    public var cpu: Double?
    public var memory: Double?

    public init(t: Double, concurrent: Double, requestsPerSecond: Double, latencyMs: Double, errors: Double,
                cpu: Double? = nil, memory: Double? = nil) {
        self.t = t; self.concurrent = concurrent; self.requestsPerSecond = requestsPerSecond
        self.latencyMs = latencyMs; self.errors = errors; self.cpu = cpu; self.memory = memory
    }
}

/// What a forecaster says about the load at a horizon.
public struct LoadForecast: Sendable, Equatable {
    /// The load factor expected, 0...1.
    public var load: Double
    public var confidence: Double
    public var horizon: Double
    public init(load: Double, confidence: Double, horizon: Double) {
        self.load = load; self.confidence = confidence; self.horizon = horizon
    }
}

/// The load predictor as the sizer sees it (Sources/Predict's model is wired in by the
/// module layer; the sizer needs no more than this).
public protocol LoadForecaster: AnyObject {
    /// Learns from one sample (its load factor included).
    func observe(_ sample: LoadSample, loadFactor: Double)
    /// The load expected `horizon` seconds after the last sample; nil while it cannot tell
    /// (untrained), and the sizer then uses the current load.
    func forecast(horizon: Double) -> LoadForecast?
}

/// The original's sizing rules, with its numbers as defaults.
public struct SizingRules: Sendable, Equatable {
    /// The floor of adaptive sizing (min_pool_size).
    public var minSize = 5
    /// The configured bound (max_pool_size).
    public var maxSize = 50
    /// The configured size (pool_size): the cap is min(maxSize, 2 × baseSize).
    public var baseSize = 20
    /// Growth overshoot: a rise from current to target grows by 1.5 × the difference.
    public var growthFactor = 1.5
    /// No change within this many seconds of the last one (the rate limit).
    public var rateLimit: Double = 300
    /// No change smaller than this many connections (hysteresis).
    public var hysteresis = 2
    /// Seconds between samples and the forecast's horizon (steps = horizon / interval).
    public var sampleInterval: Double = 5
    public var horizon: Double = 25
    /// In-flight calls that make the request term of the load factor 1 (the original's 50).
    public var requestScale = 50.0
    /// Response time that makes the response term 1 (the original's 500 ms).
    public var responseScaleMs = 500.0

    public init() {}

    public var cap: Int { min(maxSize, 2 * baseSize) }

    public func validate() throws(PoolError) {
        if minSize < 1 { throw .badOption("min", "must be 1 or more, got \(minSize)") }
        if maxSize < minSize { throw .badOption("min", "must not be above max (\(minSize) > \(maxSize))") }
        if baseSize < 1 { throw .badOption("size", "must be 1 or more, got \(baseSize)") }
        if !(growthFactor > 1 && growthFactor <= 3) { throw .badOption("growth_factor", "must be above 1 and at most 3, got \(growthFactor)") }
        try PoolOptions.seconds("rate_limit", rateLimit, zeroAllowed: true)
        if hysteresis < 0 { throw .badOption("hysteresis", "must be 0 or more, got \(hysteresis)") }
        try PoolOptions.seconds("sample_interval", sampleInterval, zeroAllowed: false)
        try PoolOptions.seconds("horizon", horizon, zeroAllowed: true)
        if !(requestScale > 0) { throw .badOption("request_scale", "must be above 0, got \(requestScale)") }
        if !(responseScaleMs > 0) { throw .badOption("response_scale_ms", "must be above 0, got \(responseScaleMs)") }
    }

    /// The load factor of a sample: Predict's `LoadFactor` (the original's weights, 0.3
    /// request + 0.2 memory + 0.2 cpu + 0.3 response plus 0.1 per error up to 0.5, capped at
    /// 1), with the in-flight calls as the request term over `requestScale` and the response
    /// time over `responseScaleMs`. One formula for the sizer and the predictor: a pressure the
    /// sample does not measure (cpu, memory) is left out of the weighted mean, not taken as 0.
    public func loadFactor(_ s: LoadSample) -> Double {
        var f = LoadFactor(capacity: requestScale, latencyThresholdMs: responseScaleMs)
        return f.update(predictSample(s))
    }

    /// A pool's sample as the predictor takes it (the in-flight calls as its request measure).
    public func predictSample(_ s: LoadSample) -> Sample {
        Sample(t: s.t, requests: s.concurrent, latencyMs: s.latencyMs, errors: s.errors, cpu: s.cpu, memory: s.memory)
    }

    /// The original's target size for `load` from `current`: minSize + (cap − minSize) × load;
    /// a rise overshoots by the growth factor (current 20, raw 30 gives 35), within
    /// [minSize, cap].
    public func target(load: Double, current: Int) -> Int {
        let c = cap
        var t = Int(Double(minSize) + Double(c - minSize) * min(max(load, 0), 1))
        if t > current { t = min(current + max(1, Int(Double(t - current) * growthFactor)), c) }
        return min(max(t, minSize), c)
    }
}

/// Adaptive sizing: every sample feeds the forecaster, asks it for the load at the horizon
/// and moves the pool toward the rules' target, within bounds, at most once per rate-limit
/// period and only by at least the hysteresis. Each decision is kept with its reason.
public final class AdaptiveSizer: @unchecked Sendable {
    public struct Decision: Sendable, Equatable {
        public var t: Double
        public var from: Int
        public var to: Int
        public var currentLoad: Double
        public var predictedLoad: Double?
        public var applied: Bool
        public var reason: String
    }

    struct State {
        var rules: SizingRules
        var lastChangeAt: Double?
        var decisions: [Decision] = []
        var changes = 0
        var lastLoad = 0.0
        var lastPredicted: Double?
    }

    let forecaster: LoadForecaster?
    let state: Mutex<State>

    public init(rules: SizingRules, forecaster: LoadForecaster?) throws(PoolError) {
        try rules.validate()
        self.forecaster = forecaster
        self.state = Mutex(State(rules: rules))
    }

    public var rules: SizingRules { state.withLock { $0.rules } }

    /// Takes one sample for a pool of `current` size; returns the decision (applied or not).
    /// The caller resizes the pool when `applied`.
    public func step(_ sample: LoadSample, current: Int) -> Decision {
        let rules = self.rules
        let load = rules.loadFactor(sample)
        forecaster?.observe(sample, loadFactor: load)
        let forecast = forecaster?.forecast(horizon: rules.horizon)
        let used = forecast?.load ?? load
        let target = rules.target(load: used, current: current)
        return state.withLock { s in
            s.lastLoad = load
            s.lastPredicted = forecast?.load
            let basis = forecast.map { "predicted load \(fmt($0.load)) at +\(Int(rules.horizon))s (confidence \(fmt($0.confidence)))" }
                ?? "current load \(fmt(load)) (no forecast yet)"
            var d = Decision(t: sample.t, from: current, to: target, currentLoad: load, predictedLoad: forecast?.load,
                             applied: false, reason: "")
            if let last = s.lastChangeAt, sample.t - last < rules.rateLimit {
                d.to = current
                d.reason = "\(basis): target \(target), held: last change \(Int(sample.t - last))s ago (rate limit \(Int(rules.rateLimit))s)"
            } else if abs(target - current) < max(rules.hysteresis, 1) {
                d.to = current
                d.reason = "\(basis): target \(target) within \(rules.hysteresis) of \(current) (hysteresis)"
            } else {
                d.applied = true
                d.reason = "\(basis): \(target > current ? "grow" : "shrink") \(current) -> \(target)"
                s.lastChangeAt = sample.t
                s.changes += 1
            }
            s.decisions.append(d)
            if s.decisions.count > 200 { s.decisions.removeFirst(s.decisions.count - 200) }
            return d
        }
    }

    public var decisions: [Decision] { state.withLock { $0.decisions } }
    public var changes: Int { state.withLock { $0.changes } }
    public var lastLoad: (current: Double, predicted: Double?) { state.withLock { ($0.lastLoad, $0.lastPredicted) } }
}

func fmt(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return String(r)
}
