import Foundation
import OpshTestSupport
import XCTest

/// security/tls and security/config-audit through the built binary, against real certificates
/// made by the test, an openssl s_server, a real redis-server and real files.
final class SecurityProcedureTests: XCTestCase {
    var certs: TestCertificates!
    var home: URL!

    override func setUp() {
        certs = TestCertificates()
        home = Harness.tempDir("home")
    }

    override func tearDown() { certs.remove() }

    var luaDir: String { Harness.packageRoot.appendingPathComponent("lua").path }

    func opsh(_ name: String, _ args: [String], env: [String: String] = [:]) -> (Run, [String: [String: Any]]) {
        let r = Harness.run(["--json", "--path", luaDir, "run", name] + args, env: ["HOME": home.path].merging(env) { $1 }, timeout: 120)
        let obj = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        XCTAssertEqual(obj["schema"] as? String, "opsh.report/v1", "\(r.stdout) \(r.stderr)")
        var checks: [String: [String: Any]] = [:]
        for c in obj["checks"] as? [[String: Any]] ?? [] { checks[c["name"] as? String ?? "?"] = c }
        return (r, checks)
    }

    func status(_ checks: [String: [String: Any]], _ name: String) -> String? { checks[name]?["status"] as? String }
    func message(_ checks: [String: [String: Any]], _ name: String) -> String { checks[name]?["message"] as? String ?? "(no check \(name) in \(checks.keys.sorted()))" }

    /// The built-in (embedded) copies are listed with their guide sections; each says it changes nothing.
    func testBuiltinsListedWithGuideSections() {
        let list = Harness.run(["list", "security"], env: ["HOME": home.path])
        XCTAssertEqual(list.status, 0, list.stderr)
        for p in ["security/tls", "security/config-audit", "security/daily"] {
            XCTAssertTrue(list.stdout.contains(p), "\(p) not in the built-in list:\n\(list.stdout)")
            let h = Harness.run(["run", p, "--help"], env: ["HOME": home.path])
            XCTAssertEqual(h.status, 0, "\(p): \(h.stderr)")
            XCTAssertTrue(h.stdout.contains("(changes nothing)"), h.stdout)
            XCTAssertTrue(h.stdout.contains("categories: security") && h.stdout.contains("safe"), h.stdout)
            XCTAssertTrue(h.stdout.contains("guide: Security Operations /"), h.stdout)
        }
    }

    func testTLSExitCodesForExpiryVerificationAndEndpoints() throws {
        let ca = try certs.ca()
        let fine = try certs.signed("fine", cn: "fine.test", days: 90, sans: "DNS:fine.test")
        let soon = try certs.signed("soon", cn: "soon.test", days: 10, sans: "DNS:soon.test")
        let urgent = try certs.signed("urgent", cn: "urgent.test", days: 5, sans: "DNS:urgent.test")
        let expired = try certs.selfSigned("expired", cn: "expired.test", days: 30, faketime: "-40d")
        let garbage = certs.path("garbage.pem")
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)

        // all fine: exit 0
        var (r, c) = opsh("security/tls", ["--file", fine, "--ca-file", ca])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertEqual(status(c, "tls.file." + fine), "ok")
        // one within 30 days: WARNING, exit 1
        (r, c) = opsh("security/tls", ["--file", fine, "--file", soon, "--ca-file", ca])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertEqual(status(c, "tls.file." + soon), "warning")
        XCTAssertTrue(message(c, "tls.file." + soon).contains("soon.test: expires"), message(c, "tls.file." + soon))
        // within 7 days: CRITICAL, exit 2; so is a chain that does not verify (no CA given)
        (r, c) = opsh("security/tls", ["--file", urgent, "--ca-file", ca])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertEqual(status(c, "tls.file." + urgent), "critical")
        (r, c) = opsh("security/tls", ["--file", fine])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(message(c, "tls.file." + fine).contains("does not verify against system: unable to get local issuer certificate"), message(c, "tls.file." + fine))
        // expired, and a file that holds no certificate: CRITICAL, each naming what is wrong
        (r, c) = opsh("security/tls", ["--file", expired, "--file", garbage, "--ca-file", expired])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(message(c, "tls.file." + expired).contains("EXPIRED on"), message(c, "tls.file." + expired))
        XCTAssertTrue(message(c, "tls.file." + garbage).hasPrefix(garbage + ": no certificate found"), message(c, "tls.file." + garbage))
        // limits from the configuration's thresholds
        let cfg = Harness.write("return { thresholds = { tls_warn_days = 5, tls_crit_days = 2 } }", to: "config.lua", in: home.appendingPathComponent(".config/opsh"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: cfg))
        (r, c) = opsh("security/tls", ["--file", soon, "--ca-file", ca])
        XCTAssertEqual(r.status, 0, r.stdout)

        // a live endpoint from the configuration (TLS_ENDPOINTS), with SNI; a refused one is CRITICAL
        let server = try TLSTestServer(cert: soon, key: certs.path("soon.key"))
        defer { server.stop() }
        let live = "127.0.0.1:\(server.port)", dead = "127.0.0.1:\(RedisServer.freePort())"
        (r, c) = opsh("security/tls", ["--ca-file", ca, "--server-name", "soon.test", "--warn-days", "30"], env: ["TLS_ENDPOINTS": live])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertEqual(status(c, "tls.endpoint." + live), "warning")
        (r, c) = opsh("security/tls", ["--ca-file", ca, "--endpoint", live, "--endpoint", dead, "--warn-days", "30"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(message(c, "tls.endpoint." + live).contains("not valid for 127.0.0.1"), message(c, "tls.endpoint." + live))
        XCTAssertTrue(message(c, "tls.endpoint." + dead).contains("Connection refused"), message(c, "tls.endpoint." + dead))
        // nothing to check: UNKNOWN
        (r, c) = opsh("security/tls", [])
        XCTAssertEqual(r.status, 3, r.stdout)
    }

    func testConfigAuditRedisAndFiles() throws {
        let dir = Harness.tempDir("audit")
        let env = dir.appendingPathComponent(".env").path, compose = dir.appendingPathComponent("docker-compose.yml").path
        try "REDIS_PASSWORD=s3cret\n".write(toFile: env, atomically: true, encoding: .utf8)
        chmod(env, 0o644)
        try """
        services:
          dragonfly:
            command: ["dragonfly", "--requirepass", "${REDIS_PASSWORD}"]
            environment:
              - QDRANT__SERVICE__API_KEY=abc123literal
              - REDIS_URL=redis://:${REDIS_PASSWORD}@dragonfly:6379
        """.write(toFile: compose, atomically: true, encoding: .utf8)
        let common = ["--skip", "qdrant,docker,tls", "--env-file", env, "--compose-file", compose]

        // no password, protected mode off: findings with severity and fix
        var redis: RedisServer? = try RedisServer(extraArguments: ["--protected-mode", "no"])
        var (r, c) = opsh("security/config-audit", ["--url", redis!.url] + common)
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertEqual(status(c, "audit.redis.requirepass"), "critical")
        XCTAssertTrue(message(c, "audit.redis.requirepass").hasPrefix("[critical] Redis at \(redis!.url) accepts every client without a password"), message(c, "audit.redis.requirepass"))
        XCTAssertTrue(message(c, "audit.redis.requirepass").contains("Fix: set requirepass"))
        XCTAssertEqual(status(c, "audit.redis.protected_mode"), "critical")
        XCTAssertEqual(status(c, "audit.redis.bind"), "ok")
        XCTAssertEqual(status(c, "audit.env.mode"), "critical")
        XCTAssertTrue(message(c, "audit.env.mode").contains("mode 0644 (readable by everyone). Fix: chmod 600 \(env)"), message(c, "audit.env.mode"))
        XCTAssertEqual(status(c, "audit.compose.secrets"), "critical")
        XCTAssertTrue(message(c, "audit.compose.secrets").contains("1 secret(s) written in it: line 5 (QDRANT__SERVICE__API_KEY)"), message(c, "audit.compose.secrets"))
        XCTAssertFalse(r.stdout.contains("abc123literal"), "a secret's value reached the report")
        redis!.stop()

        // a password set, files fixed: nothing found; the password never shows
        redis = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
        chmod(env, 0o600)
        try "services:\n  api:\n    environment:\n      - QDRANT__SERVICE__API_KEY=${QDRANT_API_KEY}\n".write(toFile: compose, atomically: true, encoding: .utf8)
        (r, c) = opsh("security/config-audit", ["--url", "redis://:s3cret@127.0.0.1:\(redis!.port)"] + common)
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertEqual(status(c, "audit.redis.requirepass"), "ok")
        XCTAssertEqual(status(c, "audit.redis.protected_mode"), "ok")
        XCTAssertEqual(status(c, "audit.env.mode"), "ok")
        XCTAssertEqual(status(c, "audit.compose.secrets"), "ok")
        XCTAssertFalse(r.stdout.contains("s3cret"))
        // without the password: requirepass is evidently set, the rest cannot be read
        (r, c) = opsh("security/config-audit", ["--url", redis!.url] + common)
        XCTAssertEqual(status(c, "audit.redis.requirepass"), "ok")
        XCTAssertEqual(status(c, "audit.redis"), "unknown")
        redis!.stop()
        redis = nil

        // a public endpoint over plain HTTP is a finding
        (r, c) = opsh("security/config-audit", ["--skip", "redis,qdrant,docker,files", "--public-url", "http://127.0.0.1:9/"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(message(c, "audit.tls.http://127.0.0.1:9/").hasPrefix("[high] http://127.0.0.1:9/ is served without TLS"))
        let help = Harness.run(["--path", luaDir, "run", "security/config-audit", "--help"])
        XCTAssertTrue(help.stdout.contains("(changes nothing)"), help.stdout)
    }

    /// Whether the build has opsh.logs (logs14's scanner, merged separately): the failed-login and
    /// access-log parts of security/daily need it.
    var haveLogs: Bool { Harness.run(["-e", "require 'opsh.logs'"]).status == 0 }

    func syslogTime(_ t: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "MMM d HH:mm:ss"
        let s = f.string(from: t)
        // syslog pads the day to two columns: "Dec  3"
        let parts = s.split(separator: " ", maxSplits: 2)
        return parts[0] + (parts[1].count == 1 ? "  " : " ") + parts[1] + " " + parts[2]
    }

    func testDailyReportsEveryPart() throws {
        let dir = Harness.tempDir("daily")
        let now = Date()
        // 12 failed logins in the last hour and one three days ago (outside the 24-hour window)
        var auth = "\(syslogTime(now.addingTimeInterval(-3 * 86400))) host sshd[9]: Failed password for root from 10.9.9.9 port 22 ssh2\n"
        for i in 0..<12 {
            auth += "\(syslogTime(now.addingTimeInterval(-3600 + Double(i)))) host sshd[\(100 + i)]: Failed password for invalid user admin\(i) from 10.0.0.\(i) port 22 ssh2\n"
            auth += "\(syslogTime(now.addingTimeInterval(-3500 + Double(i)))) host sshd[\(200 + i)]: Accepted publickey for deploy from 10.0.1.1 port 22 ssh2\n"
        }
        let authLog = Harness.write(auth, to: "auth.log", in: dir)
        // an access log with an SQL-injection attempt
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "dd/MMM/yyyy:HH:mm:ss"
        let stamp = f.string(from: now.addingTimeInterval(-600))
        let access = Harness.write("""
        10.1.1.1 - - [\(stamp) +0000] "GET /api/search?q=1 HTTP/1.1" 200 123 "-" "curl/8"
        10.1.1.2 - - [\(stamp) +0000] "GET /api/search?q=1+union+select+password HTTP/1.1" 200 99 "-" "sqlmap"
        10.1.1.1 - - [\(stamp) +0000] "GET /api/health HTTP/1.1" 429 0 "-" "curl/8"

        """, to: "access.log", in: dir)
        // a certificate 10 days from expiry, from the configuration
        let ca = try certs.ca()
        let cert = try certs.signed("api", cn: "api.test", days: 10, sans: "DNS:api.test")
        let redis = try RedisServer()
        defer { redis.stop() }
        XCTAssertEqual(sh("redis-cli -p \(redis.port) SET api_access:10.1.1.2 5000").status, 0)
        let env = ["TLS_FILES": cert, "TLS_CA_FILE": ca]
        var (r, c) = opsh("security/daily", ["--url", redis.url, "--auth-log", authLog, "--access-log", access,
                                             "--skip", "audit"], env: env)
        // warnings: logins, counters, certificate; no critical (UNKNOWN without opsh.logs)
        XCTAssertEqual(r.status, haveLogs ? 1 : 3, r.stdout + r.stderr)
        XCTAssertEqual(status(c, "api_access.10.1.1.2"), "warning")
        XCTAssertEqual(status(c, "tls.file." + cert), "warning")
        XCTAssertNotNil(status(c, "security.updates"), "\(c.keys.sorted())")
        XCTAssertNotNil((c["security.updates"]?["metrics"] as? [String: Any])?["security_updates"])
        if haveLogs {
            XCTAssertEqual(status(c, "security.auth"), "warning")
            XCTAssertTrue(message(c, "security.auth").hasPrefix("12 failed authentication attempt(s) in \(authLog) since "), message(c, "security.auth"))
            XCTAssertTrue(message(c, "security.auth").contains("Failed password for invalid user admin11 from 10.0.0.11"), message(c, "security.auth"))
            XCTAssertEqual(status(c, "access.sql_injection"), "warning")
            XCTAssertEqual(status(c, "access.rate_limited"), "ok")
        } else {
            XCTAssertEqual(status(c, "security.auth"), "unknown")
            print("opsh.logs is not in this build: the failed-login and access-log assertions did not run")
        }
        // the order is the guide's: logins, counters, access log, certificates, updates
        let order = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["checks"] as? [[String: Any]] ?? []
        let names = order.compactMap { $0["name"] as? String }
        XCTAssertEqual(names.first, "security.auth")
        XCTAssertEqual(names.last, "security.updates")

        // no auth.log: the journal, here a journal file made by the test
        let journal = dir.appendingPathComponent("t.journal").path
        var export = ""
        let usec = Int64(now.timeIntervalSince1970 * 1e6) - 600_000_000
        for i in 0..<3 {
            export += "__REALTIME_TIMESTAMP=\(usec + Int64(i))\n__MONOTONIC_TIMESTAMP=\(i + 1)\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
            export += "MESSAGE=pam_unix(sshd:auth): authentication failure; rhost=10.2.2.\(i) user=root\n_COMM=sshd\nPRIORITY=5\n\n"
        }
        let exportFile = Harness.write(export, to: "export.txt", in: dir)
        let made = sh("/lib/systemd/systemd-journal-remote -o \(journal) \(exportFile)")
        guard made.status == 0 else { throw XCTSkip("systemd-journal-remote cannot write a journal file here: \(made.output)") }
        (r, c) = opsh("security/daily", ["--auth-log", dir.appendingPathComponent("no-auth.log").path, "--journal-file", journal,
                                         "--skip", "api,access,tls,audit,updates"])
        if haveLogs {
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            XCTAssertTrue(message(c, "security.auth").hasPrefix("3 failed authentication attempt(s) in journal \(journal)"), message(c, "security.auth"))
        } else {
            XCTAssertEqual(status(c, "security.auth"), "unknown")
        }
    }
}

/// security/config-audit's container findings, on containers this test creates (run it under
/// the Docker lock: flock /work/helpers/docker.lock); only they are audited (by their label).
/// Stopped containers are audited too: their configuration applies when they start.
final class SecurityDockerTests: XCTestCase {
    func testPrivilegedSocketAndPublishedPorts() throws {
        try DockerEngine.require()
        let tag = "opsh.test.sec14=\(UUID().uuidString.prefix(8))"
        let bad = DockerEngine.name("audit-bad"), good = DockerEngine.name("audit-good")
        defer { DockerEngine.cleanup(containers: [bad, good]) }
        // created, not started: a privileged container cannot start in this nested engine, and the
        // audit reads the configuration, which a stopped container has too
        var r = DockerEngine.docker(["create", "--name", bad, "--label", tag, "--privileged",
                                     "-v", "/var/run/docker.sock:/var/run/docker.sock", "-p", "0.0.0.0::6379",
                                     DockerEngine.image, "sleep", "600"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = DockerEngine.docker(["run", "-d", "--name", good, "--label", tag, "-p", "127.0.0.1::80", DockerEngine.image, "sleep", "600"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let run = Harness.run(["--json", "--path", Harness.packageRoot.appendingPathComponent("lua").path, "run", "security/config-audit",
                               "--skip", "redis,qdrant,files,tls", "--label", tag], timeout: 120)
        XCTAssertEqual(run.status, 2, run.stdout + run.stderr)
        let obj = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any] ?? [:]
        let checks = (obj["checks"] as? [[String: Any]] ?? []).reduce(into: [String: [String: Any]]()) { $0[$1["name"] as! String] = $1 }
        XCTAssertEqual(checks["audit.docker.\(bad).privileged"]?["status"] as? String, "critical", "\(checks.keys.sorted())")
        XCTAssertEqual(checks["audit.docker.\(bad).docker_socket"]?["status"] as? String, "critical")
        let published = checks["audit.docker.\(bad).published"]?["message"] as? String ?? ""
        XCTAssertTrue(published.hasPrefix("[high] container \(bad) publishes 0.0.0.0:(any)->6379/tcp on every interface (Redis reachable from other hosts). Fix: publish on 127.0.0.1"), published)
        XCTAssertNil(checks.keys.first { $0.hasPrefix("audit.docker.\(good).") }, "\(checks.keys.sorted())")
        let summary = checks["audit.docker"]?["message"] as? String ?? ""
        XCTAssertTrue(summary.hasPrefix("2 container(s) inspected, 1 with findings"), summary)
    }
}
