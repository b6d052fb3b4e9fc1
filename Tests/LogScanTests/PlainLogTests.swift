import Foundation
import LogScan
import OpshTestSupport
import XCTest

/// Text logs (the application's, syslog) counted by pattern sets across files, and the systemd
/// journal read from a journal file made by the test.
final class PlainLogTests: XCTestCase {
    func testErrorCountsPerFileAndTheTimeWindowOfTextLogs() throws {
        let dir = Harness.tempDir("plain")
        let now: Int64 = 1_796_300_000                      // 2026-12-03T11:33:20Z
        let iso = { (t: Int64) -> String in
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd HH:mm:ss,SSS"
            return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
        }
        // api.log: 30 hours, one line every 10 minutes; every 4th an ERROR, every 6th a timeout;
        // a traceback line without a time after each ERROR belongs to it
        var api = "", errorsIn24h = 0, timeoutsIn24h = 0, errorsAll = 0
        for k in 0..<180 {
            let t = now - 30 * 3600 + Int64(k) * 600
            let inWindow = t >= now - 24 * 3600
            if k % 4 == 0 {
                api += "\(iso(t)) ERROR api: request failed\n  Traceback: ERROR detail\n"
                errorsAll += 2
                if inWindow { errorsIn24h += 2 }
            } else if k % 6 == 1 {
                api += "\(iso(t)) WARNING api: upstream timeout after 30s\n"
                if inWindow { timeoutsIn24h += 1 }
            } else {
                api += "\(iso(t)) INFO api: ok\n"
            }
        }
        try api.write(to: dir.appendingPathComponent("api.log"), atomically: false, encoding: .utf8)
        // worker.log: syslog times (no year), two security events
        try """
        Dec  3 10:00:00 host worker[1]: unauthorized access to /admin
        Dec  3 10:05:00 host worker[1]: ok
        Dec  3 10:06:00 host worker[1]: forbidden: key revoked
        """.write(to: dir.appendingPathComponent("worker.log"), atomically: false, encoding: .utf8)
        var o = ScanOptions()
        o.now = now
        o.since = now - 24 * 3600
        o.patterns = [PatternSpec(name: "errors", regex: "ERROR"),
                      PatternSpec(name: "performance", regex: "(timeout|slow|high_latency)"),
                      PatternSpec(name: "security", regex: "(unauthorized|forbidden|attack)")]
        let r = try LogScanner.scan(files: [dir.path + "/*.log"], options: o)
        XCTAssertEqual(r.files.map { URL(fileURLWithPath: $0.path).lastPathComponent }, ["api.log", "worker.log"])
        XCTAssertEqual(r.files[0].setCounts, [errorsIn24h, timeoutsIn24h, 0])
        XCTAssertEqual(r.files[1].setCounts, [0, 0, 2])
        XCTAssertEqual(r.files[1].firstTime, 1_796_292_000)   // Dec 3 10:00:00 of the year of `now`
        XCTAssertEqual(r.sets[2].samples.map(\.line), [1, 3])
        o.since = nil
        XCTAssertEqual(try LogScanner.scan(files: [dir.path + "/api.log"], options: o).sets[0].count, errorsAll)
    }

    /// A real journal file: made from journal export text by systemd-journal-remote (scripts/setup
    /// installs it), read back by journalctl --file -o json, as the procedures run it.
    func testTheJournalReadFromAJournalFile() throws {
        let remote = "/lib/systemd/systemd-journal-remote"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: remote), "systemd-journal-remote is not installed (scripts/setup installs it)")
        let dir = Harness.tempDir("journal")
        let now = Int64(Date().timeIntervalSince1970) * 1_000_000
        var export = ""
        let entries: [(String, Int, String)] = [
            ("sshd", 3, "error: PAM: authentication failed for root from 203.0.113.7"),
            ("sshd", 6, "Accepted publickey for deploy"),
            ("sshd", 3, "error: PAM: authentication failed for admin from 203.0.113.7"),
            ("dockerd", 3, "container api exited with code 137"),
            ("kernel", 2, "Out of memory: Killed process 4242 (python3)"),
        ]
        for (k, e) in entries.enumerated() {
            export += "__REALTIME_TIMESTAMP=\(now - Int64(entries.count - k) * 1_000_000)\n__MONOTONIC_TIMESTAMP=\(k + 1)\n"
            export += "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=h\nPRIORITY=\(e.1)\nSYSLOG_IDENTIFIER=\(e.0)\nMESSAGE=\(e.2)\n\n"
        }
        let exportFile = dir.appendingPathComponent("e.export")
        try export.write(to: exportFile, atomically: false, encoding: .utf8)
        let journal = dir.appendingPathComponent("test.journal").path
        XCTAssertEqual(Shell.run([remote, "-o", journal, exportFile.path]).status, 0)
        let out = Shell.run(["journalctl", "--file", journal, "--priority=err", "--since", "1 hour ago", "-o", "json", "--no-pager"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let text = Array((out.stdout + "not json\n").utf8)
        let r = try text.withUnsafeBytes { b in
            try Journal.read(b, name: "journal", patterns: [PatternSpec(name: "auth", words: ["authentication failed"])])
        }
        XCTAssertEqual(r.entries, 4)                  // priority err and worse
        XCTAssertEqual(r.byPriority[3], 3)
        XCTAssertEqual(r.byPriority[2], 1)
        XCTAssertEqual(r.units.map(\.unit), ["sshd", "dockerd", "kernel"])
        XCTAssertEqual(r.units.map(\.count), [2, 1, 1])
        XCTAssertEqual(r.sets[0].count, 2)
        XCTAssertEqual(r.last.last?.message, "Out of memory: Killed process 4242 (python3)")
        XCTAssertEqual(r.malformed, 1)
        XCTAssertEqual(r.problems.map(\.description), ["journal:5: not a journal entry in JSON: skipped"])
    }
}
