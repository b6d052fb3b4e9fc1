import Foundation
import OpshTestSupport
import XCTest

/// perf/benchmark against a real redis-server, the Qdrant stand-in and a small HTTP server in
/// the API's place: every step measured, its own cache keys removed, the report file written;
/// under --dry-run nothing is sent.
final class PerfBenchmarkTests: XCTestCase {
    func testEveryStepIsMeasuredAndLeavesNothingBehind() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let q = try QdrantStandin()
        defer { q.stop() }
        let api = try HTTPTestServer()
        defer { api.stop() }
        let env = ["QDRANT_URL": q.url, "REDIS_URL": redis.url]
        let seed = Harness.run(["-e", """
            local c = require("opsh.qdrant").connect()
            assert(c:create_collection("docs", { vectors = { size = 4, distance = "Dot" } }))
            local pts = {}
            for i = 1, 50 do pts[i] = { id = i, vector = { math.sin(i), math.cos(i), 1, i / 50 } } end
            assert(c:upsert("docs", pts))
            """], env: env)
        XCTAssertEqual(seed.status, 0, seed.stderr)
        _ = sh("redis-cli -p \(redis.port) SET keep:me 1")
        let cfg = Harness.write("return { api_url = \"\(api.url)\" }", to: "config.lua")
        let out = Harness.tempDir("perf").appendingPathComponent("report.json").path
        // thresholds out of the way: a loaded machine must not decide this test
        let loose = ["--search_warn_ms", "60000", "--search_crit_ms", "120000", "--cache_warn_ms", "60000", "--cache_crit_ms", "120000",
                     "--workflow_warn_ms", "60000", "--workflow_crit_ms", "120000"]

        let dry = Harness.run(["--dry-run", "--json", "--config", cfg, "run", "perf/benchmark", "--workflow_path", "/record/wf"] + loose, env: env)
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would send 1000 searches, 10000 cache operations and 100 API requests"), dry.stdout)
        XCTAssertEqual(api.received.count, 0)

        let r = Harness.run(["--json", "--yes", "--config", cfg, "run", "perf/benchmark", "--queries", "120", "--operations", "400",
                             "--requests", "30", "--concurrency", "4", "--workflow_path", "/record/wf", "--output", out] + loose,
                            env: env, timeout: 180)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        let search = try XCTUnwrap(report["search"] as? [String: Any], "\(report) \(r.stdout)")
        XCTAssertEqual(search["requests"] as? Int, 120)
        XCTAssertEqual(search["failed"] as? Int, 0)
        XCTAssertEqual(search["collection"] as? String, "docs")
        let p50 = try XCTUnwrap(search["p50_ms"] as? Double), p99 = try XCTUnwrap(search["p99_ms"] as? Double)
        XCTAssertLessThanOrEqual(p50, p99)
        let cache = try XCTUnwrap(report["cache"] as? [String: Any])
        XCTAssertEqual(cache["requests"] as? Int, 400)
        XCTAssertEqual(cache["failed"] as? Int, 0)
        let workflow = try XCTUnwrap(report["workflow"] as? [String: Any])
        XCTAssertEqual(workflow["requests"] as? Int, 30)
        // the API got exactly the probe and the 30 requests
        XCTAssertEqual(api.received.count, 31)
        // the benchmark's keys are gone; the user's key is not
        XCTAssertEqual(sh("redis-cli -p \(redis.port) --scan --pattern 'opsh:bench:*' | wc -l").output, "0\n")
        XCTAssertEqual(sh("redis-cli -p \(redis.port) GET keep:me").output, "1\n")

        // no API: the step says so, the others still run
        let none = Harness.run(["--json", "--yes", "run", "perf/benchmark", "--queries", "10", "--operations", "10", "--skip", "cache"] + loose,
                               env: env.merging(["API_URL": ""]) { $1 }, timeout: 120)
        XCTAssertTrue(none.stdout.contains("no API answers at http://localhost:8000/health") || none.stdout.contains("perf.workflow.latency"), none.stdout)
        XCTAssertFalse(none.stdout.contains("perf.cache"), none.stdout)
    }
}
