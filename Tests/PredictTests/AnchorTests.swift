import XCTest
@testable import Predict

final class AnchorTests: XCTestCase {
    /// Row sums of `rows` (p columns each) and target sums of `d`, as `train` builds them.
    func sums(_ rows: [[Double]], _ d: [Double]) -> (RowSums, TargetSums) {
        let p = rows[0].count
        var x = RowSums(p), t = TargetSums(p)
        for (r, row) in rows.enumerated() {
            x.rows += 1
            for j in 0..<p {
                x.sums[j] += row[j]
                for k in j..<p { x.gram[j * p + k] += row[j] * row[k] }
                t.cross[j] += d[r] * row[j]
            }
            t.sum += d[r]
        }
        return (x, t)
    }

    func testAFitAroundAnAnchorIsTheFitOfTheTargetLessTheAnchorPlusTheAnchor() throws {
        var noise = Noise(state: 7)
        let p = 5, c = 3
        let rows = (0..<200).map { _ in (0..<p).map { _ in noise.next() - 0.5 } }
        let d = rows.map { 0.9 * $0[c] + 0.3 * $0[0] - 0.1 * $0[4] + 0.05 * (noise.next() - 0.5) }
        let (x, t) = sums(rows, d)
        let around = try XCTUnwrap(Ridge.fit(x, t, lambda: 0.1, anchor: .weekLag, column: c))
        // the same fit done by hand: the target less the anchor's input, then weight 1 added back
        let (_, tLess) = sums(rows, zip(d, rows).map { $0 - $1[c] })
        var plain = try XCTUnwrap(Ridge.fit(x, tLess, lambda: 0.1))
        plain.weights[c] += 1
        for j in 0..<p { XCTAssertEqual(around.weights[j], plain.weights[j], accuracy: 1e-9) }
        XCTAssertEqual(around.intercept, plain.intercept, accuracy: 1e-9)
        XCTAssertEqual(around.anchor, .weekLag)
        // shrunk toward the anchor, not toward 0: a huge penalty leaves weight 1 on it
        let shrunk = try XCTUnwrap(Ridge.fit(x, t, lambda: 1e9, anchor: .weekLag, column: c))
        XCTAssertEqual(shrunk.weights[c], 1, accuracy: 1e-6)
        XCTAssertEqual(shrunk.weights[0], 0, accuracy: 1e-6)
        // the anchor alone is exactly its input; only the first `inputs` columns are regressors
        XCTAssertEqual(Ridge.fit(x, t, lambda: .infinity, anchor: .weekLag, column: c)?.weights, [0, 0, 0, 1, 0])
        let firstTwo = try XCTUnwrap(Ridge.fit(x, t, lambda: 0.1, inputs: 2))
        XCTAssertEqual(Array(firstTwo.weights[2...]), [0, 0, 0])
        XCTAssertNotEqual(firstTwo.weights[0], 0)
        XCTAssertFalse(firstTwo.seasonalLags)
    }

    func testTheAnchorColumnIsTheTargetPhaseLagOfItsPeriod() {
        let l = SeasonalLags(interval: 1800, steps: [5, 180])
        // offsets [5 - 48, -48, 180 - 192, -192, 5 - 336, -336, 180 - 336]
        XCTAssertNil(l.column(of: .lastValue, steps: 5))
        XCTAssertEqual(l.column(of: .dayLag, steps: 5), Features.baseCount + 0)
        XCTAssertEqual(l.column(of: .dayLag, steps: 180), Features.baseCount + 2)
        XCTAssertEqual(l.column(of: .weekLag, steps: 5), Features.baseCount + 4)
        XCTAssertEqual(l.column(of: .weekLag, steps: 180), Features.baseCount + 6)
        // a day is one slot at a day's interval: no daily lags, no daily anchor
        let daily = SeasonalLags(interval: 86_400, steps: [1])
        XCTAssertNil(daily.column(of: .dayLag, steps: 1))
        XCTAssertEqual(daily.column(of: .weekLag, steps: 1), Features.baseCount + 0)
    }

    /// Half-hourly: a week with a sharp weekday shape and a different weekend, on a level that
    /// drifts from week to week, with noise. 90 h ahead the origin's level carries nothing and the
    /// day four days back has the wrong shape half the time: last week's load at the target's
    /// time, corrected by how this week differs from last, is what forecasts it.
    func weekly(_ i: Int, _ noise: inout Noise) -> Double {
        let slot = i % 48, day = (i / 48) % 7
        let shape: Double = day < 5 ? (slot >= 16 && slot < 36 ? 0.35 : 0.05) + (slot == 18 || slot == 34 ? 0.1 : 0)
                                    : (slot >= 20 && slot < 30 ? 0.15 : 0.05)
        let level = 0.35 + 0.15 * sin(2 * Double.pi * Double(i) / (48 * 7 * 5))
        return level + shape + 0.02 * (noise.next() - 0.5)
    }

    func testALongHorizonOnAWeeklyTraceIsAnchoredOnLastWeekAndBeatsTheSeasonalNaive() throws {
        var c = PredictorConfig()
        c.interval = 1800
        c.horizons = [1800 * 5, 1800 * 180]
        c.history = 48 * 7 * 12
        c.autoTrain = false
        var p = try LoadPredictor(c)
        var noise = Noise(state: 42)
        let week = 48 * 7, trained = week * 8, scored = week * 2
        let load = (0..<(trained + scored + 180)).map { weekly($0, &noise) }
        for i in 0..<trained { try p.observe(Sample(t: monday + Double(i) * 1800, requests: 50 * load[i])) }
        p.train()
        let model = try XCTUnwrap(p.accuracy()[1].model)
        XCTAssertTrue(model.contains("a week before the target"), model)

        // walk forward over the two weeks after training, never retrained: each forecast from
        // data up to its origin only, scored against the last value and last week's load
        var mine = 0.0, lastWeek = 0.0, lastValue = 0.0
        for i in trained..<(trained + scored) {
            try p.observe(Sample(t: monday + Double(i) * 1800, requests: 50 * load[i]))
            let f = try p.predict(horizon: 1800 * 180).load
            let target = load[i + 180]
            mine += abs(f - target)
            lastWeek += abs(load[i + 180 - week] - target)
            lastValue += abs(load[i] - target)
        }
        XCTAssertLessThan(mine, lastWeek, "MAE \(mine / Double(scored)) against the weekly seasonal naive's \(lastWeek / Double(scored))")
        XCTAssertLessThan(mine, lastValue)
    }
}
