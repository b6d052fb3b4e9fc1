import Foundation
import LogScan
import OpshTestSupport
import XCTest

/// Bad input never stops a scan: each case gives a problem naming the file (and the line) and
/// the rest of the report, checked against logs whose answers the test knows.
final class BadInputTests: XCTestCase {
    func access(_ threads: Int = 2) -> ScanOptions {
        var o = ScanOptions()
        o.format = .access
        o.threads = threads
        o.patterns = [PatternSpec(name: "sql", words: ["union", "select", "drop"])]
        return o
    }

    func good(_ n: Int, _ ip: String = "10.0.0.1") -> String {
        "\(ip) - - [01/Nov/2026:00:00:\(String(format: "%02d", n % 60)) +0000] \"GET /a?x=\(n) HTTP/1.1\" 200 5 \"-\" \"curl\"\n"
    }

    func testMalformedAndBinaryLinesAreCountedAndSkipped() throws {
        let dir = Harness.tempDir("malformed")
        let log = dir.appendingPathComponent("access.log")
        var data = Data()
        for n in 0..<10 { data += Data(good(n).utf8) }
        data += Data("this is not an access log line\n".utf8)                        // line 11
        data += Data([0x00, 0xff, 0x13, 0x37, 0x00, 0x0a])                                // line 12: binary
        data += Data("10.0.0.2 - - [01/Nov/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 2x0 5\n".utf8) // 13: bad status
        for n in 0..<5 { data += Data(good(n, "10.0.0.3").utf8) }
        try data.write(to: log)
        let r = try LogScanner.scan(files: [log.path], options: access())
        XCTAssertEqual(r.lines, 18)
        XCTAssertEqual(r.malformed, 3)
        XCTAssertEqual(r.topIPs.map(\.text), ["10.0.0.1", "10.0.0.3"])
        XCTAssertEqual(r.topIPs.map(\.count), [10, 5])
        XCTAssertEqual(r.problems.map(\.line), [11, 12, 13])
        XCTAssertEqual(r.problems.map(\.file), [log.path, log.path, log.path])
        XCTAssertEqual(r.problems[1].description, "\(log.path):12: binary data, not a combined-format access log line: skipped")
    }

    func testATenMegabyteLineIsReportedAndSkipped() throws {
        let dir = Harness.tempDir("longline")
        let log = dir.appendingPathComponent("access.log")
        var data = Data()
        for n in 0..<3 { data += Data(good(n).utf8) }
        data += Data(repeating: 0x41, count: 10 << 20) + Data([0x0a])                   // line 4
        for n in 0..<3 { data += Data(good(n, "10.0.0.9").utf8) }
        try data.write(to: log)
        var o = access(1)
        o.maxLine = 1 << 20
        let r = try LogScanner.scan(files: [log.path], options: o)
        XCTAssertEqual(r.lines, 7)
        XCTAssertEqual(r.malformed, 1)
        XCTAssertEqual(r.topIPs.map(\.count), [3, 3])
        XCTAssertEqual(r.problems.count, 1, "\(r.problems)")
        XCTAssertEqual(r.problems[0].line, 4)
        XCTAssertTrue(r.problems[0].message.contains("a line of 10485760 bytes, longer than the 1048576-byte limit"), r.problems[0].message)
    }

    func testAnEmptyFileAndAFileWithoutFinalNewline() throws {
        let dir = Harness.tempDir("empty")
        let empty = dir.appendingPathComponent("empty.log")
        try Data().write(to: empty)
        let open = dir.appendingPathComponent("open.log")
        try Data((good(1) + String(good(2).dropLast())).utf8).write(to: open)
        let r = try LogScanner.scan(files: [empty.path, open.path], options: access())
        XCTAssertEqual(r.files.map(\.lines), [0, 2])
        XCTAssertEqual(r.problems.map(\.description), ["\(empty.path): empty file: no lines"])
        XCTAssertEqual(r.topIPs.first?.count, 2)
    }

    func testATruncatedGzipKeepsTheLinesBeforeTheCut() throws {
        let dir = Harness.tempDir("gz")
        let log = dir.appendingPathComponent("access.log")
        var text = ""
        for n in 0..<20000 { text += good(n, "10.1.\(n % 7).1") }
        try text.write(to: log, atomically: false, encoding: .utf8)
        XCTAssertEqual(Shell.run(["gzip", "-k", log.path]).status, 0)
        let gz = try Data(contentsOf: URL(fileURLWithPath: log.path + ".gz"))
        let cut = dir.appendingPathComponent("access.log.1.gz")
        try gz.prefix(gz.count / 2).write(to: cut)
        let r = try LogScanner.scan(files: [log.path + ".gz", cut.path], options: access())
        XCTAssertEqual(r.files[0].lines, 20000)
        XCTAssertGreaterThan(r.files[1].lines, 0)
        XCTAssertLessThan(r.files[1].lines, 20000)
        XCTAssertEqual(r.problems.count, 1, "\(r.problems)")
        XCTAssertEqual(r.problems[0].file, cut.path)
        XCTAssertEqual(r.problems[0].line, r.files[1].lines + 1)
        XCTAssertEqual(r.problems[0].message, "the gzip stream ends early (truncated) in line \(r.files[1].lines + 1): the \(r.files[1].lines) whole lines before it are counted")
        XCTAssertEqual(r.files[1].malformed, 0)
        // every complete line before the cut was counted: the counts agree with the text's head
        let readLines = r.files[1].lines
        XCTAssertEqual(r.topIPs.reduce(0) { $0 + $1.count }, 20000 + readLines - r.files[1].malformed)
    }

    func testAFileThatGrowsOrIsRotatedWhileItIsRead() throws {
        let dir = Harness.tempDir("grow")
        let log = dir.appendingPathComponent("app.log")
        var text = ""
        for n in 0..<400_000 { text += "2026-11-01 00:00:00 INFO request \(n) done\n" }   // ~17 MB: several reads
        try text.write(to: log, atomically: false, encoding: .utf8)
        var o = ScanOptions()
        o.threads = 1
        o.patterns = [PatternSpec(name: "info", regex: "INFO")]
        let path = log.path
        let done = Flag()
        o.progress = { p, _ in
            guard p == path, done.set() else { return }
            // the writer appends 10 lines, then logrotate renames the file and starts a new one
            let h = FileHandle(forWritingAtPath: p)!
            h.seekToEndOfFile()
            h.write(Data(String(repeating: "2026-11-01 00:00:01 INFO late\n", count: 10).utf8))
            h.closeFile()
            rename(p, p + ".1")
            FileManager.default.createFile(atPath: p, contents: Data("new\n".utf8))
        }
        let r = try LogScanner.scan(files: [path], options: o)
        XCTAssertEqual(r.lines, 400_000)
        XCTAssertEqual(r.sets[0].count, 400_000)
        let messages = r.problems.map(\.description)
        XCTAssertEqual(messages.count, 2, "\(messages)")
        XCTAssertTrue(messages[0].hasPrefix("\(path):400000: grew from"), messages[0])
        XCTAssertTrue(messages[0].hasSuffix("lines after line 400000 are not counted"), messages[0])
        XCTAssertEqual(messages[1], "\(path): was rotated while it was read (the name is now another file): the 400000 lines of the file as opened are counted")
    }

    /// Tests may run as root, who reads any file whatever its mode: what cannot be read is shown
    /// with a directory and a FIFO named as logs (the FIFO must not hang the scan) and a missing
    /// file; a file with mode 000 is added when the test is not root.
    func testWhatCannotBeReadIsNamedAndTheRestReported() throws {
        let dir = Harness.tempDir("unreadable")
        let log = dir.appendingPathComponent("access.log")
        try (good(1) + good(2)).write(to: log, atomically: false, encoding: .utf8)
        let sub = dir.appendingPathComponent("nginx")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let fifo = dir.appendingPathComponent("pipe.log")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        var files = [sub.path, fifo.path, dir.path + "/missing.log", dir.path + "/none-*.log", log.path]
        var expected = [
            "\(sub.path): is a directory, not a log file: skipped",
            "\(fifo.path): is a FIFO, not a regular file: skipped (reading it could wait forever)",
            "\(dir.path)/missing.log: no such file",
            "\(dir.path)/none-*.log: no file matches this pattern",
        ]
        if getuid() != 0 {
            let locked = dir.appendingPathComponent("locked.log")
            try good(3).write(to: locked, atomically: false, encoding: .utf8)
            chmod(locked.path, 0)
            files.append(locked.path)
            expected.append("\(locked.path): permission denied: cannot read this log (run as a user that may)")
        }
        let r = try LogScanner.scan(files: files, options: access())
        XCTAssertEqual(r.problems.map(\.description), expected)
        XCTAssertEqual(r.lines, 2)
        XCTAssertEqual(r.topIPs.first?.count, 2)
        XCTAssertEqual(r.files.filter { !$0.readable }.count, expected.count)
    }

    final class Flag: @unchecked Sendable {
        private var on = false
        private let lock = NSLock()
        /// True the first time only.
        func set() -> Bool { lock.lock(); defer { lock.unlock() }; if on { return false }; on = true; return true }
    }
}
