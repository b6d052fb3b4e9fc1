import CLogScan
import Foundation
import LogScan
import OpshTestSupport
import XCTest

/// The scanner searches a whole buffer of lines for a literal set and skips from match to match;
/// these tests hold it to a plain line-by-line reference on seeded random text full of the
/// awkward cases (a match at a line's start and end, before a CRLF, beside `_` or a digit, two
/// in a line, in lines next to each other, lines cut between the pieces the scanner is fed), and
/// the client table (keys packed into 128 bits up to 15 bytes, longer ones apart) to the exact
/// text of the first field.
final class SearchTests: XCTestCase {
    static let words = ["union", "select", "insert", "update", "delete", "drop"]

    /// A deterministic generator (the test must give the same text every run).
    struct Seeded {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
    }

    static func randomText(lines: Int, seed: UInt64) -> [UInt8] {
        var g = Seeded(state: seed)
        let pieces = ["union", "UNION", "Select", "drop", "dropdown", "_drop", "drop_", "9drop", "upd", "updat", "update",
                      "delete", "insert", "in", "se", "x", " ", "/", "=", "+", "\"", "-", "\r", "a", "Z", "é"].map { Array($0.utf8) }
            // bytes above 0x7F whose low seven bits are a literal's first byte ('u', 'd'): the
            // AVX-512 search looks up seven bits, so these are candidates that must not match
            + [[0xF5, 0x6E, 0x69, 0x6F, 0x6E], [0xE4, 0x72, 0x6F, 0x70]]
        var out: [UInt8] = []
        for _ in 0..<lines {
            for _ in 0..<g.next(12) { out += pieces[g.next(pieces.count)] }
            if g.next(5) == 0 { out += [0x0D] }
            out.append(0x0A)
        }
        return out
    }

    /// The report of `text` fed to a `LineFeeder` in pieces of odd sizes up to `largest` bytes
    /// (lines cut between them anywhere).
    static func fed(_ text: [UInt8], name: String, options: ScanOptions, largest: Int) throws -> ScanReport {
        let feeder = try LineFeeder(name: name, options: options)
        var at = 0, size = 1
        while at < text.count {
            let end = min(text.count, at + size)
            feeder.feed(Array(text[at..<end]))
            at = end
            size = size * 7 % largest + 1
        }
        return feeder.finish()
    }

    /// The reference: each line (its CR dropped) searched byte by byte.
    static func reference(_ text: [UInt8], words: [String], ignoreCase: Bool, bounded: Bool) -> [Int] {
        func fold(_ b: UInt8) -> UInt8 { ignoreCase && b >= 65 && b <= 90 ? b | 0x20 : b }
        func isWord(_ b: UInt8) -> Bool { (b | 0x20) >= 97 && (b | 0x20) <= 122 || (b >= 48 && b <= 57) || b == 95 }
        let lits = words.map { Array($0.utf8).map(fold) }
        var hits: [Int] = []
        for (n, raw) in text.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().enumerated() {
            var line = Array(raw)
            if line.last == 0x0D { line.removeLast() }
            let folded = line.map(fold)
            var found = false
            for l in lits where !found && l.count <= folded.count {
                for s in 0...(folded.count - l.count) where Array(folded[s..<(s + l.count)]) == l {
                    if bounded && ((s > 0 && isWord(line[s - 1])) || (s + l.count < line.count && isWord(line[s + l.count]))) { continue }
                    found = true
                    break
                }
            }
            if found { hits.append(n + 1) }
        }
        return hits
    }

    /// On every vector path the processor has (AVX-512, AVX2, SSE2, scalar).
    func testBufferSearchFindsTheLinesALineByLineSearchFinds() throws {
        let text = SearchTests.randomText(lines: 4000, seed: 14)
        defer { opsh_logscan_force_simd(-1) }
        for level in (0...opsh_logscan_simd()).reversed() {
        opsh_logscan_force_simd(level)
        for (ignoreCase, bounded) in [(false, false), (true, false), (false, true), (true, true)] {
            let want = SearchTests.reference(text, words: SearchTests.words, ignoreCase: ignoreCase, bounded: bounded)
            XCTAssertGreaterThan(want.count, 100)
            XCTAssertLessThan(want.count, 4000)
            var o = ScanOptions()
            o.samples = 100_000
            o.patterns = [PatternSpec(name: "s", words: SearchTests.words, ignoreCase: ignoreCase, wordBounded: bounded)]
            // in one piece, and fed in pieces of odd sizes (lines cut between them)
            let whole = try text.withUnsafeBytes { try LogScanner.scan(name: "t", bytes: $0, options: o) }
            let fed = try SearchTests.fed(text, name: "t", options: o, largest: 1013)
            for r in [whole, fed] {
                XCTAssertEqual(r.lines, 4000)
                XCTAssertEqual(r.sets[0].count, want.count, "level \(level) ignoreCase \(ignoreCase) bounded \(bounded)")
                XCTAssertEqual(r.sets[0].samples.map(\.line), want, "level \(level) ignoreCase \(ignoreCase) bounded \(bounded)")
            }
            // three samples: the last three lines, their numbers counted back from a read's end
            var three = o
            three.samples = 3
            let last = try text.withUnsafeBytes { try LogScanner.scan(name: "t", bytes: $0, options: three) }
            XCTAssertEqual(last.sets[0].samples.map(\.line), Array(want.suffix(3)), "level \(level) ignoreCase \(ignoreCase) bounded \(bounded)")
            let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
            XCTAssertEqual(last.sets[0].samples.map(\.text), want.suffix(3).map { n in Array(lines[n - 1].last == 0x0D ? lines[n - 1].dropLast() : lines[n - 1]) }, "sample text")
            // the same lines when they are access-log lines (the search runs beside the parse)
            var access = o
            access.format = .access
            var log: [UInt8] = []
            for raw in text.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
                log += Array("10.0.0.1 - - [01/Nov/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"".utf8) + raw.filter { $0 != 0x22 && $0 != 0x0D } + [0x22, 0x0A]
            }
            let wantAccess = SearchTests.reference(log, words: SearchTests.words, ignoreCase: ignoreCase, bounded: bounded)
            let ra = try log.withUnsafeBytes { try LogScanner.scan(name: "a", bytes: $0, options: access) }
            XCTAssertEqual(ra.malformed, 0)
            XCTAssertEqual(ra.sets[0].samples.map(\.line), wantAccess, "access, level \(level) ignoreCase \(ignoreCase) bounded \(bounded)")
        }
        }
    }

    func testClientsAreTheFirstFieldsExactTextWhateverItsLength() throws {
        let clients = ["1.2.3.4", "10.0.0.1", "10.0.0.01", "255.255.255.255", "2001:db8::1",
                       "2001:db8:85a3::8a2e:370:7334", "host-name.example", "a", "abcdefgh", "abcdefghi"]
        var text = ""
        var want: [String: Int] = [:], wantOK: [String: Int] = [:]
        for n in 0..<2000 {
            let c = clients[min(n % 13, clients.count - 1)]   // every client; the last one most, the others tied
            let status = n % 4 == 0 ? 404 : 200
            text += "\(c) - - [01/Nov/2026:00:00:00 +0000] \"GET /x HTTP/1.1\" \(status) 5 \"-\" \"curl\"\n"
            want[c, default: 0] += 1
            if status == 200 { wantOK[c, default: 0] += 1 }
        }
        let dir = Harness.tempDir("clients")
        let log = dir.appendingPathComponent("access.log")
        try text.write(to: log, atomically: false, encoding: .utf8)
        for threads in [1, 3] {
            var o = ScanOptions()
            o.format = .access
            o.top = 100
            o.okThreshold = 0
            o.threads = threads
            o.splitSize = 1 << 12
            o.responseTimes = false
            o.countPaths = false
            let r = try LogScanner.scan(files: [log.path], options: o)
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.topIPs.map { ($0.text, $0.count) }), want, "threads \(threads)")
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.okClients.map { ($0.text, $0.count) }), wantOK)
            XCTAssertEqual(r.distinctIPs, clients.count)
            let order = want.sorted { $0.value != $1.value ? $0.value > $1.value : Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) == false }
            XCTAssertEqual(r.topIPs.map(\.text), order.map(\.key), "ties as sort -nr orders them")
            XCTAssertNil(r.responseTimes, "response times not read when not asked")
            XCTAssertTrue(r.topPaths.isEmpty)
        }
        // a bounded table: the clients beyond the limit are counted as untracked
        var small = ScanOptions()
        small.format = .access
        small.maxKeys = 4
        small.threads = 1
        let r = try LogScanner.scan(files: [log.path], options: small)
        XCTAssertEqual(r.topIPs.reduce(0) { $0 + $1.count } + r.untrackedIPs, 2000)
        XCTAssertLessThanOrEqual(r.distinctIPs, 8)
        XCTAssertGreaterThan(r.untrackedIPs, 0)
    }
}
