import CLogScan
import Foundation
import Glibc
import LogScan
import OpshTestSupport
import XCTest

/// The access lines' heads are found by CLogScan (`opsh_access_lines`: a vector search from
/// field to field, AVX2 or memchr) and the file is read through mapped windows; these tests hold
/// both to plain references written here: seeded random access lines full of the awkward cases
/// (CR, `\"` inside the request, a backslash at its end, missing or extra fields, brackets and
/// quotes in the wrong places, four-digit statuses, empty lines), cut at every batch size and
/// between fed pieces, on each vector path; and a file cut shorter under its mapping.
final class FieldTests: XCTestCase {
    typealias Seeded = SearchTests.Seeded

    /// Mostly well-formed lines, and lines broken in each way the parse must notice.
    static func randomAccessLog(lines: Int, seed: UInt64) -> [UInt8] {
        var g = Seeded(state: seed)
        let clients = ["10.0.0.1", "10.0.0.01", "192.168.100.200", "::1", "2001:db8:85a3::8a2e:370:7334", "h", "x-[y]",
                       String(repeating: "c", count: 130)]
        let requests = ["GET /a HTTP/1.1", "POST /b?q=1 HTTP/1.1", "GET /q\\\"x\\\" HTTP/1.0", "GET /end\\\\", "-", "",
                        "GET /select?id=1 union select", "GET /\\\"", "a [b] c",
                        // heads past the first 128 bytes (the AVX-512 walk's window): the long-line path
                        "GET /" + String(repeating: "a", count: 150) + " HTTP/1.1", "GET /" + String(repeating: "b", count: 120) + "\\\"x\\\" y"]
        let statuses = ["200", "404", "500", "20", "2000", "2x0", "429", "200x"]
        let tails = ["", " 512", " 512 \"-\" \"curl/8\"", " 512 \"ref\" \"agent \\\"q\\\"\" 0.042", " - \"a\"", " \"\"", "\r"]
        var out: [UInt8] = []
        for _ in 0..<lines {
            var line = clients[g.next(clients.count)] + " - " + (g.next(4) == 0 ? "bob" : "-")
            line += " [10/Oct/2026:13:55:3\(g.next(10)) +0000] \"" + requests[g.next(requests.count)] + "\" "
            line += statuses[g.next(statuses.count)] + tails[g.next(tails.count)]
            // one line in six broken somewhere: a field cut short, a byte dropped or doubled
            switch g.next(24) {
            case 0: line = String(line.prefix(g.next(max(1, line.count))))
            case 1: line = line.replacingOccurrences(of: "[", with: "")
            case 2: line = line.replacingOccurrences(of: "]", with: "")
            case 3: line = " " + line
            default: break
            }
            out += Array(line.utf8)
            if g.next(7) == 0 { out.append(0x0D) }
            out.append(0x0A)
            if g.next(50) == 0 { out.append(0x0A) }   // an empty line
        }
        return out
    }

    struct Head: Equatable { var status: Int; var ipEnd = 0, timeStart = 0, timeEnd = 0, reqEnd = 0 }

    /// The reference: one line by the combined format's rules, byte by byte.
    static func referenceHead(_ l: [UInt8]) -> Head {
        let n = l.count
        func first(_ b: UInt8, from: Int) -> Int? { from < n ? l[from...].firstIndex(of: b) : nil }
        guard let sp = first(0x20, from: 0), sp > 0, let lb = first(0x5B, from: sp),
              let rb = first(0x5D, from: lb + 1) else { return Head(status: -1) }
        guard rb + 3 <= n, l[rb + 1] == 0x20, l[rb + 2] == 0x22 else { return Head(status: -1) }
        var q = rb + 3
        while true {
            guard let x = first(0x22, from: q) else { return Head(status: -1) }
            if l[x - 1] == 0x5C { q = x + 1; continue }
            q = x
            break
        }
        let s = q + 1
        guard s + 4 <= n, l[s] == 0x20 else { return Head(status: -1) }
        let digits = l[(s + 1)...(s + 3)]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), s + 4 == n || l[s + 4] == 0x20 else { return Head(status: -1) }
        let status = digits.reduce(0) { $0 * 10 + Int($1) - 48 }
        return Head(status: status, ipEnd: sp, timeStart: lb + 1, timeEnd: rb, reqEnd: q)
    }

    static func referenceLines(_ text: [UInt8]) -> [[UInt8]] {
        text.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map { raw in
            var l = Array(raw)
            if l.last == 0x0D { l.removeLast() }
            return l
        }
    }

    func testTheHeadsAreTheReferenceParseOnEveryPathAndBatchSize() {
        let text = FieldTests.randomAccessLog(lines: 3000, seed: 23)
        let lines = FieldTests.referenceLines(text)
        let expected = lines.map(FieldTests.referenceHead)
        XCTAssertGreaterThan(expected.filter { $0.status < 0 }.count, 300, "the text has broken lines")
        XCTAssertGreaterThan(expected.filter { $0.status >= 0 }.count, 1000, "and good ones")
        defer { opsh_logscan_force_simd(-1) }
        for level in (0...Int(opsh_logscan_simd())).reversed() {
            opsh_logscan_force_simd(Int32(level))
            for batch in [1, 3, 256] {
                var got: [Head] = []
                var starts: [Int] = []
                var heads = [opsh_access_line](repeating: opsh_access_line(), count: batch)
                text.withUnsafeBufferPointer { t in
                    var at = 0
                    while true {
                        let k = opsh_access_lines(t.baseAddress, t.count, &at, &heads, batch)
                        if k == 0 { break }
                        for h in heads[0..<k] {
                            starts.append(Int(h.start))
                            got.append(h.status < 0 ? Head(status: Int(h.status))
                                : Head(status: Int(h.status), ipEnd: Int(h.ip_end), timeStart: Int(h.time_start),
                                       timeEnd: Int(h.time_end), reqEnd: Int(h.req_end)))
                        }
                    }
                    XCTAssertEqual(at, t.count)
                }
                XCTAssertEqual(got.count, expected.count, "level \(level), batch \(batch)")
                for i in 0..<min(got.count, expected.count) where got[i] != expected[i] {
                    XCTFail("level \(level), batch \(batch), line \(i + 1) \(String(decoding: lines[i], as: UTF8.self)): \(got[i]) != \(expected[i])")
                    break
                }
                let lineStarts = [0] + text.indices.filter { text[$0] == 0x0A }.dropLast().map { $0 + 1 }
                XCTAssertEqual(starts, lineStarts, "level \(level), batch \(batch)")
            }
        }
    }

    /// The whole scan on the same text, from a file (mapped, in pieces on three threads) and fed
    /// in odd pieces, against the reference's counts: statuses, clients, 200s, malformed lines.
    func testTheScanCountsWhatTheReferenceCounts() throws {
        var text: [UInt8] = []
        for s in 0..<40 { text += FieldTests.randomAccessLog(lines: 1500, seed: 100 + UInt64(s)) }
        let lines = FieldTests.referenceLines(text)
        var statuses: [Int: Int] = [:], clients: [String: Int] = [:], malformed = 0
        for l in lines {
            let h = FieldTests.referenceHead(l)
            if h.status < 0 { malformed += 1; continue }
            statuses[h.status, default: 0] += 1
            clients[String(decoding: l[0..<h.ipEnd], as: UTF8.self), default: 0] += 1
        }
        let dir = Harness.tempDir("fields")
        let path = dir.appendingPathComponent("access.log").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text)))
        defer { opsh_logscan_force_simd(-1) }
        for level in Set([Int(opsh_logscan_simd()), 2, 0]).sorted().reversed() {
            opsh_logscan_force_simd(Int32(level))
            var o = ScanOptions()
            o.format = .access
            o.top = 100
            o.splitSize = 64 << 10   // pieces on every thread, lines cut between slices and windows
            for threads in [1, 3] {
                o.threads = threads
                let r = try LogScanner.scan(files: [path], options: o)
                check(r, lines.count, malformed, statuses, clients, "file, level \(level), \(threads) threads")
            }
            check(try SearchTests.fed(text, name: "fed", options: o, largest: 5003), lines.count, malformed, statuses, clients, "fed, level \(level)")
        }
    }

    private func check(_ r: ScanReport, _ lines: Int, _ malformed: Int, _ statuses: [Int: Int], _ clients: [String: Int], _ what: String) {
        XCTAssertEqual(r.lines, lines, what)
        XCTAssertEqual(r.malformed, malformed, what)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.statuses.map { ($0.status, $0.count) }), statuses, what)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.topIPs.map { ($0.text, $0.count) }), clients, what)
        XCTAssertEqual(r.distinctIPs, clients.count, what)
    }

    /// A plain text's first NUL is named by its line whichever pass meets it: the one set's
    /// search that counts lines (before a match, inside the matching line after the match, in a
    /// line without one, in the last line) or the separate count of several sets.
    func testTheFirstNulIsNamedByItsLineOnEveryPath() throws {
        var lines: [[UInt8]] = (0..<3000).map { n in Array((n % 7 == 0 ? "id \(n) select x from t" : "id \(n) plain text here").utf8) }
        lines[2999] = Array("last select".utf8)
        defer { opsh_logscan_force_simd(-1) }
        for (line, column) in [(1, 0), (8, 3), (8, 15), (1200, 5), (2999, 2), (3000, 2)] {   // none breaks a match
            var text = lines
            text[line - 1][column] = 0
            let bytes = Array(text.joined(separator: [0x0A])) + [0x0A]
            for level in (0...Int(opsh_logscan_simd())).reversed() {
                opsh_logscan_force_simd(Int32(level))
                for sets in [[PatternSpec(name: "s", words: ["select"])],
                             [PatternSpec(name: "s", words: ["select"]), PatternSpec(name: "t", words: ["text"])]] {
                    var o = ScanOptions()
                    o.patterns = sets
                    let r = try bytes.withUnsafeBytes { try LogScanner.scan(name: "n", bytes: $0, options: o) }
                    XCTAssertEqual(r.lines, 3000)
                    XCTAssertEqual(r.sets[0].count, 430, "line \(line) column \(column) level \(level)")
                    XCTAssertEqual(r.problems.map(\.description), ["n:\(line): binary data (NUL bytes) in the text; first seen here"],
                                   "line \(line) column \(column) level \(level) \(sets.count) sets")
                }
            }
        }
    }

    /// A file cut shorter while it is read (by the progress hook, between slices): the lines
    /// before the cut are counted, the cut is named, nothing crashes.
    func testAFileCutShorterWhileItIsMappedIsReported() throws {
        let dir = Harness.tempDir("cut")
        let path = dir.appendingPathComponent("app.log").path
        var text = ""
        for n in 0..<200_000 { text += "2026-11-01 00:00:00 INFO request \(n) done\n" }   // ~8.6 MB: many slices
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        let cutAt = 1_000_000
        let whole = text.utf8.prefix(cutAt).filter { $0 == 0x0A }.count
        let cutLine = Array(text.utf8)[cutAt - 1] == 0x0A ? 0 : 1
        var o = ScanOptions()
        o.threads = 1
        o.patterns = [PatternSpec(name: "info", words: ["INFO"])]
        let done = BadInputTests.Flag()
        o.progress = { p, _ in
            guard p == path, done.set() else { return }
            XCTAssertEqual(truncate(p, off_t(cutAt)), 0)
        }
        let r = try LogScanner.scan(files: [path], options: o)
        let messages = r.problems.map(\.description)
        XCTAssertEqual(messages.count, 1, "\(messages)")
        // the first slice (256 KiB) is read before the hook cuts; the rest up to the cut after
        XCTAssertEqual(r.lines, whole + cutLine, "the whole lines before the cut, and the cut one as the last")
        XCTAssertEqual(r.sets[0].count, whole + cutLine)
        XCTAssertEqual(messages.first, "\(path):\(whole + cutLine + 1): the file ended at byte \(cutAt), before the \(text.utf8.count) bytes it had when the scan began (truncated while it was read)")
    }

    /// The fault itself: a mapped window whose file is cut under it reads zeros where the pages
    /// went, and says so, instead of ending the process with SIGBUS.
    func testAMappedPageThatIsGoneReadsAsZerosAndIsNoted() throws {
        let dir = Harness.tempDir("fault")
        let path = dir.appendingPathComponent("f.log").path
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x61, count: 3 * page)))
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        guard let w = opsh_map(fd, 0, 3 * page) else { return XCTFail("map: \(errno)") }
        XCTAssertEqual(opsh_map_faulted(), 0)
        XCTAssertEqual(w[2 * page], 0x61)
        XCTAssertEqual(truncate(path, off_t(page)), 0)
        XCTAssertEqual(w[page - 1], 0x61, "the page still in the file")
        XCTAssertEqual(w[2 * page + 5], 0, "the page cut off reads as zeros")
        XCTAssertEqual(opsh_map_faulted(), 1)
        opsh_unmap(w, 3 * page)
        guard let again = opsh_map(fd, 0, page) else { return XCTFail("map: \(errno)") }
        XCTAssertEqual(opsh_map_faulted(), 0, "a new window starts unfaulted")
        XCTAssertEqual(again[0], 0x61)
        opsh_unmap(again, page)
    }
}
