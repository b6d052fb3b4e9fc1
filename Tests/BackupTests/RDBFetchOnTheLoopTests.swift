import Foundation
import OpshTestSupport
import XCTest

/// A replication source that holds the snapshot until a file appears: what a slow master (a
/// large dataset being dumped) looks like to w:add_redis_rdb. It answers REPLCONF with +OK, sends
/// SYNC's keepalive newlines, and sends the RDB payload once `release` exists (and never, if it
/// does not appear within 15 s).
final class SlowReplicaSource: @unchecked Sendable {
    let port: UInt16
    let release: String
    private let fd: Int32

    init(release: String, payload: [UInt8]) {
        self.release = release
        let (fd, port) = HostileServer.listenOnLoopback()
        self.fd = fd
        self.port = port
        Thread { [fd] in
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            defer { close(c) }
            func send(_ b: [UInt8]) { _ = b.withUnsafeBytes { Glibc.send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            var seen: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(c, &buf, buf.count)
                guard n > 0 else { return }
                seen += buf[0..<n]
                let text = String(decoding: seen, as: UTF8.self)
                let replconfs = text.components(separatedBy: "REPLCONF").count - 1
                if text.contains("SYNC") { break }
                if replconfs > 0 && text.hasSuffix("\r\n") && seen.count > 0 {
                    for _ in 0..<replconfs { send(Array("+OK\r\n".utf8)) }
                    seen = []
                }
            }
            // the master prepares the snapshot: keepalives until released; never released within
            // 15 s, it gives up without sending it
            var released = false
            for _ in 0..<1500 {
                if FileManager.default.fileExists(atPath: release) { released = true; break }
                send([10])
                usleep(10_000)
            }
            if released { send(Array("$\(payload.count)\r\n".utf8) + payload) }
            usleep(200_000)
        }.start()
    }

    deinit { close(fd) }
}

final class RDBFetchOnTheLoopTests: XCTestCase {
    /// The fetch runs beside the event loop: a timer task keeps firing while it waits, and
    /// only that task's ticks release the snapshot. Were the loop blocked by the fetch, the
    /// ticks would never come and the fetch would time out.
    func testTimersKeepFiringDuringASlowFetch() throws {
        let dir = Harness.tempDir("rdb-loop")
        let release = dir.appendingPathComponent("release").path
        let payload = Array("REDIS0011".utf8) + [UInt8](repeating: 0xAB, count: 4096)
        let source = SlowReplicaSource(release: release, payload: payload)
        let root = dir.appendingPathComponent("backups").path
        let r = Harness.run(["-e", """
            local opsh, backup = require "opsh", require "opsh.backup"
            local w = assert(backup.begin{ root = '\(root)', tier = "daily" })
            local ticks = 0
            local ticker = opsh.spawn(function()
              for _ = 1, 5 do opsh.sleep(0.02); ticks = ticks + 1 end
              local f = assert(io.open('\(release)', "w")); f:write("go"); f:close()
            end)
            local it = assert(w:add_redis_rdb("redis.rdb", "redis://127.0.0.1:\(source.port)", { timeout = 5 }))
            ticker:wait()
            print(ticks, it.bytes, it.framing)
            print(assert(w:commit()).path ~= nil)
            """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "5\t\(payload.count)\tlength\ntrue\n")
        withExtendedLifetime(source) {}
    }
}
