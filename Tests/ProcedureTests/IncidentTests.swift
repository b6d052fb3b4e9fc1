import Foundation
import OpshTestSupport
import XCTest

/// incident/: classification by the guide's definitions, the P1 response with its record and
/// diagnostics archive, the escalation timers (under libfaketime) and the review; against a
/// real redis-server and the Qdrant stand-in, with a recording webhook. No Docker engine is
/// reachable (DOCKER_HOST points nowhere): the container parts report that, the rest goes on.
final class IncidentTests: XCTestCase {
    var state: URL!
    var redis: RedisServer!
    var qdrant: QdrantStandin?

    override func setUpWithError() throws {
        state = Harness.tempDir("state")
        redis = try RedisServer()
    }

    override func tearDown() {
        redis?.stop()
        qdrant?.stop()
    }

    /// Only the Qdrant and Redis parts of the health check: the host's load and the absent
    /// Docker engine must not decide these tests.
    let skip = ["--skip", "services,logs,queue,system"]

    func env(qdrantURL: String, redisURL: String? = nil, webhook: String? = nil) -> [String: String] {
        var e = ["QDRANT_URL": qdrantURL, "REDIS_URL": redisURL ?? redis.url, "DOCKER_HOST": "unix:///nonexistent/docker.sock",
                 "OPSH_STATE_DIR": state.path, "TZ": "UTC"]
        if let webhook { e["SLACK_WEBHOOK_URL"] = webhook }
        return e
    }

    func checks(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [String: [String: Any]] {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return [:]
        }
        var out: [String: [String: Any]] = [:]
        for c in doc["checks"] as? [[String: Any]] ?? [] { out[c["name"] as! String] = c }
        return out
    }

    func status(_ c: [String: Any]?) -> String { c?["status"] as? String ?? "missing" }
    func message(_ c: [String: Any]?) -> String { c?["message"] as? String ?? "" }
    func metric(_ c: [String: Any]?, _ m: String) -> Double? { ((c?["metrics"] as? [String: Any])?[m] as? NSNumber)?.doubleValue }

    var deadQdrant: String { "http://127.0.0.1:\(RedisServer.freePort())" }

    func testClassificationFollowsTheGuidesDefinitions() throws {
        let q = try QdrantStandin()
        qdrant = q
        // all up: the bare redis-server has no persistence, a warning: P3, exit 1
        let minor = Harness.run(["--json", "run", "incident/classify"] + skip, env: env(qdrantURL: q.url), timeout: 120)
        XCTAssertEqual(minor.status, 1, minor.stdout + minor.stderr)
        let m = checks(minor)
        XCTAssertEqual(metric(m["incident.severity"], "severity"), 3, message(m["incident.severity"]))
        XCTAssertEqual(status(m["incident.reason.redis.persistence.rdb"]), "warning")

        // the cache does not answer: partial outage, P2 (cache_down)
        let noCache = Harness.run(["--json", "run", "incident/classify"] + skip,
                                  env: env(qdrantURL: q.url, redisURL: "redis://127.0.0.1:\(RedisServer.freePort())"), timeout: 120)
        XCTAssertEqual(noCache.status, 2, noCache.stdout)
        let p2 = checks(noCache)
        XCTAssertEqual(metric(p2["incident.severity"], "severity"), 2)
        XCTAssertTrue(message(p2["incident.severity"]).contains("P2 HIGH (cache_down)"), message(p2["incident.severity"]))

        // the vector database does not answer: system down, P1 (database_down), whatever else is wrong
        q.stop()
        let down = Harness.run(["--json", "run", "incident/classify"] + skip, env: env(qdrantURL: q.url), timeout: 120)
        XCTAssertEqual(down.status, 2, down.stdout)
        let p1 = checks(down)
        XCTAssertEqual(metric(p1["incident.severity"], "severity"), 1)
        XCTAssertTrue(message(p1["incident.severity"]).contains("P1 CRITICAL (database_down)"), message(p1["incident.severity"]))
        XCTAssertEqual(status(p1["incident.reason.qdrant.healthz"]), "critical")
        // the classification changes nothing: no record, no archive
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state.path), [])
    }

    func testTheRulesOnChecksAPartCannotProduce() throws {
        // every service down is "system down"; a critical security check is a breach; UNKNOWN is listed, not ignored
        let r = Harness.run(["-e", """
            local incidents = require "opsh.incidents"
            local function show(checks)
              local c = incidents.classify(checks)
              print(c.severity, c.type, #c.reasons, table.concat(c.unknown, ","))
            end
            show { { name = "service.qdrant", status = "critical" }, { name = "service.dragonfly", status = "critical" } }
            show { { name = "service.qdrant", status = "ok" }, { name = "service.dragonfly", status = "critical" } }
            show { { name = "security.tls", status = "critical" }, { name = "redis.ping", status = "critical" } }
            show { { name = "system.disk./", status = "critical" }, { name = "errors.qdrant", status = "unknown" } }
            show { { name = "redis.ping", status = "ok" } }
            """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            P1\tsystem_down\t3\t
            P2\tpartial_outage\t1\t
            P1\tsecurity_breach\t2\t
            P1\tdisk_full\t1\terrors.qdrant
            nil\tnil\t0\t

            """)
    }

    func testRespondRecordsEveryStepAndEscalationFollowsTheTimers() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime") else {
            return XCTFail("faketime is not installed (scripts/setup installs it)")
        }
        let hook = try HTTPTestServer()
        defer { hook.stop() }
        let e = env(qdrantURL: deadQdrant, webhook: hook.url + "/record/slack")

        let r = Harness.run(["--json", "run", "incident/respond"] + skip, env: e, timeout: 180)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let c = checks(r)
        XCTAssertTrue(message(c["incident.assess"]).hasPrefix("P1 CRITICAL (database_down)"), message(c["incident.assess"]))
        let notified = message(c["incident.notify"])
        guard let id = notified.range(of: #"INC-\d{8}-\d{6}-[0-9a-f]{4}"#, options: .regularExpression).map({ String(notified[$0]) }) else {
            return XCTFail("no incident id in \(notified)")
        }
        XCTAssertEqual(status(c["incident.notify"]), "ok", notified)
        // step 4: the guide's fix for database_down restarts Qdrant's container: no engine here, said so
        XCTAssertTrue(c.keys.contains { $0 == "docker" || $0.hasPrefix("restart.") }, c.keys.sorted().joined(separator: ","))
        XCTAssertEqual(status(c["incident.verify"]), "critical")
        XCTAssertTrue(message(c["incident.verify"]).contains("NOT resolved"))

        // the webhook got the guide's notification, with the id
        XCTAssertEqual(hook.received.count, 1)
        XCTAssertTrue(hook.received.first?["body"]?.contains(id) ?? false)

        // the record: every step in order, level 1 notified
        let recordURL = state.appendingPathComponent("incidents/\(id).json")
        func record() throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(contentsOf: recordURL)) as! [String: Any] }
        var rec = try record()
        XCTAssertEqual((rec["timeline"] as! [[String: Any]]).map { $0["step"] as! String }, ["assess", "notify", "diagnostics", "fix", "verify"])
        XCTAssertEqual(rec["status"] as? String, "open")
        XCTAssertEqual((rec["escalation"] as! [String: Any])["level"] as? Int, 1)
        let attrs = try FileManager.default.attributesOfItem(atPath: recordURL.path)
        XCTAssertEqual((attrs[.posixPermissions] as! NSNumber).intValue, 0o600)

        // the diagnostics archive: Redis INFO inside, the unreachable Qdrant and Docker listed as problems
        let archive = rec["diagnostics"] as? String ?? ""
        XCTAssertTrue(archive.hasPrefix(state.path + "/diagnostics/"), archive)
        let list = Shell.run(["/bin/tar", "-tzf", archive])
        XCTAssertEqual(list.status, 0, list.stderr)
        for member in ["./redis/info.txt", "./opsh/config.txt", "./problems.txt", "./system/meminfo.txt"] {
            XCTAssertTrue(list.stdout.split(separator: "\n").contains { $0 == member || "./" + $0 == member }, "\(member) not in \(list.stdout)")
        }

        // the timers, at simulated times after the incident opened
        func escalate(after seconds: Int, _ extra: [String] = []) -> Run {
            Harness.run(["-f", "+\(seconds)", Harness.binary.path, "--json", "run", "incident/escalate"] + extra,
                        env: e.merging(["FAKETIME_DONT_FAKE_MONOTONIC": "1"]) { $1 },
                        executable: URL(fileURLWithPath: "/usr/bin/faketime"), timeout: 60)
        }
        func roles() -> [String] {
            hook.received.dropFirst().map { b in
                ["Senior Operator", "System Architect"].first { b["body"]!.contains($0) } ?? "?"
            }
        }
        XCTAssertEqual(escalate(after: 5 * 60).status, 0)             // within level 1's 15 minutes
        XCTAssertEqual(hook.received.count, 1)
        XCTAssertEqual(escalate(after: 16 * 60).status, 1)            // level 1 silent: level 2
        XCTAssertEqual(roles(), ["Senior Operator"])
        XCTAssertEqual(escalate(after: 17 * 60).status, 0)            // run again: nothing twice
        XCTAssertEqual(hook.received.count, 2)
        _ = escalate(after: 47 * 60)                                  // 30 more: level 3
        _ = escalate(after: 108 * 60)                                 // the last level's hour: re-notified
        XCTAssertEqual(roles(), ["Senior Operator", "System Architect", "System Architect"])
        XCTAssertTrue(hook.received.last?["body"]?.contains("REMINDER") ?? false)

        // acknowledged: the timers stop
        let ack = escalate(after: 110 * 60, ["--ack", id, "--by", "alice"])
        XCTAssertEqual(ack.status, 0, ack.stdout + ack.stderr)
        _ = escalate(after: 300 * 60)
        XCTAssertEqual(hook.received.count, 4)
        rec = try record()
        XCTAssertEqual((rec["acknowledged"] as? [String: Any])?["by"] as? String, "alice")

        // resolved, reviewed, listed
        XCTAssertEqual(Harness.run(["run", "incident/escalate", "--resolve", id], env: e).status, 0)
        let review = Harness.run(["--json", "run", "incident/review", "--id", id, "--root_cause", "qdrant OOM",
                                  "--lesson", "alert on qdrant memory", "--by", "alice"], env: e)
        XCTAssertEqual(review.status, 0, review.stdout + review.stderr)
        rec = try record()
        XCTAssertEqual(rec["status"] as? String, "resolved")
        let lessons = rec["lessons"] as! [[String: Any]]
        XCTAssertEqual(lessons.first?["root_cause"] as? String, "qdrant OOM")
        let all = checks(Harness.run(["--json", "run", "incident/review"], env: e))
        XCTAssertTrue(message(all["incident." + id]).contains("resolved"), message(all["incident." + id]))
        XCTAssertEqual(metric(all["incident." + id], "lessons"), 1)
    }

    func testDiagnosticsRedactSecrets() throws {
        let secretRedis = try RedisServer(extraArguments: ["--requirepass", "s3cret-redis-pw"])
        defer { secretRedis.stop() }
        let e = env(qdrantURL: deadQdrant, redisURL: "redis://:s3cret-redis-pw@127.0.0.1:\(secretRedis.port)")
            .merging(["QDRANT_API_KEY": "s3cret-qdrant-key", "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/s3cret-hook"]) { $1 }
        let r = Harness.run(["--json", "run", "incident/diagnostics", "--incident", "INC-20261203-120000-abcd"], env: e, timeout: 120)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)   // Qdrant and Docker unreachable: incomplete, said so
        let c = checks(r)
        XCTAssertTrue(message(c["diagnostics.incomplete"]).contains("qdrant"), message(c["diagnostics.incomplete"]))
        let archive = String(message(c["diagnostics.archive"]).split(separator: ":")[0])
        let out = Harness.tempDir("extract")
        XCTAssertEqual(Shell.run(["/bin/tar", "-xzf", archive, "-C", out.path]).status, 0)
        let info = try String(contentsOf: out.appendingPathComponent("redis/info.txt"), encoding: .utf8)
        XCTAssertTrue(info.contains("redis_version:"))
        // no secret anywhere in the archive
        let grep = Shell.run(["/bin/grep", "-r", "-l", "s3cret", out.path])
        XCTAssertEqual(grep.stdout, "", "secrets found in \(grep.stdout)")
        XCTAssertEqual(grep.status, 1)
        // the manifest records the incident; the staging directory is gone
        let manifest = try String(contentsOf: URL(fileURLWithPath: archive).deletingLastPathComponent().appendingPathComponent("manifest.json"), encoding: .utf8)
        XCTAssertTrue(manifest.contains("INC-20261203-120000-abcd"))
        let left = try FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("diagnostics").path)
        XCTAssertEqual(left.filter { $0.hasPrefix(".staging") }, [])
    }
}
