import Foundation
import OpshTestSupport
import XCTest

/// opsh.notify against a local webhook receiver.
final class NotifyTests: XCTestCase {
    func testSlackAndWebhookDelivery() throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let r = Harness.run(["-e", """
            local notify = require "opsh.notify"
            local s = assert(notify.slack("Qdrant is down", { level = "critical", fields = { host = "db1", since = "5m" } }))
            print(s.status, s.attempts)
            local w = assert(notify.webhook("\(server.url)/hook", { event = "backup_failed", size = 3 }))
            print(w.status)
            local f = assert(notify.webhook("\(server.url)/flaky/2", { x = 1 }, { backoff = 0.01 }))
            print(f.status, f.attempts)
            local v, e = notify.webhook("\(server.url)/status/404", {}, { backoff = 0.01 })
            print(v, e.code, e.status)
            local v2, e2 = notify.webhook("http://127.0.0.1:1/", {}, { retries = 1, backoff = 0.01 })
            print(v2, e2.code, e2.message:match("not delivered") ~= nil)
            """], env: ["SLACK_WEBHOOK_URL": server.url + "/slack"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "200\t1\n200\n200\t3\nnil\tnotify\t404\nnil\tnotify\ttrue\n")
    }

    func testSlackPayloadAndUnconfigured() throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        // the echo server answers with what it received: check the payload through a webhook to /echo
        let r = Harness.run(["-e", """
            local notify = require "opsh.notify"
            local http = require "opsh.http"
            local v, e = notify.slack("x")
            print(v, e.code)
            local json = require "opsh.json"
            local r = assert(http.post("\(server.url)/echo", { json = { text = ":rotating_light: down\\n• *host*: db1" } }))
            print(json.decode(r.json.body).text:match("^:rotating_light:") ~= nil)
            """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\tnot_configured\ntrue\n")
        let dry = Harness.run(["--dry-run", "-e", "print(require('opsh.notify').slack('x', { url = '\(server.url)/slack' }).dry_run)"])
        XCTAssertEqual(dry.stdout, "true\n", dry.stderr)
    }
}
