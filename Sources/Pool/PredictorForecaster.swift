import Predict
import Synchronization

/// The load predictor (Sources/Predict) as a pool's forecaster: the pool's samples go in (the
/// same load factor as the sizer's: `SizingRules.loadFactor`), forecasts at the sizing horizon
/// come out once a model is trained. Its grid is the sampling interval, its horizons the
/// sizing horizon and 15 minutes (steps = horizon / interval: 5 and 180 at 5 s).
public final class PredictorForecaster: LoadForecaster, @unchecked Sendable {
    let predictor: Mutex<LoadPredictor>
    let rules: SizingRules
    /// Why the last sample was refused, if it was (a sample out of order is dropped).
    public private(set) var lastRefusal: String?

    public static let longHorizon = 900.0

    public init(rules: SizingRules) throws(PoolError) {
        var c = PredictorConfig()
        c.interval = rules.sampleInterval
        c.horizons = Array(Set([rules.horizon > 0 ? rules.horizon : rules.sampleInterval, Self.longHorizon])).sorted()
        c.capacity = rules.requestScale
        c.latencyThresholdMs = rules.responseScaleMs
        // two days at 5 s: the daily pattern twice over, bounded memory per pool
        c.history = max(c.minSamples, Int(2 * 86400 / rules.sampleInterval))
        do throws(PredictError) { predictor = Mutex(try LoadPredictor(c)) } catch { throw .badOption(error.field ?? "sizing", error.message) }
        self.rules = rules
    }

    public func observe(_ sample: LoadSample, loadFactor: Double) {
        let s = rules.predictSample(sample)
        predictor.withLock { p in
            do throws(PredictError) { _ = try p.observe(s) } catch { lastRefusal = error.message }
        }
    }

    public func forecast(horizon: Double) -> LoadForecast? {
        predictor.withLock { p in
            guard p.isTrained, let f = try? p.predict(horizon: horizon), f.trained else { return nil }
            return LoadForecast(load: f.load, confidence: f.confidence, horizon: horizon)
        }
    }

    /// The predictor as it stands (a value: reading it does not hold the lock).
    public var snapshot: LoadPredictor { predictor.withLock { $0 } }

    /// Trains now, on everything kept (the guide's retraining "on demand").
    @discardableResult
    public func train() -> TrainingReport { predictor.withLock { $0.train() } }

    /// The forecast at `horizon` with the whole contract (trend, recommendation, ...).
    public func predict(horizon: Double) throws(PredictError) -> Forecast {
        let p = snapshot
        return try p.predict(horizon: horizon)
    }

    /// Saves the predictor (model and history) atomically.
    public func save(to path: String) throws(PredictError) { try snapshot.save(to: path) }

    /// Replaces the predictor with one saved earlier, when it was made for the same sampling
    /// interval and horizons (another predictor's file is refused, naming the difference).
    public func load(from path: String) throws(PredictError) {
        let saved = try LoadPredictor.load(from: path)
        let mine = snapshot.config
        guard saved.config.interval == mine.interval, saved.steps == snapshot.steps else {
            throw PredictError(.invalidOption, field: "interval",
                               "\(path) holds a predictor for a \(saved.config.interval) s interval and steps \(saved.steps), not \(mine.interval) s and \(snapshot.steps)")
        }
        predictor.withLock { $0 = saved }
    }
}
