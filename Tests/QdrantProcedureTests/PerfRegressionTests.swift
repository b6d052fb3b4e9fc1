import Foundation
import OpshTestSupport
import XCTest

/// perf/regression against Debian's Prometheus: once scraping the stand-in's /metrics live,
/// once over a week of history backfilled with promtool (the baseline a week back).
final class PerfRegressionTests: XCTestCase {
    static let endpoint = "/collections/{collection_name}/points/query"

    typealias Prometheus = PrometheusServer

    func testLiveScrapeOfTheStandin() throws {
        let s = try QdrantStandin()
        let dir = Harness.tempDir("prom-live")
        let host = s.url.replacingOccurrences(of: "http://", with: "")
        let prom = try Prometheus(config: """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: qdrant
                static_configs: [{targets: ["\(host)"]}]
            """, data: dir.appendingPathComponent("data"))
        defer { prom.stop() }
        _ = Harness.run(["-e", QdrantClientTests.seed], env: ["QDRANT_URL": s.url])
        // queries keep arriving while Prometheus scrapes, so rate() has something to see
        let load = Harness.start(["-e", """
            local q = require("opsh.qdrant").connect { url = "\(s.url)" }
            for i = 1, 400 do assert(q:query("docs", { query = { 1, 0, 0, 1 }, limit = 3 })); require("opsh").sleep(0.02) end
            """])
        defer { load.0.terminate(); load.0.waitUntilExit() }
        XCTAssertTrue(prom.waitFor("rate(rest_responses_duration_seconds_count{endpoint=\"\(Self.endpoint)\"}[5s]) > 0"),
                      "Prometheus never saw query traffic")
        let r = Harness.run(["--json", "run", "perf/regression", "--window", "5s", "--selector", "job=\"qdrant\""],
                            env: ["PROMETHEUS_URL": prom.url])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let check = (doc["checks"] as! [[String: Any]])[0]
        XCTAssertEqual(check["name"] as? String, "perf.regression")
        let m = check["metrics"] as! [String: Double]
        // the stand-in answers in about a millisecond: far below the guide's 250 ms baseline
        XCTAssertGreaterThan(m["p95_seconds"]!, 0)
        XCTAssertLessThan(m["p95_seconds"]!, 0.25)
        XCTAssertGreaterThan(m["requests_per_second"]!, 0)
        XCTAssertEqual(m["baseline_seconds"], 0.25)
    }

    /// OpenMetrics text of Qdrant's query histogram: 60 requests a minute over two half-hours,
    /// a week apart; the later one slower.
    func history(end: Int) -> String {
        let bounds = ["0.05", "0.1", "0.5", "1", "+Inf"]
        // per minute: how many requests fall at or below each bound
        let fast = [50, 60, 60, 60, 60], slow = [30, 40, 60, 60, 60]
        var lines = ["# HELP rest_responses_duration_seconds response duration histogram",
                     "# TYPE rest_responses_duration_seconds histogram"]
        var cumulative = [0, 0, 0, 0, 0]
        var sum = 0.0
        var samples: [(Int, [Int], Double)] = []
        for (start, perMinute, seconds) in [(end - 7 * 86400 - 1800, fast, 0.04), (end - 1800, slow, 0.15)] {
            for t in stride(from: start, through: start + 1800, by: 60) {
                for i in 0..<5 { cumulative[i] += perMinute[i] }
                sum += 60 * seconds
                samples.append((t, cumulative, sum))
            }
        }
        let labels = "method=\"POST\",endpoint=\"\(Self.endpoint)\""
        for (i, le) in bounds.enumerated() {
            for (t, c, _) in samples { lines.append("rest_responses_duration_seconds_bucket{\(labels),le=\"\(le)\"} \(c[i]) \(t)") }
        }
        for (t, c, _) in samples { lines.append("rest_responses_duration_seconds_count{\(labels)} \(c[4]) \(t)") }
        for (t, _, s) in samples { lines.append("rest_responses_duration_seconds_sum{\(labels)} \(s) \(t)") }
        lines.append("# TYPE rest_responses counter")
        for (t, c, _) in samples { lines.append("rest_responses_total{\(labels),status=\"200\"} \(c[4]) \(t)") }
        lines.append("# EOF")
        return lines.joined(separator: "\n") + "\n"
    }

    func testWeekOldBaselineFromBackfilledHistory() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else { throw XCTSkip("promtool is not installed") }
        let dir = Harness.tempDir("prom-backfill")
        let end = Int(Date().timeIntervalSince1970) / 60 * 60 - 600
        let data = dir.appendingPathComponent("data")
        try PrometheusServer.backfill(history(end: end), into: data)
        let prom = try Prometheus(config: "global: {scrape_interval: 15s}\n", data: data)
        defer { prom.stop() }
        XCTAssertTrue(prom.waitFor("rest_responses_duration_seconds_count", at: end), "the backfilled blocks were not loaded")
        // a week ago: p95 in the 0.05-0.1 s bucket (~0.085 s); now: in the 0.1-0.5 s bucket (~0.44 s)
        let week = Harness.run(["--json", "run", "perf/regression", "--baseline_offset", "7d", "--at", String(end)],
                               env: ["PROMETHEUS_URL": prom.url])
        XCTAssertEqual(week.status, 2, week.stdout + week.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(week.stdout.utf8)) as! [String: Any]
        let check = (doc["checks"] as! [[String: Any]])[0]
        let m = check["metrics"] as! [String: Double]
        XCTAssertEqual(m["baseline_seconds"] ?? -1, 0.085, accuracy: 0.001)
        XCTAssertEqual(m["p95_seconds"] ?? -1, 0.44, accuracy: 0.001)
        XCTAssertEqual(m["requests_per_second"] ?? -1, 1.0, accuracy: 0.01)
        XCTAssertTrue((check["message"] as! String).hasPrefix("performance regression detected: p95 0.440 s vs 0.085 s (the p95 7d ago): +417.6%"),
                      check["message"] as! String)
        // against the guide's fixed 250 ms baseline it is a regression too; against 0.4 s it is within 25%
        XCTAssertEqual(Harness.run(["run", "perf/regression", "--at", String(end)], env: ["PROMETHEUS_URL": prom.url]).status, 2)
        let ok = Harness.run(["run", "perf/regression", "--baseline", "0.4", "--at", String(end)], env: ["PROMETHEUS_URL": prom.url])
        XCTAssertEqual(ok.status, 0, ok.stdout)
        XCTAssertTrue(ok.stdout.contains("p95 0.440 s vs 0.400 s (the configured baseline): +10.0%"), ok.stdout)
        // no data in the window: UNKNOWN, not OK
        let none = Harness.run(["run", "perf/regression", "--at", String(end - 3 * 86400)], env: ["PROMETHEUS_URL": prom.url])
        XCTAssertEqual(none.status, 3, none.stdout)
    }
}
