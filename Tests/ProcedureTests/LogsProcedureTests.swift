import Foundation
import OpshTestSupport
import XCTest

/// security/access-log, logs/scan and logs/archive run as an operator runs them, over logs the
/// test writes and whose counts it knows.
final class LogsProcedureTests: XCTestCase {
    func checks(_ r: Run) throws -> [String: [String: Any]] {
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let list = doc["checks"] as! [[String: Any]]
        return Dictionary(list.map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func metric(_ c: [String: [String: Any]], _ check: String, _ name: String) -> Int? {
        ((c[check]?["metrics"] as? [String: Any])?[name] as? NSNumber)?.intValue
    }

    static let stamp: (Int) -> String = { t in
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "dd/MMM/yyyy:HH:mm:ss Z"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }

    /// client 10.0.0.K makes K*10 requests (K = 1...9); every 5th request of 10.0.0.9 is a 429,
    /// every 40th line carries `union select`, in upper case every 80th.
    func writeAccessLog(_ path: String, start: Int) throws -> (sql: Int, sqlGrep: Int, limited: Int, ok: [String: Int], lines: Int) {
        var text = "", sql = 0, grep = 0, limited = 0, n = 0
        var ok: [String: Int] = [:]
        for k in 1...9 {
            for j in 0..<(k * 10) {
                let status = (k == 9 && j % 5 == 0) ? 429 : 200
                if status == 429 { limited += 1 } else { ok["10.0.0.\(k)", default: 0] += 1 }
                var q = ""
                if n % 40 == 0 { q = n % 80 == 0 ? "?id=1+UNION+SELECT+1" : "?id=1+union+select+1"; sql += 1; if n % 80 != 0 { grep += 1 } }
                text += "10.0.0.\(k) - - [\(Self.stamp(start + n))] \"GET /api/search\(q) HTTP/1.1\" \(status) 512 \"-\" \"curl/8\" 0.0\(n % 10)\(n % 7)\n"
                n += 1
            }
        }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return (sql, grep, limited, ok, n)
    }

    func testAccessLogAnalysisCarriesItsCountsInTheJSONReport() throws {
        let dir = Harness.tempDir("access").path
        let now = Int(Date().timeIntervalSince1970)
        let e = try writeAccessLog("\(dir)/access.log", start: now - 3600)
        _ = try writeAccessLog("\(dir)/access.log.1", start: now - 3 * 86400)     // rotated: 3 days old
        XCTAssertEqual(sh("gzip -k \(dir)/access.log.1 && mv \(dir)/access.log.1.gz \(dir)/access.log.2.gz").status, 0)
        // all three files (the glob takes the rotated and the gzipped one), --file repeated
        let r = Harness.run(["--json", "run", "security/access-log", "--file", "\(dir)/access.log", "--file", "\(dir)/access.log.*",
                             "--top", "3", "--threshold", "200", "--rate_limit_warn", "1000"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)   // SQL words and high-frequency clients: WARNING
        let c = try checks(r)
        XCTAssertEqual(c["access.input"]?["status"] as? String, "ok")
        XCTAssertEqual(metric(c, "access.input", "files"), 3)
        XCTAssertEqual(metric(c, "access.input", "requests"), 3 * e.lines)
        XCTAssertEqual(c["access.top_ips"]?["message"] as? String, "10.0.0.9 270, 10.0.0.8 240, 10.0.0.7 210")
        XCTAssertEqual(metric(c, "access.top_ips", "10.0.0.9"), 270)
        XCTAssertEqual(metric(c, "access.top_ips", "distinct_ips"), 9)
        XCTAssertEqual(metric(c, "access.rate_limited", "rate_limited"), 3 * e.limited)
        XCTAssertEqual(metric(c, "access.sql_injection", "sql_injection"), 3 * e.sql)
        let high = e.ok.filter { 3 * $0.value > 200 }
        XCTAssertEqual(metric(c, "access.high_frequency", "high_frequency_clients"), high.count)
        for (ip, n) in high { XCTAssertEqual(metric(c, "access.high_frequency", ip), 3 * n, ip) }

        // the guide's exact grep (case-sensitive substrings), over the last 24 hours only
        let g = Harness.run(["--json", "run", "security/access-log", "--file", "\(dir)/access.log*", "--since", "24h", "--sql", "grep"])
        let cg = try checks(g)
        XCTAssertEqual(metric(cg, "access.sql_injection", "sql_injection"), e.sqlGrep)
        XCTAssertEqual(metric(cg, "access.input", "outside"), 2 * e.lines)
        XCTAssertEqual(metric(cg, "access.top_ips", "10.0.0.9"), 90)

        // nothing readable: UNKNOWN, naming the file
        let none = Harness.run(["run", "security/access-log", "--file", "\(dir)/missing.log"])
        XCTAssertEqual(none.status, 3, none.stdout)
        XCTAssertTrue(none.stdout.contains("\(dir)/missing.log: no such file"), none.stdout)
    }

    func testLogScanCountsPerFileAndReadsTheJournal() throws {
        let dir = Harness.tempDir("logscan").path
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let now = f.string(from: Date()), old = f.string(from: Date(timeIntervalSinceNow: -3 * 86400))
        try """
        \(old) ERROR api: three days ago
        \(now) ERROR api: failed
        \(now) ERROR api: failed again
        \(now) WARNING api: slow query 2.5s
        \(now) INFO unauthorized request from 203.0.113.9
        """.write(toFile: "\(dir)/api.log", atomically: false, encoding: .utf8)
        try "\(now) ERROR worker: crashed\n\(now) WARNING high_latency on embeddings\n".write(toFile: "\(dir)/worker.log", atomically: false, encoding: .utf8)
        var args = ["--json", "run", "logs/scan", "--file", "\(dir)/*.log", "--no-containers", "--errors_warn", "10"]
        // a journal file made by the test (systemd-journal-remote, installed by scripts/setup)
        let remote = "/lib/systemd/systemd-journal-remote"
        let haveJournal = FileManager.default.isExecutableFile(atPath: remote)
        if haveJournal {
            let t = Int64(Date().timeIntervalSince1970) * 1_000_000
            try """
            __REALTIME_TIMESTAMP=\(t - 2_000_000)
            __MONOTONIC_TIMESTAMP=1
            _BOOT_ID=0123456789abcdef0123456789abcdef
            PRIORITY=3
            SYSLOG_IDENTIFIER=sshd
            MESSAGE=error: PAM: authentication failed for root

            __REALTIME_TIMESTAMP=\(t - 1_000_000)
            __MONOTONIC_TIMESTAMP=2
            _BOOT_ID=0123456789abcdef0123456789abcdef
            PRIORITY=6
            SYSLOG_IDENTIFIER=sshd
            MESSAGE=Accepted publickey for deploy


            """.write(toFile: "\(dir)/e.export", atomically: false, encoding: .utf8)
            XCTAssertEqual(Shell.run([remote, "-o", "\(dir)/test.journal", "\(dir)/e.export"]).status, 0)
            args += ["--journal_file", "\(dir)/test.journal"]
        } else {
            args += ["--no-journal"]
        }
        let r = Harness.run(args)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let c = try checks(r)
        XCTAssertEqual(c["logs.errors"]?["status"] as? String, "ok")
        XCTAssertEqual(metric(c, "logs.errors", "errors"), 3)
        XCTAssertEqual(metric(c, "logs.errors", "api.log"), 2)
        XCTAssertEqual(metric(c, "logs.errors", "worker.log"), 1)
        XCTAssertTrue((c["logs.errors"]?["message"] as? String ?? "").hasSuffix(": api.log:2, worker.log:1"), "\(c["logs.errors"] ?? [:])")
        XCTAssertEqual(metric(c, "logs.performance", "performance"), 2)
        XCTAssertEqual(c["logs.performance"]?["status"] as? String, "warning")
        XCTAssertEqual(metric(c, "logs.security", "security"), 1)
        XCTAssertTrue((c["logs.security"]?["message"] as? String ?? "").contains("\(dir)/api.log:5: "), "\(c["logs.security"] ?? [:])")
        if haveJournal {
            XCTAssertEqual(metric(c, "logs.journal", "journal"), 1)
            XCTAssertTrue((c["logs.journal"]?["message"] as? String ?? "").contains("sshd: error: PAM: authentication failed for root"), "\(c["logs.journal"] ?? [:])")
        }
    }

    func testLogArchiveReportsWhatItRemovesThroughTheScanner() throws {
        let work = Harness.tempDir("archive").path
        _ = sh("""
        mkdir -p \(work)/log && echo '2026-11-01 10:00:00 INFO new' > \(work)/log/app.log
        printf '2026-10-01 10:00:00 INFO a\\n2026-10-01 10:00:01 ERROR b\\n2026-10-02 11:00:00 ERROR c\\n' > \(work)/log/old.log
        printf '2026-09-01 00:00:00 ERROR d\\n' | gzip > \(work)/log/older.log
        touch -d '40 days ago' \(work)/log/old.log \(work)/log/older.log
        """)
        let r = Harness.run(["--yes", "--json", "run", "logs/archive", "--log_dir", "\(work)/log", "--dir", "\(work)/b"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = try checks(r)
        XCTAssertEqual(metric(c, "logs.retention", "deleted"), 2)
        XCTAssertEqual(metric(c, "logs.retention", "lines"), 4)
        XCTAssertEqual(metric(c, "logs.retention", "error_lines"), 3)
        XCTAssertTrue((c["logs.retention"]?["message"] as? String ?? "").contains("4 lines, 3 ERROR lines, written 2026-09-01T00:00:00Z to 2026-10-02T11:00:00Z"),
                      "\(c["logs.retention"] ?? [:])")
        XCTAssertEqual(sh("ls \(work)/log").output, "app.log\n")
    }

    func testTheProceduresAreListedWithTheirGuideSections() {
        let r = Harness.run(["list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["security/access-log", "logs/scan", "logs/archive"] { XCTAssertTrue(r.stdout.contains("\"\(name)\""), name) }
        for (name, section) in [("security/access-log", "Security Operations / Access Log Analysis: 1. Top IP addresses by request count"),
                                ("logs/scan", "Troubleshooting / Log Analysis: 1. Error rate analysis")] {
            let h = Harness.run(["help", name])
            XCTAssertTrue(h.stdout.contains("guide: " + section), h.stdout)
        }
        let help = Harness.run(["help", "opsh.logs"])
        XCTAssertEqual(help.status, 0, help.stderr)
        XCTAssertTrue(help.stdout.contains("logs.scan(opts)"), help.stdout)
    }
}
