import Foundation
import OpshTestSupport
import XCTest

/// maintenance/weekly, monthly, quarterly and maintenance/packages: the guide's steps in order,
/// a report per step, a step that cannot run reported and the next one still run. A stand-in
/// `apt` on PATH lists the upgradable packages, so the result does not depend on this machine.
final class MaintenanceTests: XCTestCase {
    func checks(_ r: Run) -> [[String: Any]] {
        XCTAssertFalse(r.checks.isEmpty, "not a report: \(r.stdout) \(r.stderr)")
        return r.checks
    }

    func byName(_ r: Run) -> [String: [String: Any]] { r.checksByName }

    /// A directory holding an `apt` that prints `listing` for `apt list --upgradable`.
    func fakeApt(_ listing: String) -> String {
        let dir = Harness.tempDir("apt")
        let path = Harness.write("#!/bin/sh\n[ \"$1 $2\" = \"list --upgradable\" ] || exit 9\ncat <<'EOF'\nListing...\n\(listing)EOF\n", to: "apt", in: dir)
        chmod(path, 0o755)
        return dir.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }

    func testPackagesCountsSecurityUpdatesApartAndUpgradesNothing() {
        var path = fakeApt("""
        openssl/stable-security 3.0.15 amd64 [upgradable from: 3.0.14]
        curl/stable 7.88.2 amd64 [upgradable from: 7.88.1]
        libssl3/stable-security 3.0.15 amd64 [upgradable from: 3.0.14]

        """)
        var r = Harness.run(["--json", "run", "maintenance/packages"], env: ["PATH": path])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        var c = byName(r)
        XCTAssertEqual(c["packages.security"]?["message"] as? String,
                       "2 security update(s): openssl, libssl3 (apt's lists as last refreshed; nothing upgraded)")
        XCTAssertEqual(c["packages"]?["message"] as? String, "3 package(s) upgradable: openssl, curl, libssl3")
        path = fakeApt("")
        r = Harness.run(["--json", "run", "maintenance/packages"], env: ["PATH": path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        c = byName(r)
        XCTAssertEqual(c["packages"]?["message"] as? String, "every package is up to date")
    }

    func testWeeklyRunsTheGuidesStepsInOrderWithAReportPerStep() throws {
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        let seed = qdrant.seed("documents", points: 50)
        XCTAssertEqual(seed.status, 0, seed.stderr)
        _ = Shell.run(["sh", "-c", "(for i in $(seq 1 50); do echo \"SET cache:$i $i\"; done; echo 'SET keep:me 1') | redis-cli -p \(redis.port) > /dev/null"])
        // a tiny cache threshold: step 3 clears the cache pattern, and only it
        let config = Harness.write("return { thresholds = { redis_cache_max_memory = '1kb' } }", to: "config.lua")
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "PATH": fakeApt("openssl/stable-security 3 amd64 [upgradable from: 2]\n")]
        let r = Harness.run(["--json", "--yes", "--config", config, "run", "maintenance/weekly"], env: env, timeout: 300)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)   // the security update waiting
        let names = checks(r).map { $0["name"] as! String }
        let c = byName(r)
        XCTAssertEqual(c["step.1"]?["status"] as? String, "ok", r.stdout)
        XCTAssertTrue((c["step.1"]?["message"] as? String ?? "").hasPrefix("1, 2, 4. Database optimization, index rebuilding, vacuum: OK"), r.stdout)
        XCTAssertEqual(c["step.2"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(c["step.3"]?["status"] as? String, "warning", r.stdout)
        XCTAssertEqual(Shell.run(["redis-cli", "-p", String(redis.port), "DBSIZE"]).stdout, "1\n", "only the cache pattern went")
        // each step's checks come before its summary, and the steps in the guide's order
        let s1 = names.firstIndex(of: "step.1")!, s2 = names.firstIndex(of: "step.2")!, s3 = names.firstIndex(of: "step.3")!
        XCTAssertTrue(s1 < s2 && s2 < s3, "\(names)")
        XCTAssertTrue(names[..<s1].allSatisfy { $0.hasPrefix("qdrant.") }, "\(names)")
        XCTAssertTrue(names[(s1 + 1)..<s2].allSatisfy { $0.hasPrefix("cache.") }, "\(names)")
        XCTAssertTrue(names[(s2 + 1)..<s3].allSatisfy { $0.hasPrefix("packages") }, "\(names)")
    }

    func testMonthlyRunsEveryStepEvenWhenOneCannot() {
        // no Docker engine, no Prometheus, no resource history: the backup and the image update
        // fail, the analysis and the capacity review are UNKNOWN; every step still runs and reports
        let config = Harness.write("return { prometheus_url = 'http://127.0.0.1:1', backup_dir = '\(Harness.tempDir("b").path)' }", to: "config.lua")
        let env = ["DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": fakeApt("")]
        let r = Harness.run(["--json", "--yes", "--config", config, "run", "maintenance/monthly"], env: env, timeout: 300)
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        let c = byName(r)
        let expect = [("step.1", "1. Full system backup: CRITICAL"), ("step.2", "2. Security updates: OK"),
                      ("step.3", "3. Dependency updates (images): CRITICAL"), ("step.4", "4. Performance analysis: UNKNOWN"),
                      ("step.5", "5. Capacity planning review: UNKNOWN")]
        for (name, prefix) in expect {
            XCTAssertTrue((c[name]?["message"] as? String ?? "").hasPrefix(prefix), "\(name): \(c[name] ?? [:])")
        }
        XCTAssertNotNil(c.keys.first { $0.hasPrefix("system.capacity") }, "step 5 runs system/capacity: \(c.keys.sorted())")
        let names = checks(r).map { $0["name"] as! String }
        XCTAssertEqual(names.filter { $0.hasPrefix("step.") }, ["step.1", "step.2", "step.3", "step.4", "step.5"])
    }

    func testQuarterlyRunsItsStepsAndKeepsToItsWindow() throws {
        // a security update waiting, a certificate of the configuration expiring in 10 days
        // (its own CA), a real Redis without a password, Qdrant without an API key, no Docker
        // engine: steps 1 and 3 warn, step 2 finds both open doors but cannot read the containers
        // (UNKNOWN, the worst), step 4 cannot run
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        let cert = try TestCertificates().selfSigned("soon", cn: "soon.test", days: 10)
        let config = Harness.write("return { tls_files = { '\(cert)' }, tls_ca_file = '\(cert)' }", to: "config.lua")
        let env = ["REDIS_URL": redis.url, "QDRANT_URL": qdrant.url, "DOCKER_HOST": "unix:///nonexistent/docker.sock",
                   "PATH": fakeApt("openssl/stable-security 3 amd64 [upgradable from: 2]\n")]
        let r = Harness.run(["--json", "--yes", "--config", config, "run", "maintenance/quarterly"], env: env, timeout: 300)
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        let c = byName(r)
        let expect = [("step.1", "1. Security patches: WARNING"), ("step.2", "2. Security configuration audit: UNKNOWN"),
                      ("step.3", "3. Certificates: WARNING"), ("step.4", "4. Major updates (images): CRITICAL")]
        for (name, prefix) in expect {
            XCTAssertTrue((c[name]?["message"] as? String ?? "").hasPrefix(prefix), "\(name): \(c[name] ?? [:])")
        }
        XCTAssertEqual(c["audit.redis.requirepass"]?["status"] as? String, "critical", "step 2 audited the Redis it was given")
        XCTAssertEqual(c["audit.qdrant.api_key"]?["status"] as? String, "critical", "and the Qdrant")
        XCTAssertEqual(c["audit.docker"]?["status"] as? String, "unknown")
        let names = checks(r).map { $0["name"] as! String }
        XCTAssertEqual(names.filter { $0.hasPrefix("step.") }, ["step.1", "step.2", "step.3", "step.4"])
        // outside the quarterly window (first Sunday of January, April, July, October 01:00-04:00
        // UTC) it refuses to start, and with --dry-run it shows its steps without changing anything
        let windows = Harness.run(["agent", "windows", "--json"])
        let quarterly = try (JSONSerialization.jsonObject(with: Data(windows.stdout.utf8)) as! [[String: Any]]).first { $0["name"] as? String == "quarterly" }
        if quarterly?["open"] as? Bool == false {
            let refused = Harness.run(["--yes", "--config", config, "run", "maintenance/quarterly"],
                                      env: env.merging(["OPSH_MAINTENANCE_WINDOWS": "enforce"]) { $1 })
            XCTAssertEqual(refused.status, 3, refused.stdout + refused.stderr)
            XCTAssertTrue(refused.stderr.contains("may only run in the quarterly maintenance window"), refused.stderr)
            XCTAssertFalse(refused.stdout.contains("step.1"), "it did not run: \(refused.stdout)")
        }
    }
}
