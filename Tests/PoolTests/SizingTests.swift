import Foundation
@testable import Pool
import XCTest

/// A forecaster that says what the test tells it to.
final class ScriptedForecaster: LoadForecaster {
    var next: LoadForecast?
    var observed: [Double] = []
    var horizons: [Double] = []
    func observe(_ sample: LoadSample, loadFactor: Double) { observed.append(loadFactor) }
    func forecast(horizon: Double) -> LoadForecast? { horizons.append(horizon); return next }
}

final class SizingTests: XCTestCase {
    func sample(t: Double = 0, concurrent: Double = 0, ms: Double = 0, errors: Double = 0, cpu: Double? = nil, memory: Double? = nil) -> LoadSample {
        LoadSample(t: t, concurrent: concurrent, requestsPerSecond: 0, latencyMs: ms, errors: errors, cpu: cpu, memory: memory)
    }

    func testLoadFactorIsTheOriginalsFormula() {
        let r = SizingRules()
        XCTAssertEqual(r.loadFactor(sample()), 0)
        // cpu and memory unmeasured: the mean is over request and response (weights 0.3 + 0.3)
        XCTAssertEqual(r.loadFactor(sample(concurrent: 25)), 0.25, accuracy: 1e-12)
        XCTAssertEqual(r.loadFactor(sample(concurrent: 500)), 0.5, accuracy: 1e-12, "request term capped at 1")
        XCTAssertEqual(r.loadFactor(sample(ms: 250)), 0.25, accuracy: 1e-12)
        XCTAssertEqual(r.loadFactor(sample(concurrent: 25, cpu: 0, memory: 0)), 0.15, accuracy: 1e-12, "all four measured: the original's weights")
        XCTAssertEqual(r.loadFactor(sample(cpu: 0.5, memory: 0.5)), 0.2, accuracy: 1e-12)
        XCTAssertEqual(r.loadFactor(sample(errors: 2)), 0.2, accuracy: 1e-12)
        XCTAssertEqual(r.loadFactor(sample(errors: 9)), 0.5, accuracy: 1e-12, "error penalty capped at 0.5")
        XCTAssertEqual(r.loadFactor(sample(concurrent: 50, ms: 500, errors: 5, cpu: 1, memory: 1)), 1, "capped at 1")
    }

    func testTargetRules() {
        let r = SizingRules()   // min 5, max 50, base 20: cap 40
        XCTAssertEqual(r.cap, 40)
        XCTAssertEqual(r.target(load: 0, current: 20), 5)
        XCTAssertEqual(r.target(load: 1, current: 40), 40)
        // raw 5 + 35 * 0.72 = 30.2 -> 30; from 20 it overshoots by 1.5: 20 + 15 = 35
        XCTAssertEqual(r.target(load: 0.72, current: 20), 35)
        XCTAssertEqual(r.target(load: 0.72, current: 30), 30)
        XCTAssertEqual(r.target(load: 1, current: 30), 40, "overshoot stops at the cap")
        XCTAssertEqual(r.target(load: 0.03, current: 5), 6, "a rise of one grows by at least one")
        XCTAssertEqual(r.target(load: 0.03, current: 4), 7, "raw 6 from 4: 4 + 2 * 1.5")
        XCTAssertEqual(r.target(load: 2, current: 1), 40)
        XCTAssertEqual(r.target(load: -1, current: 10), 5)
        var small = SizingRules()
        small.maxSize = 8; small.baseSize = 10
        XCTAssertEqual(small.cap, 8)
        XCTAssertEqual(small.target(load: 1, current: 5), 8)
    }

    func testBadRulesNameTheOption() {
        var r = SizingRules(); r.minSize = 0
        XCTAssertThrowsError(try r.validate()) { XCTAssertEqual(($0 as? PoolError)?.option, "min") }
        r = SizingRules(); r.minSize = 60
        XCTAssertThrowsError(try r.validate()) { XCTAssertEqual(($0 as? PoolError)?.option, "min") }
        r = SizingRules(); r.growthFactor = 1
        XCTAssertThrowsError(try r.validate()) { XCTAssertEqual(($0 as? PoolError)?.option, "growth_factor") }
        r = SizingRules(); r.sampleInterval = 0
        XCTAssertThrowsError(try r.validate()) { XCTAssertEqual(($0 as? PoolError)?.option, "sample_interval") }
    }

    func testForecastDrivesTheDecisionAtTheHorizon() throws {
        let f = ScriptedForecaster()
        let s = try AdaptiveSizer(rules: SizingRules(), forecaster: f)
        f.next = LoadForecast(load: 1, confidence: 0.9, horizon: 25)
        let d = s.step(sample(t: 0), current: 20)
        XCTAssertTrue(d.applied)
        XCTAssertEqual(d.to, 40)
        XCTAssertEqual(d.predictedLoad, 1)
        XCTAssertEqual(d.currentLoad, 0)
        XCTAssertTrue(d.reason.contains("predicted load 1.0 at +25s"), d.reason)
        XCTAssertEqual(f.horizons, [25])
        XCTAssertEqual(f.observed, [0])
    }

    func testWithoutForecastTheCurrentLoadIsUsed() throws {
        let s = try AdaptiveSizer(rules: SizingRules(), forecaster: ScriptedForecaster())
        let d = s.step(sample(t: 0, concurrent: 25, ms: 100, cpu: 0, memory: 0), current: 20)   // load 0.21: raw 12
        XCTAssertEqual(d.to, 12)
        XCTAssertTrue(d.reason.contains("current load 0.21 (no forecast yet)"), d.reason)
    }

    func testRateLimitHoldsChangesFor300Seconds() throws {
        let f = ScriptedForecaster()
        let s = try AdaptiveSizer(rules: SizingRules(), forecaster: f)
        f.next = LoadForecast(load: 1, confidence: 0.9, horizon: 25)
        XCTAssertTrue(s.step(sample(t: 0), current: 20).applied)
        f.next = LoadForecast(load: 0, confidence: 0.9, horizon: 25)
        let held = s.step(sample(t: 299), current: 40)
        XCTAssertFalse(held.applied)
        XCTAssertEqual(held.to, 40)
        XCTAssertTrue(held.reason.contains("rate limit"), held.reason)
        let d = s.step(sample(t: 300), current: 40)
        XCTAssertTrue(d.applied)
        XCTAssertEqual(d.to, 5)
        XCTAssertEqual(s.changes, 2)
        XCTAssertEqual(s.decisions.count, 3)
    }

    func testHysteresisIgnoresChangesBelowTwo() throws {
        let f = ScriptedForecaster()
        let s = try AdaptiveSizer(rules: SizingRules(), forecaster: f)
        // raw 5 + 35 * 0.43 = 20.05 -> 20: no change; 0.46 -> 21.1 -> 21, +1 * 1.5 = 21: within 2
        f.next = LoadForecast(load: 0.46, confidence: 0.9, horizon: 25)
        let d = s.step(sample(t: 0), current: 20)
        XCTAssertFalse(d.applied)
        XCTAssertTrue(d.reason.contains("hysteresis"), d.reason)
        f.next = LoadForecast(load: 0.49, confidence: 0.9, horizon: 25)  // raw 22: 20 + 3 = 23
        XCTAssertTrue(s.step(sample(t: 1), current: 20).applied)
    }

    func testManagedPoolAppliesDecisionsWithinItsBounds() throws {
        let f = ScriptedForecaster()
        var rules = SizingRules()
        rules.minSize = 2; rules.maxSize = 6; rules.baseSize = 4; rules.rateLimit = 0
        let fc = FakeConnector()
        let m = try ManagedPool(name: "m", kind: "test", options: PoolOptions(min: 2, max: 6), connector: fc.connector,
                                sizing: rules, forecaster: f, clock: .manual(ManualClock()))
        f.next = LoadForecast(load: 1, confidence: 1, horizon: 25)
        let d = m.sample(t: 0)!
        XCTAssertTrue(d.applied)
        XCTAssertEqual(m.pool.capacity, 6)
        f.next = LoadForecast(load: 0, confidence: 1, horizon: 25)
        _ = m.sample(t: 5)
        XCTAssertEqual(m.pool.capacity, 2)
    }

    /// The load predictor as the sizer's forecaster: fed a pool's samples every 5 s, it trains
    /// by itself (horizons 25 s and 15 min: 5 and 180 steps) and then drives the decisions.
    func testThePredictorForecastsOnceTrainedAndDrivesSizing() throws {
        var rules = SizingRules()
        rules.minSize = 2; rules.maxSize = 40; rules.baseSize = 20; rules.rateLimit = 0
        let f = try PredictorForecaster(rules: rules)
        let s = try AdaptiveSizer(rules: rules, forecaster: f)
        XCTAssertEqual(f.snapshot.steps, [5, 180])
        var last: AdaptiveSizer.Decision?
        var current = 20
        for i in 0..<400 {
            // a slow wave of in-flight calls
            let inFlight = 25 + 20 * sin(Double(i) / 15)
            let d = s.step(sample(t: 1_700_000_000 + 5 * Double(i), concurrent: inFlight, ms: 20), current: current)
            current = d.to
            last = d
        }
        XCTAssertTrue(f.snapshot.isTrained)
        XCTAssertNotNil(last?.predictedLoad)
        XCTAssertTrue(last?.reason.contains("predicted load") ?? false, last?.reason ?? "")
        let forecast = try f.predict(horizon: 25)
        XCTAssertTrue(forecast.trained)
        XCTAssertEqual(forecast.steps, 5)
        XCTAssertEqual(try f.predict(horizon: 900).steps, 180)
        // an out-of-order sample is refused by the predictor, not taken
        f.observe(sample(t: 1_000), loadFactor: 0)
        XCTAssertNotNil(f.lastRefusal)
    }
}
