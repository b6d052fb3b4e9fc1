import Foundation
import OpshTestSupport
import XCTest

/// perf/metrics, the guide's real-time view, on a real redis-server, the Qdrant stand-in after real
/// searches, an API serving Prometheus text and an nginx access log written now; the containers
/// part is DockerTests.ServiceLogsTests' (it needs the engine). No timed assertion: the limits
/// are moved so that the same readings must cross them, or must not.
final class PerfMetricsTests: XCTestCase {
    func accessLog(requests: Int, errors: Int) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "dd/MMM/yyyy:HH:mm:ss Z"
        let now = f.string(from: Date())
        let lines = (0..<requests).map { i in
            "127.0.0.1 - - [\(now)] \"POST /api/search HTTP/1.1\" \(i < errors ? 502 : 200) 512 \"-\" \"curl/8\" 0.0\(i % 10)0"
        }
        return Harness.write(lines.joined(separator: "\n") + "\n", to: "access.log", in: Harness.tempDir("nginx"))
    }

    func testEveryPartAgainstTheGuidesThresholdsAndTheWatch() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let qdrant = try QdrantStandin()
        defer { qdrant.stop() }
        XCTAssertEqual(qdrant.seed("documents", points: 20).status, 0)
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "DOCKER_HOST": "unix:///nonexistent/docker.sock"]
        // three searches, and one hit and one miss in Redis
        let work = Harness.run(["-e", """
            local q = require("opsh.qdrant").connect()
            for i = 1, 3 do assert(q:query("documents", { query = { 1, 0, 1, 0.5 }, limit = 3 })) end
            local r = assert(require("opsh.redis").connect())
            assert(r:call("SET", "k", "v")); r:call("GET", "k"); r:call("GET", "missing")
            """], env: env)
        XCTAssertEqual(work.status, 0, work.stderr)

        let site = Harness.tempDir("api")
        _ = Harness.write("""
        # TYPE embedding_generation_seconds histogram
        embedding_generation_seconds_bucket{le="+Inf"} 4
        embedding_generation_seconds_sum 0.6
        embedding_generation_seconds_count 4
        # TYPE http_request_duration_seconds histogram
        http_request_duration_seconds_count{path="/search"} 10
        http_request_duration_seconds_sum{path="/search"} 0.5
        """, to: "metrics", in: site)
        let api = try StaticSite(directory: site)
        defer { api.stop() }
        let port = api.port

        // 2 of 100 answers were 502: above the guide's 1% error rate
        let log = accessLog(requests: 100, errors: 2)
        let base = ["--json", "run", "perf/metrics", "--interval", "0.2", "--access_log", log, "--api_url", "http://127.0.0.1:\(port)"]
        var r = Harness.run(base + ["--latency_warn_ms", "100000", "--latency_crit_ms", "200000"], env: env, timeout: 120)
        var c = r.checksByName
        XCTAssertEqual(c["qdrant.search_latency"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual((c["qdrant.search_latency"]?["metrics"] as? [String: Any])?["searches"] as? Double, 3, r.stdout)
        XCTAssertGreaterThanOrEqual((c["qdrant.throughput"]?["metrics"] as? [String: Any])?["requests_total"] as? Double ?? 0, 3, r.stdout)
        XCTAssertTrue((c["qdrant.throughput"]?["message"] as? String ?? "").contains("Qdrant 1.19.0, 1 collection(s)"), r.stdout)
        XCTAssertEqual(c["qdrant.errors"]?["status"] as? String, "ok", r.stdout)
        XCTAssertTrue((c["redis.ops"]?["message"] as? String ?? "").contains("hit rate 50.0% (1 hits, 1 misses)"), r.stdout)
        XCTAssertNotNil(c["redis.memory"], r.stdout)
        XCTAssertEqual(c["access.response_time"]?["status"] as? String, "warning", r.stdout)
        XCTAssertTrue((c["access.response_time"]?["message"] as? String ?? "").contains("100 requests in the last 5m"), r.stdout)
        XCTAssertTrue((c["access.response_time"]?["message"] as? String ?? "").contains("2.00% answered 5xx"), r.stdout)
        XCTAssertTrue((c["api.embedding_generation_seconds"]?["message"] as? String ?? "").contains("4 observations, mean 150.0 ms"), r.stdout)
        XCTAssertTrue((c["api.http_request_duration_seconds"]?["message"] as? String ?? "").contains("mean 50.0 ms"), r.stdout)
        XCTAssertNotNil(c["host.cpu"], r.stdout)
        XCTAssertNotNil(c["host.memory"], r.stdout)
        XCTAssertEqual(c["containers"]?["status"] as? String, "unknown", "no engine here: said, not made up: \(r.stdout)")

        // the same searches over a limit of 0 ms: a warning; 1% of errors allowed no more
        r = Harness.run(base + ["--latency_warn_ms", "0", "--error_rate_warn", "5", "--skip", "containers,host,redis,api"], env: env, timeout: 120)
        c = r.checksByName
        XCTAssertEqual(c["qdrant.search_latency"]?["status"] as? String, "warning", r.stdout)
        XCTAssertEqual(c["access.response_time"]?["status"] as? String, "ok", r.stdout)
        XCTAssertNil(c["redis.ops"], "skipped: \(r.stdout)")

        // --watch: a JSON line per round, then each check's worst round
        r = Harness.run(["run", "perf/metrics", "--skip", "containers,host,api,access", "--interval", "0.2",
                         "--watch", "0.2", "--count", "2", "--json"], env: env, timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let rounds = lines.filter { $0.hasPrefix("{") }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(rounds.map { $0["round"] as? Int }, [1, 2], r.stdout)
        XCTAssertEqual((rounds.last?["checks"] as? [[String: Any]])?.compactMap { $0["name"] as? String },
                       ["qdrant.throughput", "qdrant.errors", "qdrant.search_latency", "redis.ops", "redis.memory"], r.stdout)
        XCTAssertTrue(r.stdout.contains("qdrant.search_latency: worst of 2 round(s)"), r.stdout)

        let bad = Harness.run(["run", "perf/metrics", "--skip", "nothing"], env: env)
        XCTAssertEqual(bad.status, 3, bad.stdout)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("--skip: unknown part nothing"), bad.stdout + bad.stderr)
    }
}
