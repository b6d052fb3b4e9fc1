import Foundation
import XCTest
@testable import RESP

/// A one-shot TCP server on loopback that answers any bytes with a fixed reply, then closes.
final class HostileServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let thread: Thread

    init(reply: [UInt8], closeAfter: Bool = true) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: a.sin_port)
        listen(fd, 4)
        let lfd = fd
        thread = Thread {
            let c = accept(lfd, nil, nil)
            guard c >= 0 else { return }
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = read(c, &buf, 4096)
            _ = reply.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            if closeAfter { usleep(100_000); close(c) }
        }
        thread.start()
    }

    deinit { close(fd) }
}

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
