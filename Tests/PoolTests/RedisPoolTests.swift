import EventLoop
import Foundation
import OpshTestSupport
@testable import Pool
import RESP
import XCTest

/// The pool and its breaker against a real redis-server that the tests stop, start, freeze
/// (SIGSTOP) and thaw (SIGCONT) — by its pid, waiting until each change really happened.
final class RedisPoolTests: XCTestCase {
    func makePool(_ server: RedisServer, max: Int = 2, timeout: Double = 2, acquire: Double = 2,
                  clock: ManualClock? = nil) throws -> ManagedPool<RESPSession> {
        let ep = try RESPEndpoint(url: server.url)
        return try ManagedPool(name: server.url, kind: "redis",
                               options: PoolOptions(min: 0, max: max, acquireTimeout: acquire),
                               connector: RESPPooling.connector(endpoint: ep, connectTimeout: 1, timeout: timeout),
                               clock: clock.map { .manual($0) } ?? .monotonic)
    }

    func call(_ m: ManagedPool<RESPSession>, _ args: [String]) throws -> RESPValue {
        try m.call(pattern: QueryPattern.redis(command: args[0], key: args.count > 1 ? args[1] : nil),
                   classify: RESPPooling.classify, judge: RESPPooling.failureType(ofReply:)) { try $0.command(args) }
    }

    func processState(_ pid: Int32) -> Character? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return nil }
        return s[s.index(close, offsetBy: 2)]
    }

    func waitUntil(_ what: String, _ cond: () -> Bool) {
        for _ in 0..<1000 { if cond() { return }; usleep(10_000) }
        XCTFail("gave up waiting until \(what)")
    }

    func testStoppedServerOpensTheBreakerThenCallsFailFastAndRecoverThroughHalfOpen() throws {
        let server = try RedisServer(extraArguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let port = server.port
        let clock = ManualClock()
        let m = try makePool(server, clock: clock)
        var told = 0
        for _ in 0..<20 { if (try? call(m, ["INCR", "n"])) != nil { told += 1 } }
        XCTAssertEqual(told, 20)

        server.stop()
        waitUntil("the port is closed") { !RedisServer.accepts(port) }
        var connectionFailures = 0
        while m.breaker.state == .closed && connectionFailures < 10 {
            XCTAssertThrowsError(try call(m, ["INCR", "n"]))
            connectionFailures += 1
        }
        XCTAssertEqual(m.breaker.state, .open)
        XCTAssertEqual(connectionFailures, 3, "the connection threshold is 3")
        let made = m.pool.stats.createdTotal
        XCTAssertThrowsError(try call(m, ["INCR", "n"])) { XCTAssertEqual(($0 as? PoolError)?.kind, .circuitOpen) }
        XCTAssertEqual(m.pool.stats.createdTotal, made, "open: no connection attempted")

        let again = try RedisServer(port: port, extraArguments: ["--appendonly", "yes", "--appendfsync", "always", "--dir", server.dir.path])
        clock.advance(seconds: 60)
        // half-open: three probes, the fourth caller is refused at once
        let probes = (0..<3).map { _ in m.admit() }
        for p in probes { XCTAssertEqual(try p.get(), .probe) }
        if case .failure(let e) = m.admit() { XCTAssertEqual(e.kind, .circuitOpen) } else { XCTFail("a fourth call was admitted") }
        for p in probes { m.cancelAdmission(try p.get()) }
        // two probes that succeed close it
        XCTAssertNoThrow(try call(m, ["INCR", "n"]))
        XCTAssertEqual(m.breaker.state, .halfOpen)
        XCTAssertNoThrow(try call(m, ["INCR", "n"]))
        XCTAssertEqual(m.breaker.state, .closed)
        told += 2
        // every INCR the caller was told succeeded is there, none twice (the failed ones never
        // reached a server: it was down)
        let n = try call(m, ["GET", "n"])
        XCTAssertEqual(n.bytes.map { String(decoding: $0, as: UTF8.self) }, String(told))
        again.stop()
    }

    func testFrozenServerTimesOutAcquiresAtTheirDeadlineAndRecovers() throws {
        let server = try RedisServer()
        let m = try makePool(server, max: 1, timeout: 1.5, acquire: 0.3)
        XCTAssertNoThrow(try call(m, ["PING"]))
        kill(server.process.processIdentifier, SIGSTOP)
        waitUntil("redis-server is stopped") { processState(server.process.processIdentifier) == "T" }
        defer { kill(server.process.processIdentifier, SIGCONT) }

        // the one connection hangs in a call...
        let hung = Thread { _ = try? self.call(m, ["SET", "k", "v"]) }
        hung.start()
        waitUntil("the call holds the connection") { m.pool.stats.checkedOut == 1 }
        // ...so an acquire times out at its deadline, not before
        let start = Deadline.now()
        XCTAssertThrowsError(try call(m, ["GET", "k"])) { XCTAssertEqual(($0 as? PoolError)?.kind, .timeout) }
        XCTAssertGreaterThanOrEqual(Deadline.now().nanoseconds - start.nanoseconds, 300_000_000)
        XCTAssertEqual(m.pool.stats.timeoutsTotal, 1)
        waitUntil("the hung call timed out") { m.pool.stats.checkedOut == 0 }
        XCTAssertEqual(m.breaker.status.failuresTotal[FailureType.timeout.rawValue], 1)

        kill(server.process.processIdentifier, SIGCONT)
        waitUntil("redis-server runs again") { processState(server.process.processIdentifier) != "T" }
        XCTAssertEqual(try call(m, ["PING"]), .simpleString(Array("PONG".utf8)))
        XCTAssertEqual(m.breaker.state, .closed)
    }

    func testResourceRepliesCountAndCallerErrorsDoNot() throws {
        let server = try RedisServer(extraArguments: ["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"])
        let m = try makePool(server)
        let wrong = try call(m, ["LPUSH", "s", "x"])
        XCTAssertFalse(wrong.isError)
        XCTAssertTrue(try call(m, ["GET", "s"]).isError, "WRONGTYPE")
        XCTAssertEqual(m.breaker.status.failuresTotal.reduce(0, +), 0, "a caller's mistake is not the endpoint's failure")
        let big = String(repeating: "x", count: 600_000)
        var oom = 0
        for i in 0..<6 where (try? call(m, ["SET", "big\(i)", big]))?.errorCode == "OOM" { oom += 1 }
        XCTAssertGreaterThan(oom, 0)
        XCTAssertEqual(m.breaker.status.failuresTotal[FailureType.resource.rawValue], oom)
        XCTAssertEqual(m.breaker.state, oom >= 3 ? .open : .closed)
    }
}
