import XCTest
@testable import Predict

let monday = 1_700_438_400.0  // 2023-11-20 00:00 UTC

/// A smooth daily load plus a deterministic wobble, one sample per 5 s.
func dailyRequests(_ i: Int, capacity: Double = 50) -> Double {
    let t = Double(i) * 5
    return capacity * (0.45 + 0.3 * sin(2 * Double.pi * t / 86_400) + 0.1 * sin(2 * Double.pi * t / 3_000))
}

/// A seeded uniform in 0..<1 (splitmix64), so every test sees the same noise.
struct Noise {
    var state: UInt64
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}

final class SampleTests: XCTestCase {
    func testNaNInfinityAndRangesAreRefusedNamingTheField() {
        let cases: [(Sample, String, String)] = [
            (Sample(t: 0, requests: .nan), "requests", "NaN"),
            (Sample(t: 0, latencyMs: .infinity), "latency_ms", "infinite"),
            (Sample(t: 0, errors: -1), "errors", "0 or more"),
            (Sample(t: 0, cpu: 1.5), "cpu", "between 0 and 1"),
            (Sample(t: 0, memory: -.infinity), "memory", "infinite"),
            (Sample(t: .nan, requests: 1), "t", "NaN"),
        ]
        for (s, field, words) in cases {
            XCTAssertThrowsError(try s.validate()) { e in
                let e = e as! PredictError
                XCTAssertEqual(e.kind, .invalidSample)
                XCTAssertEqual(e.field, field)
                XCTAssertTrue(e.message.contains("'\(field)'") && e.message.contains(words), e.message)
            }
        }
    }

    func testASampleWithNoMeasurementIsRefused() {
        XCTAssertThrowsError(try Sample(t: 5).validate()) { e in
            XCTAssertTrue((e as! PredictError).message.contains("at least one of requests"))
        }
    }

    func testARefusedSampleChangesNothing() throws {
        var p = try LoadPredictor()
        try p.observe(Sample(t: monday, requests: 10))
        let before = p.encoded()
        XCTAssertThrowsError(try p.observe(Sample(t: monday + 5, requests: 10, cpu: .nan)))
        XCTAssertEqual(p.encoded(), before)
    }

    func testLoadIsTheOriginalsFactorWhenEveryFieldIsGiven() {
        var f = LoadFactor(capacity: 50, latencyThresholdMs: 500)
        let load = f.update(Sample(requests: 25, latencyMs: 250, errors: 1, cpu: 0.4, memory: 0.6))
        // 0.3·0.5 + 0.2·0.6 + 0.2·0.4 + 0.3·0.5 + 0.1·1
        XCTAssertEqual(load, 0.15 + 0.12 + 0.08 + 0.15 + 0.1, accuracy: 1e-12)
        XCTAssertEqual(f.update(Sample(requests: 500, latencyMs: 5000, errors: 100, cpu: 1, memory: 1)), 1)
    }

    func testMissingFieldsKeepTheirLastValueAndUnknownOnesAreLeftOut() {
        var f = LoadFactor(capacity: 50, latencyThresholdMs: 500)
        XCTAssertEqual(f.update(Sample(requests: 20)), 0.4, accuracy: 1e-12)     // requests alone
        XCTAssertEqual(f.update(Sample(cpu: 0.9)), (0.3 * 0.4 + 0.2 * 0.9) / 0.5, accuracy: 1e-12)
        XCTAssertEqual(f.update(Sample(requests: 30)), (0.3 * 0.6 + 0.2 * 0.9) / 0.5, accuracy: 1e-12)  // cpu kept
    }
}

final class ConfigTests: XCTestCase {
    func testEveryBadOptionIsNamed() {
        func check(_ change: (inout PredictorConfig) -> Void, _ name: String) {
            var c = PredictorConfig()
            change(&c)
            XCTAssertThrowsError(try LoadPredictor(c)) { e in
                let e = e as! PredictError
                XCTAssertEqual(e.kind, .invalidOption)
                XCTAssertEqual(e.field, name)
                XCTAssertTrue(e.message.contains("'\(name)'"), e.message)
            }
        }
        check({ $0.interval = 0 }, "interval")
        check({ $0.interval = .nan }, "interval")
        check({ $0.horizons = [] }, "horizons")
        check({ $0.horizons = [25, -1] }, "horizons")
        check({ $0.horizons = [86_400 * 30] }, "horizons")
        check({ $0.capacity = -5 }, "capacity")
        check({ $0.latencyThresholdMs = .infinity }, "latency_threshold_ms")
        check({ $0.minSamples = 3 }, "min_samples")
        check({ $0.history = 10 }, "history")
        check({ $0.retrainEvery = 0 }, "retrain_every")
        check({ $0.accuracyWindow = 0 }, "accuracy_window")
    }

    func testHorizonsBecomeStepsOfTheSamplingInterval() throws {
        var c = PredictorConfig()
        c.interval = 5
        c.horizons = [900, 25, 27]
        XCTAssertEqual(c.stepCounts, [5, 180])
        c.interval = 60
        c.horizons = [25, 900]
        XCTAssertEqual(c.stepCounts, [1, 15])
    }
}

final class ForecastTests: XCTestCase {
    func feed(_ p: inout LoadPredictor, _ range: Range<Int>, requests: (Int) -> Double) throws {
        for i in range { try p.observe(Sample(t: monday + Double(i) * 5, requests: requests(i))) }
    }

    func testNoSamplesAndOneSampleGiveTheBootstrapAnswer() throws {
        var p = try LoadPredictor()
        var f = try p.predict(horizon: 25)
        XCTAssertFalse(f.trained)
        XCTAssertEqual(f.load, 0.5)
        XCTAssertEqual(f.confidence, 0)
        XCTAssertEqual(f.trend, .unknown)
        XCTAssertEqual(f.recommendation, .insufficientData)
        try p.observe(Sample(t: monday, requests: 40))
        f = try p.predict(horizon: 25)
        XCTAssertFalse(f.trained)
        XCTAssertEqual(f.load, 0.8, accuracy: 1e-12)
        XCTAssertTrue(p.accuracy().allSatisfy { !$0.trained && $0.source == .none })
    }

    func testBadHorizonsAreRefused() throws {
        let p = try LoadPredictor()
        for h in [0, -25, Double.nan, .infinity] {
            XCTAssertThrowsError(try p.predict(horizon: h)) { XCTAssertEqual(($0 as! PredictError).kind, .invalidHorizon) }
        }
        XCTAssertThrowsError(try p.predict(horizon: 7200)) { e in
            XCTAssertTrue((e as! PredictError).message.contains("beyond the longest configured (3600.0 s)"), "\(e)")
        }
    }

    func testTheHorizonIsRealStepsAheadAndFollowsTheSeries() throws {
        var c = PredictorConfig()
        c.horizons = [25, 900]
        var p = try LoadPredictor(c)
        try feed(&p, 0..<6000) { dailyRequests($0) }
        let near = try p.predict(horizon: 25), far = try p.predict(horizon: 900)
        XCTAssertTrue(near.trained && far.trained)
        XCTAssertEqual(near.steps, 5)
        XCTAssertEqual(far.steps, 180)
        // the truth 5 and 180 steps after the last sample (i = 5999)
        XCTAssertEqual(near.load, dailyRequests(6004) / 50, accuracy: 0.01)
        XCTAssertEqual(far.load, dailyRequests(6179) / 50, accuracy: 0.03)
        XCTAssertNotEqual(near.load, far.load)
        // and it beats the last value at both horizons, out of sample
        for a in p.accuracy() { XCTAssertLessThan(a.mase!, 1, "\(a)") }
        // between two horizons, the forecast lies between theirs
        let mid = try p.predict(horizon: 300)
        XCTAssertEqual(mid.steps, 60)
        XCTAssertGreaterThanOrEqual(mid.load, min(near.load, far.load) - 1e-12)
        XCTAssertLessThanOrEqual(mid.load, max(near.load, far.load) + 1e-12)
        XCTAssertFalse(near.featureImportance.isEmpty)
        XCTAssertEqual(near.featureImportance.map(\.weight).reduce(0, +), 1, accuracy: 1e-9)
        XCTAssertEqual(near.featureImportance.map(\.weight), near.featureImportance.map(\.weight).sorted(by: >))
    }

    func testAConstantSeriesForecastsTheConstantAndDoesNotRetrainForever() throws {
        var p = try LoadPredictor()
        try feed(&p, 0..<5000) { _ in 30 }
        let f = try p.predict(horizon: 900)
        XCTAssertTrue(f.trained)
        XCTAssertEqual(f.load, 0.6, accuracy: 1e-9)
        XCTAssertEqual(f.trend, .stable)
        XCTAssertEqual(f.confidence, 1, accuracy: 1e-9)
        XCTAssertEqual(f.recommendation, .maintain)
        for a in p.accuracy() where a.trained { XCTAssertEqual(a.mase!, 1, accuracy: 1e-9); XCTAssertEqual(a.mae!, 0, accuracy: 1e-9) }
        // first model, then doublings and new horizons: never MASE, and few trainings
        XCTAssertLessThan(p.retrains, 12)
    }

    func testTrendAndRecommendationFollowTheOriginalsRules() {
        XCTAssertEqual(Forecast.recommend(load: 0.9, confidence: 0.4, trend: .increasing), .monitorClosely)
        XCTAssertEqual(Forecast.recommend(load: 0.9, confidence: 0.9, trend: .increasing), .scaleUpImmediately)
        XCTAssertEqual(Forecast.recommend(load: 0.9, confidence: 0.9, trend: .stable), .prepareToScaleUp)
        XCTAssertEqual(Forecast.recommend(load: 0.7, confidence: 0.9, trend: .increasing), .considerScalingUp)
        XCTAssertEqual(Forecast.recommend(load: 0.7, confidence: 0.9, trend: .decreasing), .monitor)
        XCTAssertEqual(Forecast.recommend(load: 0.2, confidence: 0.9, trend: .decreasing), .considerScalingDown)
        XCTAssertEqual(Forecast.recommend(load: 0.2, confidence: 0.9, trend: .stable), .maintain)
    }

    func testARisingLoadIsIncreasing() throws {
        var c = PredictorConfig()
        c.horizons = [25, 300]
        var p = try LoadPredictor(c)
        try feed(&p, 0..<700) { 5 + Double($0) * 0.05 }
        let f = try p.predict(horizon: 300)
        XCTAssertEqual(f.trend, .increasing)
        XCTAssertGreaterThan(f.load, p.currentLoad!)
    }
}

final class GridTests: XCTestCase {
    func testSamplesWithinASlotAreAveragedAndGapsFilled() throws {
        var p = try LoadPredictor()
        try p.observe(Sample(t: monday, requests: 10))
        try p.observe(Sample(t: monday + 1, requests: 30))
        XCTAssertEqual(p.sampleCount, 1)
        XCTAssertEqual(p.currentLoad!, 0.4, accuracy: 1e-12)
        try p.observe(Sample(t: monday + 30, requests: 50))
        XCTAssertEqual(p.sampleCount, 7)
        XCTAssertTrue(p.history.isFilled(3))
        XCTAssertEqual(p.history.loadAt(3), 0.4, accuracy: 1e-12)
        XCTAssertFalse(p.history.isFilled(6))
        // a sample without t is the next slot
        try p.observe(Sample(requests: 5))
        XCTAssertEqual(p.sampleCount, 8)
    }

    func testTimeGoingBackIsRefused() throws {
        var p = try LoadPredictor()
        try p.observe(Sample(t: monday + 100, requests: 10))
        XCTAssertThrowsError(try p.observe(Sample(t: monday, requests: 10))) { e in
            XCTAssertEqual((e as! PredictError).field, "t")
        }
    }

    func testAGapLongerThanTheHistoryStartsItAgain() throws {
        var c = PredictorConfig()
        c.history = 200
        c.horizons = [25]
        var p = try LoadPredictor(c)
        for i in 0..<150 { try p.observe(Sample(t: monday + Double(i) * 5, requests: 20)) }
        try p.observe(Sample(t: monday + 10_000, requests: 20))
        XCTAssertEqual(p.sampleCount, 1)
    }
}

final class AccuracyTests: XCTestCase {
    func testNoHoldoutTargetIsEverAFittedTarget() {
        for n in stride(from: 40, through: 3000, by: 37) {
            for h in [1, 5, 12, 180, 720] {
                guard let s = LoadPredictor.Split(count: n, steps: h) else { continue }
                XCTAssertLessThanOrEqual(s.fitEnd - 1 + h, s.holdoutStart - 1, "n \(n) h \(h)")   // last fitted target
                XCTAssertLessThanOrEqual(s.innerFitEnd - 1 + h, s.validationStart - 1)
                XCTAssertEqual(s.rows, n - h)
                XCTAssertGreaterThanOrEqual(s.rows - s.holdoutStart, LoadPredictor.minimumHoldout)
            }
        }
    }

    /// Pure sine until the holdout, where a disturbance starts: fitted rows are predicted almost
    /// exactly, so an error of the size of the disturbance can only come from held-out targets.
    func testAccuracyIsMeasuredOnTheHeldOutRecentWindow() throws {
        var c = PredictorConfig()
        c.horizons = [25]
        c.autoTrain = false
        var p = try LoadPredictor(c)
        var noise = Noise(state: 7)
        let n = 2000
        for i in 0..<n {
            var r = 25 + 10 * sin(Double(i) / 40)
            if i >= n - 300 { r += 10 * (noise.next() - 0.5) }
            try p.observe(Sample(t: monday + Double(i) * 5, requests: r))
        }
        let report = p.train()
        let a = report.accuracy[0]
        XCTAssertEqual(a.source, .holdout)
        XCTAssertEqual(a.count, (n - 5) / 5)    // the last fifth of the forecast origins
        XCTAssertGreaterThan(a.mae!, 0.02, "\(a)")
        // the same model class on the sine alone is almost exact
        var q = try LoadPredictor(c)
        for i in 0..<n { try q.observe(Sample(t: monday + Double(i) * 5, requests: 25 + 10 * sin(Double(i) / 40))) }
        XCTAssertLessThan(q.train().accuracy[0].mae!, 0.002)
    }

    func testLiveAccuracyCountsOnlyForecastsMadeAfterTraining() throws {
        var c = PredictorConfig()
        c.horizons = [25]
        c.autoTrain = false
        var p = try LoadPredictor(c)
        for i in 0..<500 { try p.observe(Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 20))) }
        p.train()
        XCTAssertEqual(p.accuracy()[0].source, .holdout)
        // the slot open at training is the first forecast origin; its target is 5 slots later
        for i in 500..<540 { try p.observe(Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 20))) }
        let a = p.accuracy()[0]
        XCTAssertEqual(a.source, .live)
        XCTAssertEqual(a.count, 539 - 499 - 5 + 1 - 1)
    }
}

final class TrainingTests: XCTestCase {
    func testTriggersFireInTheirOrder() throws {
        var c = PredictorConfig()
        c.horizons = [25, 900]
        c.retrainEvery = 1000
        c.accuracyWindow = 100_000
        var p = try LoadPredictor(c)
        var reasons: [(Int, TrainingReason)] = []
        for i in 0..<4500 {
            if let r = try p.observe(Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 10))) { reasons.append((i + 1, r.reason)) }
        }
        XCTAssertEqual(reasons.first?.0, 60)
        XCTAssertEqual(reasons.first?.1, .firstModel)
        XCTAssertEqual(reasons.dropFirst().first?.1, .historyDoubled)     // 120
        XCTAssertTrue(reasons.contains { $0.1 == .horizonReady })         // 900 s needs 180 steps and more
        XCTAssertTrue(reasons.contains { $0.1 == .newSamples })
        let after = reasons.drop { $0.1 != .newSamples }
        XCTAssertTrue(after.allSatisfy { $0.1 == .newSamples })
        XCTAssertEqual(zip(after, after.dropFirst()).map { $1.0 - $0.0 }.first, 1000)
    }

    func testMASEAboveOneOnTheLastWindowRetrains() throws {
        var c = PredictorConfig()
        c.horizons = [25]
        c.accuracyWindow = 60
        c.retrainEvery = 1_000_000
        var p = try LoadPredictor(c)
        var reasons: [TrainingReason] = []
        // learn a fast wave, then the load becomes a random walk the wave model overshoots on
        for i in 0..<4000 { if let r = try p.observe(Sample(t: monday + Double(i) * 5, requests: 25 + 20 * sin(Double(i) / 3))) { reasons.append(r.reason) } }
        XCTAssertFalse(reasons.contains(.maseAboveOne))
        var noise = Noise(state: 1), level = 25.0
        for i in 4000..<4400 {
            level = min(49, max(1, level + (noise.next() - 0.5) * 4))
            if let r = try p.observe(Sample(t: monday + Double(i) * 5, requests: level)) { reasons.append(r.reason) }
        }
        XCTAssertTrue(reasons.contains(.maseAboveOne), "\(reasons)")
    }

    func testOnDemand() throws {
        var p = try LoadPredictor()
        let r = p.train()
        XCTAssertEqual(r.reason, .onDemand)
        XCTAssertEqual(r.samples, 0)
        XCTAssertFalse(p.isTrained)
    }
}

final class ModelFileTests: XCTestCase {
    func trained() throws -> LoadPredictor {
        var c = PredictorConfig()
        c.horizons = [25, 300]
        var p = try LoadPredictor(c)
        for i in 0..<1500 { try p.observe(Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 10), latencyMs: 100, memory: 0.5)) }
        return p
    }

    /// The same forecast but for its confidence, which comes from the live window (not saved).
    func same(_ a: Forecast, _ b: Forecast) {
        XCTAssertEqual(a.load, b.load)
        XCTAssertEqual(a.trend, b.trend)
        XCTAssertEqual(a.featureImportance, b.featureImportance)
        XCTAssertTrue(a.trained && b.trained)
    }

    func testTheEncodedFormRoundTrips() throws {
        var p = try trained()
        var q = try LoadPredictor(decoding: p.encoded())
        same(try q.predict(horizon: 25), try p.predict(horizon: 25))
        same(try q.predict(horizon: 200), try p.predict(horizon: 200))
        XCTAssertEqual(q.retrains, p.retrains)
        XCTAssertEqual(q.accuracy().map(\.source), [.holdout, .holdout])
        // the chosen anchor and inputs come back with the weights
        XCTAssertEqual(q.accuracy().map(\.model), p.accuracy().map(\.model))
        XCTAssertEqual(q.models.map { $0?.fit }, p.models.map { $0?.fit })
        // and both go on alike
        for i in 1500..<1600 {
            let s = Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 10))
            try p.observe(s); try q.observe(s)
        }
        same(try q.predict(horizon: 300), try p.predict(horizon: 300))
    }

    /// A version 2 file (before anchors: no anchor and no lag flag after λ) is still read, its
    /// models as ridge around the last value with the seasonal lags.
    func testAVersionTwoFileIsStillRead() throws {
        let p = try trained()
        var bytes = p.encoded()
        for m in p.models.compactMap({ $0 }) {
            var w = ByteWriter()
            w.double(m.fit.lambda); w.int(m.fit.anchor.rawValue); w.bool(m.fit.seasonalLags); w.double(m.fit.intercept)
            let at = try XCTUnwrap((20..<(bytes.count - w.bytes.count)).first { Array(bytes[$0..<($0 + w.bytes.count)]) == w.bytes })
            bytes.removeSubrange((at + 8)..<(at + 17))
        }
        let payload = Array(bytes[20..<(bytes.count - 8)])
        var head = ByteWriter(), tail = ByteWriter()
        head.u32(2); head.u64(UInt64(payload.count)); tail.u64(fnv1a(payload))
        bytes.replaceSubrange(8..<20, with: head.bytes)
        bytes.replaceSubrange((bytes.count - 8)..., with: tail.bytes)
        let q = try LoadPredictor(decoding: bytes)
        for (a, b) in zip(q.models, p.models) {
            XCTAssertEqual(a?.fit.weights, b?.fit.weights)
            XCTAssertEqual(a?.fit.anchor, .lastValue)
            XCTAssertEqual(a?.fit.seasonalLags, true)
        }
        XCTAssertEqual(try q.predict(horizon: 25).load, try p.predict(horizon: 25).load)
    }

    func testCorruptTruncatedAndForeignFilesAreRefusedClearly() throws {
        let good = try trained().encoded()
        func refused(_ bytes: [UInt8], _ words: String) {
            XCTAssertThrowsError(try LoadPredictor(decoding: bytes)) { e in
                let e = e as! PredictError
                XCTAssertEqual(e.kind, .corruptModel)
                XCTAssertTrue(e.message.contains(words), e.message)
            }
        }
        refused([], "not a predictor file")
        refused(Array("{\"model\": 1}".utf8), "not a predictor file")
        refused(Array(good[0..<(good.count / 2)]), "truncated")
        refused(Array(good[0..<12]), "truncated")
        var flipped = good
        flipped[good.count / 2] ^= 0x40
        refused(flipped, "checksum mismatch")
        var version = good
        version[8] = 9
        refused(version, "format version 9")
        // a model anchored on an input this opsh does not know (checksum made right again)
        let p = try trained()
        let fit = try XCTUnwrap(p.models[0]?.fit)
        var w = ByteWriter()
        w.double(fit.lambda); w.int(fit.anchor.rawValue)
        let at = try XCTUnwrap((20..<(good.count - w.bytes.count)).first { Array(good[$0..<($0 + w.bytes.count)]) == w.bytes })
        var anchored = good
        anchored[at + 8] = 7
        let payload = Array(anchored[20..<(anchored.count - 8)])
        var sum = ByteWriter()
        sum.u64(fnv1a(payload))
        anchored.replaceSubrange((anchored.count - 8)..., with: sum.bytes)
        refused(anchored, "anchored on an unknown input (7)")
    }
}

final class MetricsTests: XCTestCase {
    func testAccuracyIsExportedWithTheGuidesName() throws {
        var c = PredictorConfig()
        c.horizons = [25]
        var p = try LoadPredictor(c)
        for i in 0..<200 { try p.observe(Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 50))) }
        let text = LoadPredictor.prometheusText([(labels: [("pool", "a\"b")], predictor: p)])
        XCTAssertTrue(text.contains("# TYPE db_connection_pool_ml_model_accuracy gauge\n"))
        XCTAssertTrue(text.contains("db_connection_pool_ml_model_accuracy{pool=\"a\\\"b\",horizon_seconds=\"25\",measure=\"mase\",source=\"\(p.accuracy()[0].source.rawValue)\"} "), text)
        XCTAssertTrue(text.contains("db_connection_pool_ml_model_trainings_total{pool=\"a\\\"b\"} \(p.retrains)\n"))
    }
}

final class SavedFileTests: XCTestCase {
    func testSaveAndLoadAFileAndRefuseACorruptOne() throws {
        let dir = "/tmp/opsh-predict-tests-\(getpid())"
        mkdir(dir, 0o755)
        defer { unlink(dir + "/m.bin"); rmdir(dir) }
        var c = PredictorConfig()
        c.horizons = [25]
        var p = try LoadPredictor(c)
        for i in 0..<300 { try p.observe(Sample(t: monday + Double(i) * 5, requests: dailyRequests(i * 30))) }
        try p.save(to: dir + "/m.bin")
        let q = try LoadPredictor.load(from: dir + "/m.bin")
        XCTAssertEqual(try q.predict(horizon: 25).load, try p.predict(horizon: 25).load)
        // cut the file short
        truncate(dir + "/m.bin", 100)
        XCTAssertThrowsError(try LoadPredictor.load(from: dir + "/m.bin")) { e in
            let e = e as! PredictError
            XCTAssertEqual(e.kind, .corruptModel)
            XCTAssertTrue(e.message.hasPrefix(dir + "/m.bin: not a usable saved predictor: truncated"), e.message)
        }
        XCTAssertThrowsError(try LoadPredictor.load(from: dir + "/none.bin")) { e in
            XCTAssertEqual((e as! PredictError).kind, .io)
            XCTAssertTrue((e as! PredictError).message.contains("none.bin"))
        }
    }
}

final class SeasonalLagTests: XCTestCase {
    func testOffsetsAreTheSamePhaseAsTargetAndOriginAlreadyKnown() {
        // 5 s slots: a day is 17,280 slots, a week 120,960; horizons 5 and 180 slots
        let l = SeasonalLags(interval: 5, steps: [5, 180])
        XCTAssertEqual(l.offsets, [5 - 17_280, -17_280, 180 - 17_280, 5 - 120_960, -120_960, 180 - 120_960])
        XCTAssertEqual(l.groupOf, [0, 0, 0, 1, 1, 1])
        XCTAssertEqual(l.radius, 6)
        XCTAssertEqual(l.count, Features.baseCount + 6)
        XCTAssertEqual(l.groups.suffix(2).map(\.name), ["seasonal_day", "seasonal_week"])
        // half-hour slots: 90 h ahead is 180 slots, past 3 days (144): the lag is 4 days back
        let h = SeasonalLags(interval: 1800, steps: [5, 180])
        XCTAssertEqual(h.offsets, [5 - 48, -48, 180 - 192, -192, 5 - 336, -336, 180 - 336])
        XCTAssertEqual(h.radius, 0)
        XCTAssertTrue(h.offsets.allSatisfy { $0 <= 0 })
    }

    func testALagIsTheSmoothedLoadThereMinusTheLevelAndZeroBeyondTheHistory() {
        let l = SeasonalLags(interval: 1800, steps: [5])
        var h = History(capacity: 400)
        for i in 0..<400 { h.append(load: Double(i) / 1000, memory: 0, latency: 0, errors: 0, filled: false) }
        var out = [Double](repeating: .nan, count: l.offsets.count)
        let i = 399, level = 0.399
        l.write(h, i, level, into: &out)
        // [5 - 48, -48, 5 - 336, -336]: every lag is within the 400 slots kept
        for (j, o) in l.offsets.enumerated() { XCTAssertEqual(out[j], Double(i + o) / 1000 - level, accuracy: 1e-12) }
        // slot 60: a week back is before slot 0: the day's lags stand in for the week's
        XCTAssertEqual(l.fallback, [-1, -1, 0, 1])
        l.write(h, 60, 0.060, into: &out)
        XCTAssertEqual(out[0], Double(60 + 5 - 48) / 1000 - 0.060, accuracy: 1e-12)
        XCTAssertEqual(out[1], Double(60 - 48) / 1000 - 0.060, accuracy: 1e-12)
        XCTAssertEqual(out[2], out[0])
        XCTAssertEqual(out[3], out[1])
        // slot 20: a day back is before slot 0 too: nothing known, 0
        l.write(h, 20, 0.020, into: &out)
        XCTAssertEqual(out, [0, 0, 0, 0])
        // at 5 s the lag is the mean of ±30 s (never past the origin)
        let f = SeasonalLags(interval: 5, steps: [1])
        var g = History(capacity: 20_000)
        for i in 0..<20_000 { g.append(load: Double(i % 7), memory: 0, latency: 0, errors: 0, filled: false) }
        var o2 = [Double](repeating: .nan, count: f.offsets.count)
        f.write(g, 19_999, 0, into: &o2)
        let at = 19_999 + 1 - 17_280
        let want = (at - 6...at + 6).map { Double($0 % 7) }.reduce(0, +) / 13
        XCTAssertEqual(o2[0], want, accuracy: 1e-12)
    }

    func testAWeeklyShapeThreeHarmonicsCannotDrawIsForecastFromItsLags() throws {
        // half-hourly: a sharp weekday block 08:00-18:00 at 0.8, 0.2 otherwise, weekends 0.2
        func load(_ i: Int) -> Double {
            let slotOfDay = i % 48, day = (i / 48) % 7
            return day < 5 && slotOfDay >= 16 && slotOfDay < 36 ? 0.8 : 0.2
        }
        var c = PredictorConfig()
        c.interval = 1800
        c.horizons = [1800 * 5]
        c.history = 4000
        var p = try LoadPredictor(c)
        for i in 0..<(48 * 7 * 4) { try p.observe(Sample(t: monday + Double(i) * 1800, requests: 50 * load(i))) }
        p.train()
        // out of sample (the holdout), far better than the last value
        let a = p.accuracy()[0]
        XCTAssertEqual(a.source, .holdout)
        XCTAssertLessThan(a.mase!, 0.5, "\(a)")
        let last = 48 * 7 * 4 - 1
        XCTAssertEqual(try p.predict(horizon: 1800 * 5).load, load(last + 5), accuracy: 0.05)
        XCTAssertTrue(try p.predict(horizon: 1800 * 5).featureImportance.contains { $0.name == "seasonal_week" })
    }
}
