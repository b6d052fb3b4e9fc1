import Foundation
import XCTest
import OpshTestSupport
@testable import RESP

final class HostileServerTests: XCTestCase {
    func testMalformedReplyBreaksConnection() throws {
        let h = HostileServer(reply: Array("+OK\r\n?garbage\r\n".utf8))
        let c = try RESPConnection(endpoint: .tcp("127.0.0.1", h.port))
        var p = pollfd(fd: c.fd, events: Int16(POLLOUT), revents: 0)
        while try c.connectStep() != .done { _ = poll(&p, 1, 10_000) }
        c.enqueue(["GET", "a"]); c.enqueue(["GET", "b"])
        while try c.flushStep() != .done { _ = poll(&p, 1, 10_000) }
        var got: [RESPValue] = []
        var err: RESPError? = nil
        do {
            while true {
                if let r = try c.nextReply() { got.append(r); continue }
                if try c.readStep() == .readable { var q = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0); _ = poll(&q, 1, 10_000) }
            }
        } catch { err = error }
        XCTAssertEqual(got, [.simpleString(Array("OK".utf8))])
        XCTAssertEqual(err?.kind, .protocolError)
        XCTAssertEqual(err?.offset, 5)
        XCTAssertTrue(err?.message.contains("unknown reply type byte 0x3f") == true, err?.message ?? "")
        XCTAssertTrue(c.isBroken)
        XCTAssertThrowsError(try c.nextReply()) { e in XCTAssertEqual((e as! RESPError).kind, .broken) }
    }

    func testHugeLengthFromServerIsRefused() throws {
        let h = HostileServer(reply: Array("$999999999999\r\n".utf8), closeAfter: false)
        let c = try RESPSession.connect(url: "redis://127.0.0.1:\(h.port)")
        c.retry.maxAttempts = 1
        XCTAssertThrowsError(try c.command(["GET", "x"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .protocolError)
            XCTAssertTrue(e.message.contains("exceeds the limit"), e.message)
        }
        XCTAssertNil(c.connection)
    }
}
