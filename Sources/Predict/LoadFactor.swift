/// The load the predictor forecasts, in 0...1: the original's load factor (a weighted mean of
/// four pressures plus an error penalty), with two deliberate changes.
///
/// The original: load = min(1, 0.3·min(requests/50, 1) + 0.2·memory + 0.2·cpu
/// + 0.3·min(latency_ms/500, 1) + min(0.1·errors, 0.5)), where requests were in-flight requests
/// and errors a counter that was reset every few samples.
///
/// Here:
/// - `requests` is a rate (per second) and `capacity` the rate that counts as full (default 50,
///   the original's divisor); `errors` is a rate too, so the penalty no longer depends on when a
///   counter was last reset.
/// - A field that a sample leaves out keeps its last known value; a field never seen at all is
///   left out of the weighted mean, whose weights are renormalised over the fields known. So a
///   caller that measures only the request rate gets load = min(requests/capacity, 1), not a
///   load capped at 0.3 by three pressures it never reported.
public struct LoadFactor: Sendable, Equatable {
    public static let requestWeight = 0.3, memoryWeight = 0.2, cpuWeight = 0.2, latencyWeight = 0.3
    /// The original's penalty: 0.1 per error per second, at most 0.5.
    public static let errorPenaltyPerError = 0.1, maxErrorPenalty = 0.5

    public let capacity: Double
    public let latencyThresholdMs: Double
    /// The last known value of each field (nil: never seen).
    public private(set) var requests: Double?
    public private(set) var latencyMs: Double?
    public private(set) var errors: Double?
    public private(set) var cpu: Double?
    public private(set) var memory: Double?

    public init(capacity: Double, latencyThresholdMs: Double) {
        self.capacity = capacity
        self.latencyThresholdMs = latencyThresholdMs
    }

    /// Takes the sample's fields in (missing ones keep their last value) and returns the load.
    public mutating func update(_ s: Sample) -> Double {
        if let v = s.requests { requests = v }
        if let v = s.latencyMs { latencyMs = v }
        if let v = s.errors { errors = v }
        if let v = s.cpu { cpu = v }
        if let v = s.memory { memory = v }
        return load
    }

    /// The load from the last known values (0 when nothing is known yet).
    public var load: Double {
        var sum = 0.0, weights = 0.0
        if let r = requests { sum += Self.requestWeight * min(r / capacity, 1); weights += Self.requestWeight }
        if let m = memory { sum += Self.memoryWeight * m; weights += Self.memoryWeight }
        if let c = cpu { sum += Self.cpuWeight * c; weights += Self.cpuWeight }
        if let l = latencyMs { sum += Self.latencyWeight * min(l / latencyThresholdMs, 1); weights += Self.latencyWeight }
        let base = weights > 0 ? sum / weights : 0
        let penalty = errors.map { min(Self.errorPenaltyPerError * $0, Self.maxErrorPenalty) } ?? 0
        return min(1, base + penalty)
    }
}
