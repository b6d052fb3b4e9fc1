import Foundation
import OpshTestSupport
import XCTest

/// troubleshoot/: what each gathers and the advice it derives, on a real redis-server, the
/// Qdrant stand-in, a small HTTP server in the API's place and a process of the test's own that
/// grows. No Docker engine is reachable: the container steps say so.
final class TroubleshootTests: XCTestCase {
    func checks(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [String: [String: Any]] {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return [:]
        }
        var out: [String: [String: Any]] = [:]
        for c in doc["checks"] as? [[String: Any]] ?? [] { out[c["name"] as! String] = c }
        return out
    }
    func message(_ c: [String: Any]?) -> String { c?["message"] as? String ?? "" }

    func testMemoryFindsTheUnboundedCacheAndAGrowingProcess() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        // a process that grows by 8 MiB every 0.1 s for 30 s
        let grower = Process()
        grower.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        grower.arguments = ["python3", "-c", "import time\na=[]\nfor _ in range(300):\n    a.append(bytearray(8<<20)); time.sleep(0.1)"]
        try grower.run()
        defer { grower.terminate(); grower.waitUntilExit() }
        let r = Harness.run(["--json", "run", "troubleshoot/memory", "--top", "500", "--watch", "2"],
                            env: ["REDIS_URL": redis.url, "DOCKER_HOST": "unix:///nonexistent/docker.sock"], timeout: 120)
        let c = checks(r)
        XCTAssertNotNil(c["memory.host"], r.stdout)
        XCTAssertEqual(c["memory.growth.\(grower.processIdentifier)"]?["status"] as? String, "warning", c.keys.sorted().joined(separator: ","))
        XCTAssertEqual(c["memory.cache"]?["status"] as? String, "warning")
        XCTAssertTrue(message(c["memory.advice"]).contains("redis/cache-optimize --set-maxmemory 2gb --set-policy allkeys-lru"), message(c["memory.advice"]))
        XCTAssertEqual(c["memory.containers"]?["status"] as? String, "unknown")
        // it changed nothing
        XCTAssertEqual(sh("redis-cli -p \(redis.port) CONFIG GET maxmemory | tail -1").output, "0\n")
    }

    func testSearchReadsEveryCollection() throws {
        let q = try QdrantStandin()
        defer { q.stop() }
        let seed = Harness.run(["-e", """
            local c = require("opsh.qdrant").connect()
            for _, name in ipairs { "docs", "faq" } do
              assert(c:create_collection(name, { vectors = { size = 4, distance = "Dot" } }))
              local pts = {}
              for i = 1, 20 do pts[i] = { id = i, vector = { 1, i, 0, 1 } } end
              assert(c:upsert(name, pts))
            end
            """], env: ["QDRANT_URL": q.url])
        XCTAssertEqual(seed.status, 0, seed.stderr)
        let r = Harness.run(["--json", "--set", "thresholds={}", "run", "troubleshoot/search", "--probes", "3"], env: ["QDRANT_URL": q.url], timeout: 120)
        let c = checks(r)
        XCTAssertTrue(message(c["search.docs.status"]).contains("20 of 20") || message(c["search.docs.status"]).contains("of 20 points"), r.stdout)
        XCTAssertNotNil(c["search.faq.status"], r.stdout)
        XCTAssertNotNil(c["search.advice"])
        let down = Harness.run(["--json", "run", "troubleshoot/search"], env: ["QDRANT_URL": "http://127.0.0.1:\(RedisServer.freePort())"])
        XCTAssertEqual(down.status, 2, down.stdout)
    }

    func testConnectivityAdviceNamesWhatDoesNotAnswer() throws {
        let q = try QdrantStandin()
        defer { q.stop() }
        let api = try HTTPTestServer()
        defer { api.stop() }
        let cfg = Harness.write("return { api_url = \"\(api.url)\" }", to: "config.lua")
        let good = Harness.run(["--json", "--config", cfg, "run", "troubleshoot/connectivity", "--skip", "containers,host"], env: ["QDRANT_URL": q.url])
        XCTAssertEqual(good.status, 0, good.stdout + good.stderr)
        let c = checks(good)
        XCTAssertTrue(message(c["connectivity.api"]).contains("HTTP 200"), good.stdout)
        XCTAssertTrue(message(c["connectivity.qdrant"]).contains("/healthz: HTTP 200"), good.stdout)
        let closed = "http://127.0.0.1:\(RedisServer.freePort())"
        let bad = Harness.run(["--json", "--config", cfg, "run", "troubleshoot/connectivity", "--skip", "containers,host"], env: ["QDRANT_URL": closed])
        XCTAssertEqual(bad.status, 2, bad.stdout)
        let b = checks(bad)
        XCTAssertEqual(b["connectivity.qdrant"]?["status"] as? String, "critical")
        XCTAssertTrue(message(b["connectivity.advice"]).contains("connectivity.qdrant: nothing listens there"), message(b["connectivity.advice"]))
    }
}
