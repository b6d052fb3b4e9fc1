import Foundation
import LogScan
import OpshTestSupport
import XCTest

/// Generated access logs whose answers the test knows (it counts them as it writes), scanned
/// on one thread and cut across several, from Swift alone.
final class AccessLogTests: XCTestCase {
    struct Expected {
        var ips: [String: Int] = [:]
        var ok: [String: Int] = [:]
        var statuses: [Int: Int] = [:]
        var paths: [String: Int] = [:]
        var sqlSubstring = 0
        var sqlWords = 0
        var lastSQL: [Int] = []
        var times: [Int] = []
        var lines = 0
    }

    static let agents = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/7.88.1", "AutoUpdater/1.2"]

    /// `count` lines: client k of 50 is chosen by a fixed rule, every 7th line a 404, every 11th
    /// a 429, every 13th an SQL word in its query (every 26th in upper case), response times
    /// 1...100 ms in turn.
    static func write(_ url: URL, count: Int, start: Int = 1_793_491_200, step: Int = 1) throws -> Expected {
        var e = Expected()
        var text = ""
        for n in 0..<count {
            let ip = "10.0.\(n % 5).\((n * n) % 50)"
            let status = n % 11 == 0 ? 429 : n % 7 == 0 ? 404 : 200
            let path = ["/api/search", "/health", "/api/documents/\(n % 3)"][n % 3]
            var query = ""
            if n % 13 == 0 { query = n % 26 == 0 ? "?id=1+UNION+SELECT+1" : "?id=1;drop+table+users" }
            else if n % 17 == 0 { query = "?q=dropdown" }      // "drop" inside a word
            let agent = agents[n % 3]
            let ms = n % 100 + 1
            let t = start + n * step
            let line = "\(ip) - - [\(AccessLogTests.clf(t))] \"GET \(path)\(query) HTTP/1.1\" \(status) \(100 + n) \"-\" \"\(agent)\" \(String(format: "%.3f", Double(ms) / 1000))\n"
            text += line
            e.lines += 1
            e.ips[ip, default: 0] += 1
            if status == 200 { e.ok[ip, default: 0] += 1 }
            e.statuses[status, default: 0] += 1
            e.paths[path, default: 0] += 1
            e.times.append(ms)
            let grepHit = ["union", "select", "insert", "update", "delete", "drop"].contains { line.contains($0) }
            if grepHit { e.sqlSubstring += 1; e.lastSQL.append(n + 1) }
            if n % 13 == 0 { e.sqlWords += 1 }
        }
        try text.write(to: url, atomically: false, encoding: .utf8)
        return e
    }

    static func clf(_ t: Int) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "dd/MMM/yyyy:HH:mm:ss Z"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }

    static var sqlWords: [String] { ["union", "select", "insert", "update", "delete", "drop"] }

    func options(threads: Int) -> ScanOptions {
        var o = ScanOptions()
        o.format = .access
        o.top = 5
        o.okThreshold = 40
        o.threads = threads
        o.splitSize = 1 << 10          // cut even this small file into pieces
        o.samples = 3
        o.patterns = [PatternSpec(name: "sql", words: AccessLogTests.sqlWords),
                      PatternSpec(name: "sql_words", words: AccessLogTests.sqlWords, ignoreCase: true, wordBounded: true)]
        return o
    }

    func testAggregatesMatchTheGeneratedAnswersOnOneThreadAndCutAcrossFour() throws {
        let dir = Harness.tempDir("access")
        let log = dir.appendingPathComponent("access.log")
        let e = try AccessLogTests.write(log, count: 3000)
        for threads in [1, 4] {
            let r = try LogScanner.scan(files: [log.path], options: options(threads: threads))
            XCTAssertEqual(r.lines, e.lines)
            XCTAssertEqual(r.malformed, 0)
            XCTAssertTrue(r.problems.isEmpty, "\(r.problems)")
            let topWanted = e.ips.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key > $1.key }.prefix(5)
            XCTAssertEqual(r.topIPs.map(\.text), topWanted.map(\.key), "threads \(threads)")
            XCTAssertEqual(r.topIPs.map(\.count), topWanted.map(\.value))
            XCTAssertEqual(r.distinctIPs, e.ips.count)
            let okWanted = e.ok.filter { $0.value > 40 }
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.okClients.map { ($0.text, $0.count) }), okWanted)
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.statuses.map { ($0.status, $0.count) }), e.statuses)
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.topPaths.map { ($0.text, $0.count) }).filter { $0.key.hasPrefix("/api/search") || $0.key == "/health" },
                           e.paths.filter { $0.key.hasPrefix("/api/search") || $0.key == "/health" })
            XCTAssertEqual(r.sets.map(\.name), ["sql", "sql_words"])
            XCTAssertEqual(r.sets[0].count, e.sqlSubstring)
            XCTAssertEqual(r.sets[1].count, e.sqlWords)
            XCTAssertEqual(r.sets[0].samples.map(\.line), Array(e.lastSQL.suffix(3)), "threads \(threads): the last matches with their line numbers")
            let sorted = e.times.sorted()
            func nearestRank(_ q: Double) -> Int { sorted[Int((q * Double(sorted.count)).rounded(.up)) - 1] }
            XCTAssertEqual(r.responseTimes?.count, e.lines)
            XCTAssertEqual(r.responseTimes?.p50, nearestRank(0.5))
            XCTAssertEqual(r.responseTimes?.p99, nearestRank(0.99))
            XCTAssertEqual(r.responseTimes?.max, 100)
        }
    }

    func testTheTimeWindowComesFromTheLinesOwnTimestamps() throws {
        let dir = Harness.tempDir("window")
        let log = dir.appendingPathComponent("access.log")
        // 48 lines an hour apart; the window holds the last 24 (hours 24...47)
        let start = 1_793_491_200
        _ = try AccessLogTests.write(log, count: 48, start: start, step: 3600)
        var o = options(threads: 2)
        o.since = Int64(start + 24 * 3600)
        let r = try LogScanner.scan(files: [log.path], options: o)
        XCTAssertEqual(r.lines, 48)
        XCTAssertEqual(r.outside, 24)
        XCTAssertEqual(r.statuses.reduce(0) { $0 + $1.count }, 24)
        XCTAssertEqual(r.firstTime, Int64(start + 24 * 3600))
        XCTAssertEqual(r.lastTime, Int64(start + 47 * 3600))
        o.until = Int64(start + 30 * 3600)
        XCTAssertEqual(try LogScanner.scan(files: [log.path], options: o).statuses.reduce(0) { $0 + $1.count }, 6)
    }

    func testRotatedAndGzippedLogsAreReadAsThePlainOne() throws {
        let dir = Harness.tempDir("rotated")
        let log = dir.appendingPathComponent("access.log")
        let e = try AccessLogTests.write(log, count: 500)
        try FileManager.default.copyItem(at: log, to: dir.appendingPathComponent("access.log.1"))
        try FileManager.default.copyItem(at: log, to: dir.appendingPathComponent("access.log.2"))
        XCTAssertEqual(Shell.run(["gzip", dir.appendingPathComponent("access.log.2").path]).status, 0)
        let r = try LogScanner.scan(files: [dir.path + "/access.log*"], options: options(threads: 2))
        XCTAssertEqual(r.files.map { URL(fileURLWithPath: $0.path).lastPathComponent }, ["access.log", "access.log.1", "access.log.2.gz"])
        XCTAssertEqual(r.files.map(\.gzip), [false, false, true])
        XCTAssertEqual(r.files.map(\.lines), [500, 500, 500])
        XCTAssertEqual(r.sets[0].count, 3 * e.sqlSubstring)
        XCTAssertEqual(r.topIPs.first?.count, 3 * (e.ips.values.max() ?? 0))
        XCTAssertTrue(r.problems.isEmpty, "\(r.problems)")
    }

    func testKeywordSetsSubstringWordBoundedCaseAndRegex() throws {
        let text = """
        GET /search?q=1 union select x
        GET /dropdown
        GET /x?id=1 UNION SELECT
        user=42 denied from 10.0.0.1
        user=abc denied
        ERROR timeout while reading
        slow query took 2s
        """
        let specs = [
            PatternSpec(name: "grep", words: ["union", "select", "drop"]),
            PatternSpec(name: "words", words: ["union", "select", "drop"], ignoreCase: true, wordBounded: true),
            PatternSpec(name: "regex", regex: "user=[0-9]+ denied"),
            PatternSpec(name: "alternation", regex: "(timeout|slow|high_latency)"),
            PatternSpec(name: "icase", regex: "error", ignoreCase: true),
        ]
        var o = ScanOptions()
        o.patterns = specs
        let r = try Array(text.utf8).withUnsafeBytes { b in try LogScanner.scan(name: "t", bytes: b, options: o) }
        let counts = Dictionary(uniqueKeysWithValues: r.sets.map { ($0.name, $0.count) })
        XCTAssertEqual(counts, ["grep": 2, "words": 2, "regex": 1, "alternation": 2, "icase": 1])
        XCTAssertEqual(r.sets.first { $0.name == "words" }?.samples.map(\.line), [1, 3])
        XCTAssertEqual(r.sets.first { $0.name == "grep" }?.samples.map(\.line), [1, 2])
        // a literal of 70 bytes among them (its fingerprint anywhere in it, the vector search): same answers
        let padding = String(repeating: "x", count: 70)
        var long = ScanOptions()
        long.patterns = [PatternSpec(name: "grep", words: ["union", "select", "drop", padding]),
                         PatternSpec(name: "words", words: ["union", "select", "drop", padding], ignoreCase: true, wordBounded: true)]
        let rl = try Array(text.utf8).withUnsafeBytes { b in try LogScanner.scan(name: "t", bytes: b, options: long) }
        XCTAssertEqual(rl.sets.map(\.count), [2, 2])
        XCTAssertEqual(rl.sets.map { $0.samples.map(\.line) }, [[1, 2], [1, 3]])
        // more than eight literals: no vector search; Shift-And within 64 bytes, Wu-Manber beyond
        let many = ["union", "select", "drop", "aa1", "bb2", "cc3", "dd4", "ee5", "ff6"]
        for extra in [[], [padding]] {
            var o9 = ScanOptions()
            o9.patterns = [PatternSpec(name: "grep", words: many + extra),
                           PatternSpec(name: "words", words: many + extra, ignoreCase: true, wordBounded: true)]
            let r9 = try Array(text.utf8).withUnsafeBytes { b in try LogScanner.scan(name: "t", bytes: b, options: o9) }
            XCTAssertEqual(r9.sets.map { $0.samples.map(\.line) }, [[1, 2], [1, 3]], "\(extra.count)")
        }
        var bad = ScanOptions()
        bad.patterns = [PatternSpec(name: "x", regex: "a(b")]
        XCTAssertThrowsError(try LogScanner.scan(files: [], options: bad)) { e in
            XCTAssertTrue("\(e)".contains("set x: bad regular expression a(b"), "\(e)")
        }
    }
}
