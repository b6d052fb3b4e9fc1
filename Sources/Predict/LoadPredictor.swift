import Glibc

/// Forecasts the load (`LoadFactor`, 0...1) some seconds ahead from samples taken at a regular
/// interval, with one ridge regression per configured horizon over `Features` (around the anchor
/// its validation split chose, `Anchor`), trained on the
/// history it keeps, and scored only on forecasts whose targets it never trained on.
///
/// Samples are put on a grid of `interval`-second slots counted from the first sample: samples
/// within one slot are averaged, a slot skipped is filled with the last load (and never scored),
/// and a gap longer than the history starts the history again. A value type: one owner mutates
/// it (the pool keeps it under its lock, the Lua module in its userdata).
public struct LoadPredictor: Sendable {
    public let config: PredictorConfig
    /// The configured horizons in steps, ascending.
    public let steps: [Int]

    var factor: LoadFactor
    var history: History
    /// The time of slot 0.
    var t0: Double?
    /// Samples averaged into the newest slot, and their sum.
    var openCount = 0
    var openSum = 0.0
    /// The EWMAs through the slot before the newest.
    var smoothing = Features.Smoothing()
    /// The seasonal lag inputs for these horizons at this interval.
    let lags: SeasonalLags
    /// The features of the newest slot, as it stands.
    var current: [Double]

    var models: [HorizonModel?]
    var live: [LiveScore]
    /// history.total and history.count at the last training (nil: never trained).
    var trainedAtTotal: Int?
    var trainedCount = 0
    public internal(set) var retrains = 0
    public internal(set) var lastTraining: TrainingReport?

    public init(_ config: PredictorConfig = PredictorConfig()) throws(PredictError) {
        try config.validate()
        self.config = config
        steps = config.stepCounts
        lags = SeasonalLags(interval: config.interval, steps: steps)
        current = [Double](repeating: 0, count: lags.count)
        factor = LoadFactor(capacity: config.capacity, latencyThresholdMs: config.latencyThresholdMs)
        history = History(capacity: config.history)
        models = Array(repeating: nil, count: steps.count)
        live = steps.map { LiveScore(steps: $0, window: config.accuracyWindow) }
    }

    /// Slots on the grid, including the one still open.
    public var sampleCount: Int { history.count }
    /// Whether a model exists for at least one horizon.
    public var isTrained: Bool { models.contains { $0 != nil } }
    /// The newest slot's load.
    public var currentLoad: Double? { history.total > 0 ? history.loadAt(history.total - 1) : nil }

    func time(ofSlot i: Int) -> Double { (t0 ?? 0) + Double(i) * config.interval }

    /// Takes one sample in. Throws on a NaN, infinite or out-of-range field (naming it) and on
    /// a time before the newest slot; then nothing changes. Returns the training it caused, if a
    /// trigger fired and `autoTrain` is on.
    @discardableResult
    public mutating func observe(_ sample: Sample) throws(PredictError) -> TrainingReport? {
        try sample.validate()
        let t: Double
        if let st = sample.t { t = st } else if history.total > 0 { t = time(ofSlot: history.total - 1) + config.interval } else { t = Self.now() }
        let start = t0 ?? t
        let slot = Int(((t - start) / config.interval).rounded())
        let newest = history.total - 1
        if history.total > 0 && slot < newest {
            throw PredictError(.invalidSample, field: "t",
                               "sample field 't' (\(t)) is before the newest sample's slot (t = \(time(ofSlot: newest)))")
        }
        var f = factor
        let load = f.update(sample)
        factor = f
        let memory = Float(f.memory ?? 0), latency = Float((f.latencyMs ?? 0) / config.latencyThresholdMs)
        let errors = Float(f.errors ?? 0)

        if history.total > 0 && slot == newest {
            openCount += 1
            openSum += load
            history.replaceNewest(load: openSum / Double(openCount), memory: memory, latency: latency, errors: errors)
            refreshCurrent()
            return nil
        }
        var target = slot
        if history.total == 0 {
            t0 = t
            target = 0
        } else {
            closeNewest()
            let gap = slot - newest - 1
            if gap >= history.capacity {
                // longer than the history: start again from this sample
                restartHistory(at: t)
                target = 0
            } else {
                let last = history.loadAt(newest)
                let s = history.slot(newest)
                for _ in 0..<gap {
                    history.append(load: last, memory: history.memory[s], latency: history.latency[s], errors: history.errors[s], filled: true)
                    refreshCurrent()
                    closeNewest()
                }
            }
        }
        precondition(history.total == target)
        history.append(load: load, memory: memory, latency: latency, errors: errors, filled: false)
        openCount = 1
        openSum = load
        refreshCurrent()
        guard config.autoTrain, let reason = trainingDue() else { return nil }
        return train(reason: reason)
    }

    mutating func restartHistory(at t: Double) {
        history = History(capacity: config.history)
        t0 = t
        smoothing = Features.Smoothing()
        live = steps.map { LiveScore(steps: $0, window: config.accuracyWindow) }
        trainedAtTotal = trainedAtTotal.map { _ in 0 }
        trainedCount = 0
    }

    /// Recomputes the newest slot's features.
    mutating func refreshCurrent() {
        let i = history.total - 1
        let s = smoothing.adding(history.loadAt(i))
        let time = time(ofSlot: i)
        let h = history, lags = lags
        current.withUnsafeMutableBufferPointer { Features.write(h, i, s, lags, time: time, into: $0.baseAddress!) }
    }

    /// The newest slot is final: score the forecasts that targeted it, forecast from it, and
    /// take its load into the EWMAs.
    mutating func closeNewest() {
        let i = history.total - 1
        let y = history.loadAt(i)
        let measured = !history.isFilled(i)
        for k in steps.indices {
            guard let model = models[k] else { continue }
            let x = current
            let delta = x.withUnsafeBufferPointer { model.fit.predict($0.baseAddress!) }
            live[k].close(slot: i, load: y, measured: measured, forecast: Self.clamp(y + delta))
        }
        smoothing = smoothing.adding(y)
    }

    // MARK: forecasts

    /// The forecast `horizon` seconds after the newest sample. Throws for a horizon that is not
    /// a positive number of seconds, or is beyond the longest configured one.
    public func predict(horizon: Double) throws(PredictError) -> Forecast {
        guard horizon.isFinite, horizon > 0 else {
            throw PredictError(.invalidHorizon, field: "horizon", "horizon must be a positive number of seconds, got \(horizon)")
        }
        let n = PredictorConfig.steps(horizon, config.interval)
        guard n <= steps[steps.count - 1] else {
            throw PredictError(.invalidHorizon, field: "horizon",
                               "horizon \(horizon) s is beyond the longest configured (\(Double(steps[steps.count - 1]) * config.interval) s); add it to the horizons option")
        }
        guard history.total > 0 else {
            return Forecast(load: 0.5, confidence: 0, trend: .unknown, horizon: horizon, steps: n,
                            recommendation: .insufficientData, featureImportance: [], trained: false)
        }
        var lower = -1, upper = -1
        for k in steps.indices where models[k] != nil {
            if steps[k] <= n { lower = k }
            if steps[k] >= n { upper = k; break }
        }
        guard upper >= 0, let up = models[upper] else { return bootstrap(horizon, n) }
        let y = history.loadAt(history.total - 1)
        let delta: Double = current.withUnsafeBufferPointer { x in
            let du = up.fit.predict(x.baseAddress!)
            if steps[upper] == n { return du }
            var sl = 0.0, dl = 0.0
            if lower >= 0, let low = models[lower] { sl = Double(steps[lower]); dl = low.fit.predict(x.baseAddress!) }
            return dl + (du - dl) * (Double(n) - sl) / (Double(steps[upper]) - sl)
        }
        let load = Self.clamp(y + delta)
        let mae = live[upper].window.count >= LiveScore.minimumForLive ? live[upper].window.summary.mae : up.holdout.mae
        let confidence = Self.clamp(1 - 2 * (mae ?? 0.5))
        let change = load - y
        let trend: Trend = change > Forecast.trendThreshold ? .increasing : change < -Forecast.trendThreshold ? .decreasing : .stable
        return Forecast(load: load, confidence: confidence, trend: trend, horizon: horizon, steps: n,
                        recommendation: Forecast.recommend(load: load, confidence: confidence, trend: trend),
                        featureImportance: up.importance, trained: true)
    }

    /// The original's answer without a model: the mean load of the last 5 slots.
    func bootstrap(_ horizon: Double, _ n: Int) -> Forecast {
        let last = max(history.oldest, history.total - 5)
        var sum = 0.0
        for i in last..<history.total { sum += history.loadAt(i) }
        return Forecast(load: sum / Double(history.total - last), confidence: 0, trend: .unknown, horizon: horizon,
                        steps: n, recommendation: .insufficientData, featureImportance: [], trained: false)
    }

    // MARK: accuracy

    /// Per configured horizon: the live accuracy of the current model's forecasts once
    /// `LiveScore.minimumForLive` of them have been scored, else the holdout accuracy measured
    /// at training. Never errors on data the model was fitted on.
    public func accuracy() -> [Accuracy] {
        steps.indices.map { k in
            let seconds = Double(steps[k]) * config.interval
            guard let m = models[k] else {
                return Accuracy(horizonSeconds: seconds, steps: steps[k], trained: false, source: .none, errors: ErrorSummary())
            }
            if live[k].window.count >= LiveScore.minimumForLive {
                return Accuracy(horizonSeconds: seconds, steps: steps[k], trained: true, source: .live, errors: live[k].window.summary,
                                model: m.fit.summary)
            }
            return Accuracy(horizonSeconds: seconds, steps: steps[k], trained: true,
                            source: m.holdout.count > 0 ? .holdout : .none, errors: m.holdout, model: m.fit.summary)
        }
    }

    static func clamp(_ v: Double) -> Double { v.isNaN ? 0 : min(1, max(0, v)) }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The fitted model of one horizon. A class, immutable once trained: a forecast takes it out of
/// the predictor's array as one reference (a struct of three arrays cost a forecast hundreds of
/// instructions of copies and value-witness calls).
final class HorizonModel: Sendable, Equatable {
    let fit: LinearFit
    /// Errors at training, of a model fitted without the holdout, on the holdout.
    let holdout: ErrorSummary
    let importance: [FeatureImportance]

    init(fit: LinearFit, holdout: ErrorSummary, importance: [FeatureImportance]) {
        self.fit = fit; self.holdout = holdout; self.importance = importance
    }

    static func == (a: HorizonModel, b: HorizonModel) -> Bool {
        a.fit == b.fit && a.holdout == b.holdout && a.importance == b.importance
    }
}

/// The live scoring of one horizon: the forecasts made from the last `steps + 1` slots, waiting
/// for their targets, and the window of those already scored.
struct LiveScore: Sendable, Equatable {
    static let minimumForLive = 30
    let steps: Int
    var forecasts: [Double]
    var origins: [Double]
    var window: ErrorWindow
    /// The first slot whose forecast the current model made.
    var from = Int.max

    init(steps: Int, window: Int) {
        self.steps = steps
        forecasts = [Double](repeating: 0, count: steps + 1)
        origins = [Double](repeating: 0, count: steps + 1)
        self.window = ErrorWindow(capacity: window)
    }

    /// Scores the forecast that targeted `slot` (when the slot was measured, not filled in), and
    /// records the one made from it.
    mutating func close(slot: Int, load: Double, measured: Bool, forecast: Double) {
        if from == .max { from = slot }
        let origin = slot - steps
        if measured && origin >= from {
            let r = origin % (steps + 1)
            window.add(predicted: forecasts[r], naive: origins[r], actual: load)
        }
        let w = slot % (steps + 1)
        forecasts[w] = forecast
        origins[w] = load
    }
}
