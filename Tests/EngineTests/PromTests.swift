import Foundation
import OpshTestSupport
import XCTest

/// opsh.prom against Debian's prometheus on loopback, scraping itself.
final class PromTests: XCTestCase {
    func testQueriesAgainstARealPrometheus() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw XCTSkip("prometheus is not installed (scripts/setup installs it)")
        }
        let dir = Harness.tempDir("prom")
        let port = RedisServer.freePort()
        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: self
                static_configs:
                  - targets: ["127.0.0.1:\(port)"]
            """
        try config.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        p.arguments = ["--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
                       "--web.listen-address=127.0.0.1:\(port)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        // wait until the first scrapes are stored
        var ready = false
        for _ in 0..<60 {
            let r = Harness.run(["-e", "local p = require('opsh.prom'); local v = p.query('up', { url = '\(url)' }); print(v and #v or 0)"])
            if r.stdout == "1\n" { ready = true; break }
            usleep(250_000)
        }
        XCTAssertTrue(ready, "prometheus never reported up")
        usleep(2_500_000)
        let r = Harness.run(["-e", """
            local prom = require "opsh.prom"
            local up = assert(prom.query("up"))
            print(up.type, #up, up[1].metric.job, up[1].value, math.type(up[1].value))
            local s = assert(prom.query("1 + 1")); print(s.type, s.value)
            local range = assert(prom.query_range("up", { start = "30s", step = "1s" }))
            print(range.type, #range, #range[1].values >= 2, range[1].values[1][2])
            local bad, err = prom.query("up{")
            print(bad, err.code, err.error_type)
            local none, err2 = prom.query("up", { url = "http://127.0.0.1:1" })
            print(none, err2.code)
            local text = assert(require("opsh.http").get("\(url)/metrics")).body
            local m = prom.parse_text(text)
            print(m.prometheus_build_info ~= nil, m.type.prometheus_build_info)
            """], env: ["PROMETHEUS_URL": url])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "vector\t1\tself\t1.0\tfloat\nscalar\t2.0\nmatrix\t1\ttrue\t1.0\nnil\tprometheus\tbad_data\nnil\tconnect\ntrue\tgauge\n")
    }
}
