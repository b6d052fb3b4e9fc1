import Foundation
import OpshTestSupport
import XCTest

/// daily/check and what it is made of: opsh.procedure, system/resources.
final class DailyCheckTests: XCTestCase {
    func checks(_ r: Run) throws -> [[String: Any]] {
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        return doc["checks"] as! [[String: Any]]
    }

    func testDailyCheckRunsEveryPartAndReportsInTheGuidesOrder() throws {
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        // no Docker engine at this address: the service parts fail, the others still report
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "TASK_QUEUE_REDIS_URL": redis.url + "/1",
                   "DOCKER_HOST": "unix:///nonexistent/docker.sock"]
        // latency limits out of the way (config.lua thresholds): a loaded machine must not decide this test
        let config = Harness.write("return { thresholds = { redis_latency_warn_ms = 5000, redis_latency_crit_ms = 10000, qdrant_latency_warn_ms = 5000, qdrant_latency_crit_ms = 10000 } }", to: "config.lua")
        // the deadline out of the way too (the stalled-service test below is about it)
        let slack = ["--timeout", "20", "--deadline", "90"]
        let r = Harness.run(["--json", "--config", config, "run", "daily/check"] + slack, env: env, timeout: 120)
        // services/errors cannot read the logs: UNKNOWN, the worst status, decides the exit code
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        let names = try checks(r).map { $0["name"] as! String }
        func first(_ prefix: String) -> Int { names.firstIndex { $0.hasPrefix(prefix) } ?? -1 }
        for p in ["qdrant.healthz", "redis.ping", "system.memory", "system.load", "system.disk./", "queue.depth"] {
            XCTAssertGreaterThanOrEqual(first(p), 0, "\(p) missing from \(names)")
        }
        XCTAssertLessThan(first("qdrant."), first("redis."))
        XCTAssertLessThan(first("redis."), first("system."))
        XCTAssertLessThan(first("system."), first("queue."))
        let byName = Dictionary(try checks(r).map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byName["qdrant.readyz"]?["status"] as? String, "ok")
        XCTAssertEqual(byName["redis.ping"]?["status"] as? String, "ok")
        // the service parts say what went wrong instead of stopping the check
        let serviceChecks = try checks(r).filter { ($0["message"] as? String ?? "").contains("/nonexistent/docker.sock") }
        XCTAssertFalse(serviceChecks.isEmpty, names.joined(separator: ","))
        XCTAssertTrue(serviceChecks.allSatisfy { ["critical", "unknown"].contains($0["status"] as! String) })

        // --skip leaves parts out
        let skipped = Harness.run(["--json", "--config", config, "run", "daily/check", "--skip", "services,logs"] + slack, env: env, timeout: 120)
        let c2 = try checks(skipped)
        let names2 = c2.map { $0["name"] as! String }
        XCTAssertFalse(names2.contains { $0.hasPrefix("service") || $0.hasPrefix("errors") || $0 == "docker" }, names2.joined(separator: ","))
        let status = Dictionary(c2.map { ($0["name"] as! String, $0["status"] as! String) }, uniquingKeysWith: { a, _ in a })
        for ok in ["qdrant.healthz", "qdrant.readyz", "qdrant.livez", "redis.ping", "system.memory", "system.disk./", "queue.depth"] {
            XCTAssertEqual(status[ok], "ok", ok)
        }
        // what this bare test stack lacks is reported as such: no persistence, no ARQ worker
        XCTAssertEqual(status["redis.persistence.rdb"], "warning")
        XCTAssertEqual(status["queue.worker"], "critical")
    }

    func testProcedureModuleRunsSafeProceduresOnly() throws {
        let qdrant = try QdrantStandin()
        let r = Harness.run(["-e", """
            local procedure = require "opsh.procedure"
            local report = require "opsh.report"
            print(procedure.load("qdrant/health").categories[1], procedure.load("nope"))
            local ctx = report.new("mine")
            print(procedure.run("qdrant/health", { timeout = 2 }, ctx), #ctx.checks >= 4, ctx.checks[1].name)
            print(procedure.run("qdrant/optimize", {}, ctx))
            print(procedure.run("qdrant/health", { latency_warn_ms = "fast" }, ctx))
            -- modules required for the first time inside tasks load on the task's own stack
            local opsh = require "opsh"
            print(opsh.all { function() return require("opsh.units").bytes_text(2048) end,
                             function() return require("opsh.procedure") == procedure end })
            """], env: ["QDRANT_URL": qdrant.url])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            qdrant\tnil\tno procedure named 'nope'
            true\ttrue\tqdrant.healthz
            nil\tqdrant/optimize is not a safe procedure: pass allow_changes = true (and say so in your categories)
            nil\targument --latency_warn_ms must be a number, got 'fast' (see: opsh help qdrant/health)
            2.0 KiB\ttrue

            """)
    }

    /// The guide's stalled services: Redis and Qdrant frozen (SIGSTOP) while the check runs. The
    /// check does not wait for them: both are reported, and with requests allowed longer than the
    /// whole check (--timeout 30, --deadline 1) the parts still waiting are stopped at the
    /// deadline and reported as not finished. Nothing here races a timer against the machine:
    /// the services stay frozen until the check is over.
    func testTwoStalledServicesAreReportedWithoutStallingTheCheck() throws {
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        func thaw() { kill(redis.process.processIdentifier, SIGCONT); kill(qdrant.process.processIdentifier, SIGCONT) }
        defer { thaw(); redis.stop(); qdrant.stop() }
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "TASK_QUEUE_REDIS_URL": redis.url + "/1"]
        kill(redis.process.processIdentifier, SIGSTOP)
        kill(qdrant.process.processIdentifier, SIGSTOP)
        let r = Harness.run(["--json", "run", "daily/check", "--skip", "services,logs,system"], env: env, timeout: 60)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let critical = Set(try checks(r).filter { $0["status"] as? String == "critical" }.map { $0["name"] as! String })
        XCTAssertTrue(critical.contains { $0.hasPrefix("qdrant") }, "\(critical)")
        XCTAssertTrue(critical.contains { $0.hasPrefix("redis") }, "\(critical)")
        let late = Harness.run(["--json", "run", "daily/check", "--skip", "services,logs,system", "--timeout", "30", "--deadline", "1"], env: env, timeout: 60)
        thaw()
        let byName = Dictionary(try checks(late).map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        for part in ["qdrant", "redis"] {
            XCTAssertEqual(byName[part]?["status"] as? String, "critical", late.stdout)
            XCTAssertTrue((byName[part]?["message"] as? String ?? "").contains("did not finish within the 1s deadline"), late.stdout)
        }
    }

    func testSystemResourcesThresholds() throws {
        let r = Harness.run(["--json", "run", "system/resources", "--paths", "/,/tmp", "--disk_warn", "0", "--memory_crit", "0", "--load_warn", "1000", "--load_crit", "1000"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let c = Dictionary(try checks(r).map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(c["system.memory"]?["status"] as? String, "critical")
        XCTAssertEqual(c["system.load"]?["status"] as? String, "ok")
        XCTAssertEqual(c["system.disk./"]?["status"] as? String, "warning")
        XCTAssertEqual(c["system.disk./tmp"]?["status"] as? String, "warning")
        let m = c["system.memory"]!["metrics"] as! [String: Any]
        XCTAssertGreaterThan(m["total_bytes"] as! Int, 0)
        XCTAssertEqual(Harness.run(["run", "system/resources", "--paths", "/nonexistent/x"]).status, 3)
    }
}
