/// What a predictor is set up with. Names in the errors are the ones scripts use
/// (`opsh.predict.new{...}`).
public struct PredictorConfig: Sendable, Equatable {
    /// Seconds between slots of the grid the samples are put on (the pool samples every 5 s).
    public var interval: Double = 5
    /// The horizons, in seconds, a model is trained for; a forecast between two of them
    /// interpolates, and none is made beyond the longest.
    public var horizons: [Double] = [5, 25, 60, 300, 900, 3600]
    /// Slots kept for training (8 days at 5 s: a week of seasonality and a day more).
    public var history: Int = 138_240
    /// Requests per second that count as full load (the original divided by 50).
    public var capacity: Double = 50
    /// The latency that counts as full load (the original's response_time_threshold_ms).
    public var latencyThresholdMs: Double = 500
    /// Retrain after this many new slots (the guide's 5,000).
    public var retrainEvery: Int = 5000
    /// The last this-many scored forecasts per horizon make the live accuracy, and MASE above 1
    /// over a full window retrains.
    public var accuracyWindow: Int = 720
    /// Slots before the first model.
    public var minSamples: Int = 60
    /// Train inside `observe` when a trigger fires; off, the caller calls `train()`.
    public var autoTrain: Bool = true

    public init() {}

    /// The option names, as scripts spell them.
    public static let optionNames = ["interval", "horizons", "history", "capacity", "latency_threshold_ms",
                                     "retrain_every", "accuracy_window", "min_samples", "auto_train"]

    public func validate() throws(PredictError) {
        func bad(_ name: String, _ why: String) -> PredictError { PredictError(.invalidOption, field: name, "option '\(name)' \(why)") }
        guard interval.isFinite, interval > 0 else { throw bad("interval", "must be a positive number of seconds, got \(interval)") }
        guard !horizons.isEmpty else { throw bad("horizons", "must list at least one horizon in seconds") }
        for h in horizons where !(h.isFinite && h > 0) {
            throw bad("horizons", "must be positive numbers of seconds, got \(h)")
        }
        guard capacity.isFinite, capacity > 0 else { throw bad("capacity", "must be a positive rate, got \(capacity)") }
        guard latencyThresholdMs.isFinite, latencyThresholdMs > 0 else {
            throw bad("latency_threshold_ms", "must be positive, got \(latencyThresholdMs)")
        }
        guard minSamples >= 20 else { throw bad("min_samples", "must be at least 20, got \(minSamples)") }
        guard history >= minSamples, history <= 10_000_000 else {
            throw bad("history", "must be between min_samples (\(minSamples)) and 10000000 slots, got \(history)")
        }
        guard retrainEvery >= 1 else { throw bad("retrain_every", "must be at least 1, got \(retrainEvery)") }
        guard accuracyWindow >= 1 else { throw bad("accuracy_window", "must be at least 1, got \(accuracyWindow)") }
        if let longest = stepCounts.last, longest >= history {
            throw bad("horizons", "reach \(longest) slots ahead, more than the history keeps (\(history))")
        }
    }

    /// Each configured horizon in grid steps (horizon ÷ interval, rounded, at least 1), sorted,
    /// without repeats.
    public var stepCounts: [Int] {
        Array(Set(horizons.map { Self.steps($0, interval) })).sorted()
    }

    static func steps(_ horizon: Double, _ interval: Double) -> Int {
        max(1, Int((horizon / interval).rounded()))
    }
}
