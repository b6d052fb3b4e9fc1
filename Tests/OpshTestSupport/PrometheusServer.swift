import Foundation
import XCTest

/// Debian's Prometheus started by a test on a free loopback port, over a data directory the test
/// may have filled with `backfill` (promtool's blocks from OpenMetrics text).
public final class PrometheusServer {
    let process = Process()
    public let port = RedisServer.freePort()
    public var url: String { "http://127.0.0.1:\(port)" }

    public init(config: String, data: URL, retention: String = "30d") throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw XCTSkip("prometheus is not installed (scripts/setup installs it)")
        }
        let file = data.deletingLastPathComponent().appendingPathComponent("prometheus.yml")
        try config.write(to: file, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        process.arguments = ["--config.file=\(file.path)", "--storage.tsdb.path=\(data.path)",
                             "--web.listen-address=127.0.0.1:\(port)", "--storage.tsdb.retention.time=\(retention)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    public func stop() { if process.isRunning { process.terminate(); process.waitUntilExit() } }
    deinit { stop() }

    /// Polls an expression until it has a sample (Prometheus answers before its first scrape).
    public func waitFor(_ expr: String, at time: Int? = nil, seconds: Int = 30) -> Bool {
        let at = time.map { ", time = \($0)" } ?? ""
        for _ in 0..<(seconds * 4) {
            let r = Harness.run(["-e", "local v = require('opsh.prom').query([[\(expr)]], { url = '\(url)'\(at) }); print(v and #v or 0)"])
            if r.stdout != "0\n" && r.stdout != "" { return true }
            usleep(250_000)
        }
        return false
    }

    /// Writes Prometheus blocks made from OpenMetrics `text` (ending "# EOF") into `data` with
    /// promtool (skips the test when promtool is not installed).
    public static func backfill(_ text: String, into data: URL) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else { throw XCTSkip("promtool is not installed") }
        let input = data.deletingLastPathComponent().appendingPathComponent("history.om")
        try text.write(to: input, atomically: true, encoding: .utf8)
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        tool.arguments = ["tsdb", "create-blocks-from", "openmetrics", input.path, data.path]
        tool.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        tool.standardError = err
        try tool.run()
        tool.waitUntilExit()
        XCTAssertEqual(tool.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}
