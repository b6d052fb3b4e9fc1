import Foundation
import XCTest
import OpshTestSupport
@testable import RESP

final class ServerTests: XCTestCase {
    nonisolated(unsafe) static var server: RedisServer?

    override class func setUp() { server = try? RedisServer() }
    override class func tearDown() { server?.stop(); server = nil }

    func redis() throws -> RedisServer {
        guard let s = ServerTests.server else { throw XCTSkip("redis-server did not start") }
        return s
    }

    func client(_ db: Int = 0) throws -> RESPSession {
        let s = try redis()
        return try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)/\(db)")
    }

    func testSetGetBinaryWithNULs() throws {
        let c = try client(1)
        let value: [UInt8] = [0, 1, 2, 13, 10, 0, 255] + Array(repeating: 0, count: 100_000)
        XCTAssertEqual(try c.command([b("SET"), b("bin\0key"), value]), .simpleString(b("OK")))
        XCTAssertEqual(try c.command([b("GET"), b("bin\0key")]), .bulkString(value))
        XCTAssertEqual(try c.command(["GET", "missing"]), .bulkString(nil))
        // SELECT from the URL: db 0 does not see it.
        let c0 = try client(0)
        XCTAssertEqual(try c0.command([b("EXISTS"), b("bin\0key")]), .integer(0))
    }

    func testPipelineThousand() throws {
        let c = try client(2)
        var cmds: [[RESPArgument]] = []
        for i in 0..<1000 { cmds.append([.string("SET"), .string("k\(i)"), .int(Int64(i))]) }
        for i in 0..<1000 { cmds.append([.string("INCRBY"), .string("k\(i)"), .int(1)]) }
        let r = try c.pipeline(cmds)
        XCTAssertEqual(r.count, 2000)
        XCTAssertEqual(r[999], .simpleString(b("OK")))
        XCTAssertEqual(r[1999], .integer(1000))
        let g = try c.pipeline((0..<1000).map { ["GET", "k\($0)"] })
        XCTAssertEqual(g.map { $0.int }, (1...1000).map { Int64($0) })
    }

    func testMultiExec() throws {
        let c = try client(3)
        let r = try c.pipeline([["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["EXEC"]])
        XCTAssertEqual(r[0], .simpleString(b("OK")))
        XCTAssertEqual(r[1], .simpleString(b("QUEUED")))
        XCTAssertEqual(r[3], .array([.simpleString(b("OK")), .integer(2)]))
        // One by one too.
        XCTAssertEqual(try c.command(["MULTI"]), .simpleString(b("OK")))
        XCTAssertEqual(try c.command(["INCR", "a"]), .simpleString(b("QUEUED")))
        XCTAssertEqual(try c.command(["EXEC"]), .array([.integer(3)]))
    }

    func testEvalAndEvalSHA() throws {
        let c = try client(4)
        let script = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}"
        XCTAssertEqual(try c.command(["EVAL", script, "1", "ctr", "x"]),
                       .array([.bulkString(b("ctr")), .bulkString(b("x")), .integer(1)]))
        XCTAssertEqual(try c.evalCached(script, keys: [b("ctr")], args: [b("y")]),
                       .array([.bulkString(b("ctr")), .bulkString(b("y")), .integer(2)]))
        // After SCRIPT FLUSH the cached SHA gives NOSCRIPT; evalCached reloads it.
        XCTAssertEqual(try c.command(["SCRIPT", "FLUSH"]), .simpleString(b("OK")))
        XCTAssertEqual(try c.evalCached(script, keys: [b("ctr")], args: [b("z")]),
                       .array([.bulkString(b("ctr")), .bulkString(b("z")), .integer(3)]))
        let err = try c.command(["EVALSHA", "0000000000000000000000000000000000000000", "0"])
        XCTAssertEqual(err.errorCode, "NOSCRIPT")
    }

    func testScanToTheEnd() throws {
        let c = try client(5)
        _ = try c.pipeline((0..<2500).map { ["SET", "session:\($0)", "v"] } + (0..<100).map { ["SET", "other:\($0)", "v"] })
        var seen = Set<[UInt8]>()
        try c.scan(match: "session:*", count: 100) { page in
            for k in page { seen.insert(k.bytes!) }
            return true
        }
        XCTAssertEqual(seen.count, 2500)
        _ = try c.pipeline((0..<300).map { ["HSET", "h", "f\($0)", "\($0)"] })
        var fields = 0
        try c.scan(["HSCAN", "h"], count: 50) { page in fields += page.count / 2; return true }
        XCTAssertEqual(fields, 300)
    }

    func testInfoParsed() throws {
        let c = try client(6)
        _ = try c.command(["SET", "x", "1"])
        let text = try c.command(["INFO"]).string ?? ""
        let info = RESPInfo.parse(text)
        XCTAssertEqual(info["server"]?["redis_version"]?.string?.hasPrefix("7."), true)
        XCTAssertNotNil(info["memory"]?["used_memory"]?.int)
        XCTAssertNotNil(info["memory"]?["mem_fragmentation_ratio"]?.double)
        XCTAssertEqual(info["keyspace"]?["db6"]?.fields?["keys"]?.int, 1)
        XCTAssertFalse(info.isDragonfly)
        XCTAssertEqual(info["replication"]?["role"]?.string, "master")
    }

    func testHello3GivesMapsDefaultStaysResp2() throws {
        let s = try redis()
        let c2 = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)/7")
        _ = try c2.command(["HSET", "h", "a", "1"])
        XCTAssertEqual(try c2.command(["HGETALL", "h"]), .array([.bulkString(b("a")), .bulkString(b("1"))]))
        let c3 = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)/7?protocol=3")
        XCTAssertEqual(try c3.command(["HGETALL", "h"]), .map([RESPPair(.bulkString(b("a")), .bulkString(b("1")))]))
        XCTAssertEqual(try c3.command(["GET", "nope"]), .null)
        if case .double(let d) = try c3.command(["ZINCRBY", "z", "1.5", "m"]) { XCTAssertEqual(d, 1.5) } else { XCTFail() }
        XCTAssertEqual(try c2.command(["ZSCORE", "z", "m"]), .bulkString(b("1.5")))
    }

    func testServerErrorReplyCarriesCode() throws {
        let c = try client(8)
        _ = try c.command(["LPUSH", "list", "a"])
        let r = try c.command(["GET", "list"])
        XCTAssertTrue(r.isError)
        XCTAssertEqual(r.errorCode, "WRONGTYPE")
        XCTAssertEqual(try c.command(["NOSUCHCOMMAND"]).errorCode, "ERR")
        // The connection is still usable.
        XCTAssertEqual(try c.command(["PING"]), .simpleString(b("PONG")))
        XCTAssertFalse(c.connection!.isBroken)
    }

    func testACLUser() throws {
        let s = try redis()
        let admin = try client()
        XCTAssertEqual(try admin.command(["ACL", "SETUSER", "ops", "on", ">s3cr#t/pw", "~*", "+@all"]), .simpleString(b("OK")))
        let ok = try RESPSession.connect(url: "redis://ops:s3cr%23t%2Fpw@127.0.0.1:\(s.port)/0")
        XCTAssertEqual(try ok.command(["ACL", "WHOAMI"]), .bulkString(b("ops")))
        XCTAssertThrowsError(try RESPSession.connect(url: "redis://ops:wrong@127.0.0.1:\(s.port)")) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .handshake)
            XCTAssertEqual(e.serverCode, "WRONGPASS")
            XCTAssertTrue(e.message.contains("AUTH refused"), e.message)
        }
        // RESP3 with AUTH inside HELLO.
        let h = try RESPSession.connect(url: "redis://ops:s3cr%23t%2Fpw@127.0.0.1:\(s.port)/0?protocol=3")
        XCTAssertEqual(try h.command(["ACL", "WHOAMI"]), .bulkString(b("ops")))
        XCTAssertThrowsError(try RESPSession.connect(url: "redis://ops:nope@127.0.0.1:\(s.port)/0?protocol=3")) { e in
            XCTAssertEqual((e as! RESPError).serverCode, "WRONGPASS")
        }
    }

    func testUnixSocket() throws {
        let s = try redis()
        let c = try RESPSession.connect(url: "unix://\(s.socketPath)?db=9")
        XCTAssertEqual(try c.command(["SET", "u", "1"]), .simpleString(b("OK")))
        let tcp = try client(9)
        XCTAssertEqual(try tcp.command(["GET", "u"]), .bulkString(b("1")))
    }

    func testConnectToClosedPortFailsFast() throws {
        let port = RedisServer.freePort()
        XCTAssertThrowsError(try RESPSession.connect(url: "redis://127.0.0.1:\(port)")) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .connectRefused)
            XCTAssertTrue(e.message.contains("Connection refused"), e.message)
        }
        XCTAssertThrowsError(try RESPSession.connect(url: "unix:///nonexistent/redis.sock")) { e in
            XCTAssertEqual((e as! RESPError).kind, .connectRefused)
        }
    }

    func testEventLoopStyleDrivingWithPartialReads() throws {
        // Drive RESPConnection by hand with poll, as an event loop would.
        let s = try redis()
        let c = try RESPConnection(endpoint: .tcp("127.0.0.1", UInt16(s.port)))
        func wait(_ need: IONeed) {
            var p = pollfd(fd: c.fd, events: Int16(need == .writable ? POLLOUT : POLLIN), revents: 0)
            _ = poll(&p, 1, 10_000)
        }
        while case let n = try c.connectStep(), n != .done { wait(n) }
        let big = [UInt8](repeating: 0x78, count: 8 << 20)
        c.enqueue([b("SELECT"), b("10")])
        c.enqueue([b("SET"), b("big"), big])
        c.enqueue([b("GET"), b("big")])
        while case let n = try c.flushStep(), n != .done { wait(n) }
        var replies: [RESPValue] = []
        while replies.count < 3 {
            if let r = try c.nextReply() { replies.append(r); continue }
            let n = try c.readStep()
            if n != .done { wait(n) }
        }
        XCTAssertEqual(replies[1], .simpleString(b("OK")))
        XCTAssertEqual(replies[2], .bulkString(big))
        XCTAssertEqual(c.pendingReplies, 0)
        c.close()
        XCTAssertTrue(c.isBroken)
        XCTAssertThrowsError(try c.readStep())
    }
}

/// Servers this test kills or reconfigures: one each.
final class ServerFailureTests: XCTestCase {
    func testServerKilledMidRead() throws {
        let s = try RedisServer()
        defer { s.stop() }
        let c = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)")
        c.retry.maxAttempts = 1
        // BLPOP holds the reply; the server is killed once CLIENT LIST shows the client waiting in
        // it, and kill9 returns only when the server is gone (reaped, its port closed)
        let admin = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)")
        let gone = DispatchSemaphore(value: 0)
        let shared = Shared((admin, s))
        let killer = Thread {
            _ = try? SessionTests.client(running: "blpop", on: shared.value.0)
            shared.value.1.kill9()
            gone.signal()
        }
        killer.start()
        XCTAssertThrowsError(try c.command(["BLPOP", "never", "0"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .closedByServer, e.message)
            XCTAssertTrue(e.message.contains("closed by the server"), e.message)
        }
        XCTAssertNil(c.connection)   // dropped, never reused
        gone.wait()
        // The next call tries to reconnect and fails clearly.
        XCTAssertThrowsError(try c.command(["PING"])) { e in
            XCTAssertEqual((e as! RESPError).kind, .connectRefused)
        }
    }

    func testConnectionIsBrokenAfterServerDies() throws {
        let s = try RedisServer()
        defer { s.stop() }
        let c = try RESPConnection(endpoint: .tcp("127.0.0.1", UInt16(s.port)))
        var p = pollfd(fd: c.fd, events: Int16(POLLOUT), revents: 0)
        while try c.connectStep() != .done { _ = poll(&p, 1, 10_000) }
        c.enqueue(["DEBUG", "SLEEP", "5"])
        while try c.flushStep() != .done { _ = poll(&p, 1, 10_000) }
        s.kill9()
        var got: RESPError? = nil
        do {
            while true {
                if try c.nextReply() != nil { break }
                if try c.readStep() == .readable { var q = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0); _ = poll(&q, 1, 10_000) }
            }
        } catch { got = error }
        XCTAssertEqual(got?.kind, .closedByServer)
        XCTAssertTrue(c.isBroken)
        XCTAssertEqual(c.pendingReplies, 1)
        XCTAssertThrowsError(try c.flushStep()) { e in XCTAssertEqual((e as! RESPError).kind, .broken) }
    }

    func testReadOnlyCommandResentAfterReconnect() throws {
        let s = try RedisServer()
        defer { s.stop() }
        let c = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)")
        _ = try c.command(["SET", "k", "v"])
        // The server drops every client; a GET is re-sent on a new connection, a SET is not.
        let admin = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)")
        _ = try admin.command(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
        XCTAssertEqual(try c.command(["GET", "k"]), .bulkString(b("v")))
        XCTAssertEqual(c.connectCount, 2)
        _ = try admin.command(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
        XCTAssertThrowsError(try c.command(["SET", "k", "w"])) { e in
            XCTAssertEqual((e as! RESPError).kind, .closedByServer)
        }
        // A broken connection is replaced on the next call.
        XCTAssertEqual(try c.command(["GET", "k"]), .bulkString(b("v")))
        XCTAssertEqual(c.connectCount, 3)
    }
}

extension ServerTests {
    func testCommandTableFromServer() throws {
        let c = try client()
        guard let t = RESPCommandTable.parse(try c.command(["COMMAND"])) else { return XCTFail("COMMAND not parsed") }
        XCTAssertFalse(t.isFallback)
        XCTAssertGreaterThan(t.commands.count, 200)
        XCTAssertFalse(t.isWrite("GET")); XCTAssertFalse(t.isWrite("scan")); XCTAssertFalse(t.isWrite("HGETALL"))
        XCTAssertTrue(t.isWrite("SET")); XCTAssertTrue(t.isWrite("DEL")); XCTAssertTrue(t.isWrite("FLUSHDB")); XCTAssertTrue(t.isWrite("HSET"))
        XCTAssertTrue(t.isWrite("CONFIG", subcommand: "SET")); XCTAssertFalse(t.isWrite("CONFIG", subcommand: "GET"))
        XCTAssertFalse(t.isWrite("PING")); XCTAssertFalse(t.isWrite("INFO"))
        XCTAssertTrue(t.refusedUnderDryRun("EVAL")); XCTAssertTrue(t.refusedUnderDryRun("FCALL_RO"))
        XCTAssertTrue(t.isWrite("NOSUCHCOMMAND"))
        // COMMAND INFO for a few names (unknown names come back null and are skipped).
        let some = RESPCommandTable.parse(try c.command(["COMMAND", "INFO", "get", "set", "nosuch"]))
        XCTAssertEqual(some?.commands.count, 2)
        XCTAssertEqual(some?.isWrite("set"), true)
    }

    func testResp3PushMessages() throws {
        let s = try redis()
        let sub = try RESPSession.connect(url: "redis://127.0.0.1:\(s.port)/0?protocol=3")
        var pushes: [RESPValue] = []
        sub.onPush = { pushes.append($0) }
        // In RESP3 the SUBSCRIBE confirmation itself is a push; PING still gets its reply.
        sub.connection!.enqueue(["SUBSCRIBE", "news"])
        let pub = try client()
        XCTAssertEqual(try sub.command(["PING"]), .simpleString(b("PONG")))
        XCTAssertEqual(try pub.command(["PUBLISH", "news", "hello"]), .integer(1))
        XCTAssertEqual(try sub.command(["PING"]), .simpleString(b("PONG")))
        XCTAssertEqual(pushes.first, .push([.bulkString(b("subscribe")), .bulkString(b("news")), .integer(1)]))
        XCTAssertEqual(pushes.last, .push([.bulkString(b("message")), .bulkString(b("news")), .bulkString(b("hello"))]))
    }
}
