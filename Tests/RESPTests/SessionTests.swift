import EventLoop
import Foundation
import OpshTestSupport
import XCTest
@testable import RESP

/// Hands a value to a helper thread of a test; the test never uses it meanwhile.
final class Shared<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// RESPSession against a real redis-server: what a reconnect restores, what it never re-sends,
/// push frames, and calls abandoned on the event loop. Connections are killed with CLIENT KILL
/// from a second connection, once CLIENT LIST shows the command being waited for: nothing here
/// depends on how fast the machine is.
final class SessionTests: XCTestCase {
    var server: RedisServer!
    var admin: RESPSession!

    override func setUpWithError() throws {
        server = try RedisServer()
        admin = try RESPSession.connect(url: server.url)
    }
    override func tearDown() { admin?.close(); server?.stop() }

    func session(_ query: String = "") throws -> RESPSession {
        try RESPSession.connect(url: server.url + "/0" + query)
    }

    /// The id of a client (other than `except`) whose current command is `cmd`, waiting for one.
    static func client(running cmd: String, on admin: RESPSession, except: Set<String> = []) throws -> String {
        for _ in 0..<2000 {
            let list = try admin.command(["CLIENT", "LIST"]).string ?? ""
            for line in list.split(separator: "\n") {
                let f = Dictionary(line.split(separator: " ").compactMap { kv -> (String, String)? in
                    let p = kv.split(separator: "=", maxSplits: 1)
                    return p.count == 2 ? (String(p[0]), String(p[1])) : nil
                }, uniquingKeysWith: { a, _ in a })
                if f["cmd"] == cmd, let id = f["id"], !except.contains(id) { return id }
            }
            usleep(5_000)
        }
        throw NSError(domain: "SessionTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "no client ran \(cmd)"])
    }

    func kill(_ id: String) throws {
        XCTAssertEqual(try admin.command(["CLIENT", "KILL", "ID", id]), .integer(1))
    }

    func ownID(_ s: RESPSession) throws -> String {
        String(try s.command(["CLIENT", "ID"]).int ?? -1)
    }

    func testReconnectRestoresSelectNameAndHello() throws {
        let s = try session()
        XCTAssertEqual(try s.command(["SELECT", "5"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.command(["SET", "k", "in five"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.command(["CLIENT", "SETNAME", "worker-1"]), .simpleString(b("OK")))
        try kill(try ownID(s))
        // GET is read-only: re-sent on a new connection, which must be in db 5 again
        XCTAssertEqual(try s.command(["GET", "k"]), .bulkString(b("in five")))
        XCTAssertEqual(s.connectCount, 2)
        let info = try s.command(["CLIENT", "INFO"]).string ?? ""
        XCTAssertTrue(info.contains(" db=5 ") && info.contains(" name=worker-1 "), info)

        // HELLO 3 sent by the program: the new connection speaks RESP3 too
        _ = try s.command(["HSET", "h", "f", "v"])
        XCTAssertTrue(try s.command(["HELLO", "3"]).elements != nil)
        try kill(try ownID(s))
        XCTAssertEqual(try s.command(["HGETALL", "h"]), .map([RESPPair(.bulkString(b("f")), .bulkString(b("v")))]))
        XCTAssertEqual(s.connectCount, 3)
    }

    func testKilledInsideMultiIsNeverResentAndSaysSo() throws {
        let s = try session()
        let id = try ownID(s)
        XCTAssertEqual(try s.command(["MULTI"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.command(["SET", "a", "1"]), .simpleString(b("QUEUED")))
        try kill(id)
        XCTAssertThrowsError(try s.command(["SET", "b", "2"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .closedByServer, e.message)
            XCTAssertTrue(e.message.contains("not re-sent") && e.message.contains("MULTI"), e.message)
        }
        // what the program would queue next must not run outside its transaction
        XCTAssertThrowsError(try s.command(["SET", "c", "3"])) { e in
            XCTAssertEqual((e as! RESPError).kind, .transactionLost)
        }
        XCTAssertThrowsError(try s.command(["EXEC"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .transactionLost)
            XCTAssertTrue(e.message.contains("nothing was executed"), e.message)
        }
        // EXEC ended it: the session works again, and nothing of the transaction ran
        XCTAssertEqual(try s.command(["EXISTS", "a", "b", "c"]), .integer(0))
        XCTAssertEqual(s.connectCount, 2)
    }

    func testKilledAfterWatchIsNeverResent() throws {
        let s = try session()
        XCTAssertEqual(try s.command(["WATCH", "w"]), .simpleString(b("OK")))
        try kill(try ownID(s))
        XCTAssertThrowsError(try s.command(["GET", "w"])) { e in
            XCTAssertTrue((e as! RESPError).message.contains("not re-sent"), (e as! RESPError).message)
        }
        // MULTI would start a transaction the watch no longer guards
        XCTAssertThrowsError(try s.command(["MULTI"])) { e in XCTAssertEqual((e as! RESPError).kind, .transactionLost) }
        XCTAssertEqual(try s.command(["UNWATCH"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.command(["GET", "w"]), .bulkString(nil))
    }

    func testKilledDuringAPipeline() throws {
        let s = try session()
        s.retry.initialBackoff = 0
        // a pipeline with writes: not re-sent, and INCR ran once, not twice
        let a = Shared(admin!)
        let killerDone = DispatchSemaphore(value: 0)
        let killer = Thread {
            if let id = try? SessionTests.client(running: "blpop", on: a.value) { _ = try? a.value.command(["CLIENT", "KILL", "ID", id]) }
            killerDone.signal()
        }
        killer.start()
        XCTAssertThrowsError(try s.pipeline([["INCR", "n"], ["BLPOP", "never", "0"], ["INCR", "n"]])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .closedByServer, e.message)
            XCTAssertTrue(e.message.contains("not re-sent: INCR may already have run"), e.message)
        }
        XCTAssertEqual(try s.command(["GET", "n"]), .bulkString(b("1")))
        // the admin session is the killer's until its CLIENT KILL has its reply: one call at a time
        killerDone.wait()

        // a read-only pipeline is sent again on a new connection; a write answers the second XREAD
        _ = try s.command(["XADD", "s", "1-1", "f", "old"])
        let before = s.connectCount
        let helperDone = DispatchSemaphore(value: 0)
        let helper = Thread {
            defer { helperDone.signal() }
            let admin = a.value
            guard let first = try? SessionTests.client(running: "xread", on: admin) else { return }
            _ = try? admin.command(["CLIENT", "KILL", "ID", first])
            guard (try? SessionTests.client(running: "xread", on: admin, except: [first])) != nil else { return }
            _ = try? admin.command(["XADD", "s", "2-1", "f", "new"])
        }
        helper.start()
        let r = try s.pipeline([["GET", "n"], ["XREAD", "BLOCK", "0", "STREAMS", "s", "1-1"]])
        XCTAssertEqual(r[0], .bulkString(b("1")))
        XCTAssertEqual(r[1].elements?.first?.elements?[1].elements?.first?.elements?[0], .bulkString(b("2-1")))
        XCTAssertEqual(s.connectCount, before + 1)
        helperDone.wait()
    }

    /// CLIENT TRACKING in RESP3: the server pushes `invalidate` when another connection writes a
    /// key this one read. The push must never be read as the next command's reply.
    func testTrackingPushesNeverTakeAReplysPlace() throws {
        let s = try session("?protocol=3")
        var pushes: [RESPValue] = []
        s.onPush = { pushes.append($0) }
        XCTAssertEqual(try s.command(["CLIENT", "TRACKING", "ON"]), .simpleString(b("OK")))
        _ = try admin.pipeline([["SET", "k", "v1"], ["SET", "other", "o"]])
        XCTAssertEqual(try s.command(["GET", "k"]), .bulkString(b("v1")))
        XCTAssertEqual(try admin.command(["SET", "k", "v2"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.command(["GET", "k"]), .bulkString(b("v2")))
        XCTAssertEqual(try s.command(["GET", "other"]), .bulkString(b("o")))
        XCTAssertEqual(try s.command(["PING"]), .simpleString(b("PONG")))
        XCTAssertEqual(try admin.command(["SET", "k", "v3"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.pipeline([["GET", "k"], ["GET", "other"], ["GET", "missing"]]),
                       [.bulkString(b("v3")), .bulkString(b("o")), .null])
        XCTAssertEqual(pushes.count, 2)
        XCTAssertEqual(pushes.first, .push([.bulkString(b("invalidate")), .array([.bulkString(b("k"))])]))
        // without a handler they are counted and dropped
        s.onPush = nil
        XCTAssertEqual(try admin.command(["SET", "k", "v4"]), .simpleString(b("OK")))
        XCTAssertEqual(try s.command(["GET", "other"]), .bulkString(b("o")))
        XCTAssertEqual(s.droppedPushCount, 1)
    }

    /// On an event loop: a BLPOP abandoned by its caller (a cancelled task) closes the
    /// connection; the next call gets its own reply, on a new connection in the same db.
    func testAbandonedCallOnTheLoopLeavesNoReplyBehind() throws {
        let loop = try EventLoop()
        let s = try session()
        XCTAssertEqual(try s.command(["SELECT", "3"]), .simpleString(b("OK")))
        _ = try s.command(["SET", "k", "three"])
        try s.begin([[.string("BLPOP"), .string("never"), .int(0)]])
        var finished = false
        let cancel = s.run(on: loop) { _ in finished = true }
        _ = try SessionTests.client(running: "blpop", on: admin)
        _ = loop.runOnce(until: .after(seconds: 0.01))
        cancel()
        XCTAssertFalse(finished)
        XCTAssertFalse(s.isBusy)
        XCTAssertEqual(try admin.command(["RPUSH", "never", "x"]), .integer(1))   // nobody waits any more
        var got: Result<[RESPValue], RESPError>?
        s.send([[.string("GET"), .string("k")]], on: loop) { got = $0 }
        while got == nil { _ = loop.runOnce(until: nil) }
        XCTAssertEqual(try got!.get(), [.bulkString(b("three"))])
        XCTAssertEqual(s.connectCount, 2)
    }
}
