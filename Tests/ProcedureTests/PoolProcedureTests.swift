import Foundation
import OpshTestSupport
import XCTest

/// The pool/ procedures on opsh's own pools against a real redis-server (and, for the breaker
/// going open, a port nothing listens on), through the built binary, with their state in a
/// temporary pool_state_dir.
final class PoolProcedureTests: XCTestCase {
    var redis: RedisServer!
    var state: URL!

    override func setUpWithError() throws {
        redis = try RedisServer()
        state = Harness.tempDir("poolstate")
    }

    override func tearDown() { redis?.stop() }

    var luaDir: String { Harness.packageRoot.appendingPathComponent("lua").path }

    func opsh(_ name: String, _ args: [String] = [], flags: [String] = ["--json"], url: String? = nil) -> Run {
        Harness.run(flags + ["--path", luaDir, "run", name, "--target", "redis", "--redis_url", url ?? redis.url] + args,
                    env: ["HOME": Harness.tempDir("home").path, "OPSH_POOL_STATE_DIR": state.path], timeout: 120)
    }

    func report(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [String: [String: Any]] {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return [:]
        }
        var out: [String: [String: Any]] = [:]
        for c in obj["checks"] as? [[String: Any]] ?? [] { out[c["name"] as? String ?? "?"] = c }
        return out
    }

    func status(_ c: [String: Any]?) -> String { c?["status"] as? String ?? "missing" }
    func message(_ c: [String: Any]?) -> String { c?["message"] as? String ?? "" }
    func metric(_ c: [String: Any]?, _ m: String) -> Double? { ((c?["metrics"] as? [String: Any])?[m] as? NSNumber)?.doubleValue }

    func testHealthReportsTheGuidesFiveReadingsAndKeepsHistory() throws {
        let r = opsh("pool/health", ["--concurrency", "5", "--calls", "30"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)   // 5 of 5 checked out: above 80%
        let c = report(r)
        XCTAssertEqual(status(c["pool.redis.status"]), "ok")
        XCTAssertEqual(status(c["pool.redis.utilization"]), "warning", message(c["pool.redis.utilization"]))
        XCTAssertEqual(metric(c["pool.redis.utilization"], "utilization_pct"), 100)
        XCTAssertTrue(message(c["pool.redis.model"]).contains("not trained yet"), message(c["pool.redis.model"]))
        XCTAssertEqual(status(c["pool.redis.breaker"]), "ok")
        XCTAssertTrue(message(c["pool.redis.breaker"]).hasPrefix("closed"))
        XCTAssertNotNil(metric(c["pool.redis.affinity"], "score"))
        // the predictor and the history are kept for the next runs
        XCTAssertTrue(FileManager.default.fileExists(atPath: state.appendingPathComponent("redis.model").path))
        let second = report(opsh("pool/health", ["--concurrency", "2"]))
        XCTAssertEqual(status(second["pool.redis.utilization"]), "ok")
        XCTAssertNotEqual(message(second["pool.redis.model"]), message(c["pool.redis.model"]), "the sample count grows across runs")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: state.appendingPathComponent("state.json"))) as? [String: Any]
        XCTAssertEqual((saved?["history"] as? [Any])?.count, 2)
        // a dead endpoint is critical, and its breaker opens
        let dead = report(opsh("pool/health", [], url: "redis://127.0.0.1:\(RedisServer.freePort())"))
        XCTAssertEqual(status(dead["pool.redis.status"]), "critical")
        XCTAssertEqual(status(dead["pool.redis.breaker"]), "critical")
        XCTAssertTrue(message(dead["pool.redis.breaker"]).hasPrefix("open"), message(dead["pool.redis.breaker"]))
    }

    /// With --agent the procedures call the agent's API (tests/agent drives them against a real
    /// one); an agent that does not answer is UNKNOWN, naming the call that failed.
    func testUnreachableAgentIsUnknown() {
        for name in ["pool/health", "pool/retrain", "pool/breaker", "pool/affinity", "pool/scale", "pool/weekly-review"] {
            let r = opsh(name, ["--agent", "http://127.0.0.1:9"])
            XCTAssertEqual(r.status, 3, name)
            XCTAssertTrue(message(report(r)["pool.agent"]).contains("http://127.0.0.1:9/"), name + r.stdout)
        }
    }

    func testBreakerStatusTestConfigureAndReset() throws {
        let test = report(opsh("pool/breaker", ["--action", "test"]))
        XCTAssertEqual(status(test["pool.redis.breaker.test"]), "ok", message(test["pool.redis.breaker.test"]))
        XCTAssertEqual(metric(test["pool.redis.breaker.test"], "refused"), 1)
        let conf = report(opsh("pool/breaker", ["--action", "configure", "--failure_threshold", "2", "--recovery_timeout", "30", "--half_open_max_calls", "1"]))
        XCTAssertTrue(message(conf["pool.redis.breaker"]).contains("thresholds 2/2/2/2/2, recovery 30s, 1 half-open calls"), message(conf["pool.redis.breaker"]))
        // later procedures use the stored settings
        let st = report(opsh("pool/breaker"))
        XCTAssertTrue(message(st["pool.redis.breaker"]).contains("thresholds 2/2/2/2/2"), message(st["pool.redis.breaker"]))
        // a bad setting is refused by name, and nothing is stored
        let bad = report(opsh("pool/breaker", ["--action", "configure", "--failure_threshold", "0"]))
        XCTAssertTrue(message(bad["pool.breaker.configure"]).contains("breaker.failure_threshold.connection: must be 1 or more"), message(bad["pool.breaker.configure"]))
        let reset = report(opsh("pool/breaker", ["--action", "reset"]))
        XCTAssertTrue(message(reset["pool.redis.breaker"]).contains("thresholds 3/5/10/5/3, recovery 60s, 3 half-open calls"), message(reset["pool.redis.breaker"]))
        // under --dry-run configure stores nothing
        _ = opsh("pool/breaker", ["--action", "configure", "--failure_threshold", "7"], flags: ["--json", "--dry-run"])
        let after = report(opsh("pool/breaker"))
        XCTAssertTrue(message(after["pool.redis.breaker"]).contains("thresholds 3/5/10/5/3"), message(after["pool.redis.breaker"]))
    }

    func testAffinityLearnsPatternsClearsAndOptimizes() {
        let c = report(opsh("pool/affinity", ["--calls", "60"]))
        XCTAssertEqual(message(c["pool.redis.affinity.patterns"]).hasPrefix("4 patterns: "), true, message(c["pool.redis.affinity.patterns"]))
        for p in ["PING", "DBSIZE", "EXISTS opsh:*", "INFO server"] {
            XCTAssertTrue(message(c["pool.redis.affinity.patterns"]).contains(p + ": 15 calls"), p)
        }
        XCTAssertNotNil(metric(c["pool.redis.affinity.performance"], "score"))
        XCTAssertEqual(metric(c["pool.redis.affinity.performance"], "failed_calls"), 0)
        XCTAssertNotNil(metric(c["pool.redis.affinity.clear"], "cleared"))
        XCTAssertNotNil(metric(c["pool.redis.affinity.optimize"], "changed"))
        // clearing everything below a score of 1 leaves only perfect entries
        let all = report(opsh("pool/affinity", ["--calls", "60", "--min_score", "1"]))
        XCTAssertGreaterThan(metric(all["pool.redis.affinity.clear"], "cleared") ?? 0, 0)
    }

    func testScaleAbove85PercentAndTheReviewItSchedules() throws {
        let calm = report(opsh("pool/scale", ["--concurrency", "2"]))
        XCTAssertEqual(status(calm["pool.redis.scale"]), "ok", message(calm["pool.redis.scale"]))
        XCTAssertNil(calm["pool.scale.review"])
        let dry = opsh("pool/scale", ["--concurrency", "8"], flags: ["--json", "--dry-run"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: state.appendingPathComponent("pool-scaling-review.json").path), dry.stdout)
        let busy = report(opsh("pool/scale", ["--concurrency", "8"]))
        XCTAssertEqual(status(busy["pool.redis.scale"]), "warning", message(busy["pool.redis.scale"]))
        XCTAssertEqual(metric(busy["pool.redis.scale"], "from"), 5)
        XCTAssertEqual(metric(busy["pool.redis.scale"], "to"), 15)
        let review = try JSONSerialization.jsonObject(with: Data(contentsOf: state.appendingPathComponent("pool-scaling-review.json"))) as? [String: Any]
        XCTAssertEqual(review?["to"] as? Int, 15)
        XCTAssertNotNil(review?["due"] as? String)
        // the temporary size is in force for the next runs until the review is due
        let next = report(opsh("pool/health", ["--concurrency", "2"]))
        XCTAssertEqual(metric(next["pool.redis.utilization"], "size"), 15)
        let shown = report(opsh("pool/scale", ["--action", "review"]))
        XCTAssertTrue(message(shown["pool.scale.review"]).contains("5 -> 15"), message(shown["pool.scale.review"]))
    }

    func testRetrainFollowsTheTriggersAndTrainsOnDemand() {
        let none = report(opsh("pool/retrain"))
        XCTAssertTrue(message(none["pool.redis.retrain"]).hasPrefix("not needed"), message(none["pool.redis.retrain"]))
        let forced = report(opsh("pool/retrain", ["--force"]))
        XCTAssertTrue(message(forced["pool.redis.retrain"]).contains("completed (forced)"), message(forced["pool.redis.retrain"]))
        // a threshold of new samples that is already reached triggers it
        let bySamples = report(opsh("pool/retrain", ["--new_samples", "1"]))
        XCTAssertTrue(message(bySamples["pool.redis.retrain"]).contains("samples since the last training (>= 1)"), message(bySamples["pool.redis.retrain"]))
    }

    func testWeeklyReviewWritesTheGuidesReport() throws {
        let empty = opsh("pool/weekly-review", ["--output", state.appendingPathComponent("empty.json").path])
        XCTAssertEqual(status(report(empty)["pool.redis.review"]), "unknown")
        for _ in 0..<2 { _ = opsh("pool/health") }
        let out = state.appendingPathComponent("weekly-db-report.json")
        let r = report(opsh("pool/weekly-review", ["--output", out.path]))
        XCTAssertEqual(status(r["pool.redis.review.breaker"]), "ok")
        XCTAssertTrue(message(r["pool.redis.review.performance"]).contains("over 2 runs"), message(r["pool.redis.review.performance"]))
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any]
        for key in ["week_ending", "p95_latency", "throughput", "ml_model_accuracy", "circuit_breaker_health"] {
            XCTAssertNotNil(doc?[key], key)
        }
        XCTAssertGreaterThan((doc?["throughput"] as? NSNumber)?.doubleValue ?? 0, 0)
    }

    func testListedAndDocumented() {
        let list = Harness.run(["list", "pool"], env: ["HOME": Harness.tempDir("h").path])
        XCTAssertEqual(list.status, 0, list.stderr)
        for name in ["pool/health", "pool/retrain", "pool/breaker", "pool/affinity", "pool/scale", "pool/weekly-review"] {
            XCTAssertTrue(list.stdout.contains(name), name)
            let help = Harness.run(["help", name], env: ["HOME": Harness.tempDir("h").path])
            XCTAssertEqual(help.status, 0, help.stderr)
            XCTAssertTrue(help.stdout.contains("Enhanced Database") || help.stdout.contains("Troubleshooting"), name + help.stdout)
        }
    }
}
