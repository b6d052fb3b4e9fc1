import CDyn
import EventLoop
import Foundation
import XCTest

/// Collects a transfer's body (WRITEDATA points at it).
final class BodyBox {
    var bytes: [UInt8] = []
}

private let writeBody: opsh_curl_write_cb = { ptr, size, n, ud in
    let count = size * n
    guard let ud else { return 0 }
    let box = Unmanaged<BodyBox>.fromOpaque(ud).takeUnretainedValue()
    if let ptr, count > 0 {
        box.bytes.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: count))
    }
    return count
}

/// A free TCP port on 127.0.0.1 (bound then released).
func freeLoopbackPort() -> UInt16 {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(s >= 0)
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
    }
    return UInt16(bigEndian: addr.sin_port)
}

func canConnect(port: UInt16) -> Bool {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { return false }
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = port.bigEndian
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return rc == 0
}

final class CurlMultiTests: XCTestCase {
    var server: Process?
    var dir: URL?
    var port: UInt16 = 0

    override func setUpWithError() throws {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-evloop-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for i in 0..<20 {
            try Data(Self.body(i)).write(to: d.appendingPathComponent("f\(i).txt"))
        }
        dir = d
        port = freeLoopbackPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        // http.server's handler speaks HTTP/1.0 (one connection per request) unless a test
        // asks for HTTP/1.1 keep-alive. A watchdog thread ends the server if this test process
        // dies without its tearDown (a crash), so no server outlives the tests.
        let proto = name.contains("KeepAlive") ? "HTTP/1.1" : "HTTP/1.0"
        let script = """
        import functools, http.server, os, sys, threading, time
        class H(http.server.SimpleHTTPRequestHandler):
            protocol_version = sys.argv[3]
            def log_message(self, *a): pass
        parent = os.getppid()
        def watchdog():
            while os.getppid() == parent: time.sleep(0.5)
            os._exit(0)
        threading.Thread(target=watchdog, daemon=True).start()
        h = functools.partial(H, directory=sys.argv[1])
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), h).serve_forever()
        """
        p.arguments = ["-c", script, d.path, String(port), proto]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        server = p
        let stop = Date().addingTimeInterval(20)
        while !canConnect(port: port) {
            if Date() > stop || !p.isRunning { throw ServerDidNotStart(port: port) }
            usleep(50_000)
        }
    }

    override func tearDown() {
        if let p = server {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        server = nil
        if let d = dir { try? FileManager.default.removeItem(at: d) }
    }

    static func body(_ i: Int) -> [UInt8] {
        Array(String(repeating: "transfer \(i) says hello; ", count: 50 * (i + 1)).utf8)
    }

    func makeEasy(_ api: UnsafePointer<opsh_curl_api>, url: String, box: BodyBox) throws -> OpaquePointer {
        let easy = try XCTUnwrap(api.pointee.easy_init())
        XCTAssertEqual(opsh_curl_setopt_ptr(easy, CURLOPT_URL, url), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_ptr(easy, CURLOPT_NOPROXY, "*"), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_long(easy, CURLOPT_TIMEOUT, 30), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_write_cb(easy, CURLOPT_WRITEFUNCTION, writeBody), CURLE_OK)
        XCTAssertEqual(opsh_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, Unmanaged.passUnretained(box).toOpaque()), CURLE_OK)
        return easy
    }

    func testTwentyConcurrentGets() throws {
        let api = try XCTUnwrap(opsh_curl())
        let loop = try EventLoop()
        let multi = try CurlMulti(loop: loop)
        var results: [Int: Int32] = [:]
        var boxes: [BodyBox] = []
        var easies: [OpaquePointer] = []
        for i in 0..<20 {
            let box = BodyBox()
            boxes.append(box)
            let easy = try makeEasy(api, url: "http://127.0.0.1:\(port)/f\(i).txt", box: box)
            easies.append(easy)
            try multi.add(easy: easy) { code in
                XCTAssertNil(results[i], "completion ran twice")
                results[i] = code
            }
        }
        XCTAssertEqual(multi.activeCount, 20)
        let start = Deadline.now()
        drive(loop, limit: 60) { results.count == 20 }
        XCTAssertLessThan(-start.secondsFromNow, 60)
        XCTAssertEqual(results.count, 20)
        for i in 0..<20 {
            XCTAssertEqual(results[i], Int32(bitPattern: CURLE_OK.rawValue), "transfer \(i): \(results[i].map(multi.describe) ?? "none")")
            XCTAssertEqual(boxes[i].bytes, Self.body(i), "body of transfer \(i)")
            var status = 0
            XCTAssertEqual(opsh_curl_getinfo_long(easies[i], CURLINFO_RESPONSE_CODE, &status), CURLE_OK)
            XCTAssertEqual(status, 200)
        }
        XCTAssertEqual(multi.activeCount, 0)
        // Idle multi: no watches and no timer left in the loop.
        XCTAssertEqual(loop.pendingCount, 0)
        for e in easies { api.pointee.easy_cleanup(e) }

        // The multi can be reused after going idle.
        let box = BodyBox()
        let easy = try makeEasy(api, url: "http://127.0.0.1:\(port)/f3.txt", box: box)
        var again: Int32?
        try multi.add(easy: easy) { again = $0 }
        drive(loop, limit: 30) { again != nil }
        XCTAssertEqual(again, Int32(bitPattern: CURLE_OK.rawValue))
        XCTAssertEqual(box.bytes, Self.body(3))
        XCTAssertEqual(loop.pendingCount, 0)
        api.pointee.easy_cleanup(easy)
    }

    /// With an HTTP/1.1 server libcurl keeps the connection in its cache after the transfer;
    /// the multi must still leave nothing pending in the loop, and reuse the connection.
    func testKeepAliveConnectionLeavesNothingPending() throws {
        let api = try XCTUnwrap(opsh_curl())
        let loop = try EventLoop()
        let multi = try CurlMulti(loop: loop)
        for round in 0..<3 {
            let box = BodyBox()
            let easy = try makeEasy(api, url: "http://127.0.0.1:\(port)/f\(round).txt", box: box)
            var code: Int32?
            try multi.add(easy: easy) { code = $0 }
            drive(loop, limit: 30) { code != nil }
            XCTAssertEqual(code, Int32(bitPattern: CURLE_OK.rawValue), code.map(multi.describe) ?? "no completion")
            XCTAssertEqual(box.bytes, Self.body(round))
            XCTAssertEqual(loop.pendingCount, 0, "round \(round)")
            var reused = -1
            _ = opsh_curl_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &reused)
            if round > 0 { XCTAssertEqual(reused, 0, "round \(round) should reuse the cached connection") }
            api.pointee.easy_cleanup(easy)
        }
    }

    func testClosedPortGivesConnectError() throws {
        let api = try XCTUnwrap(opsh_curl())
        let loop = try EventLoop()
        let multi = try CurlMulti(loop: loop)
        let closedPort = freeLoopbackPort()   // bound then closed: nobody listens
        let box = BodyBox()
        let easy = try makeEasy(api, url: "http://127.0.0.1:\(closedPort)/", box: box)
        defer { api.pointee.easy_cleanup(easy) }
        var code: Int32?
        try multi.add(easy: easy) { code = $0 }
        drive(loop, limit: 30) { code != nil }
        XCTAssertEqual(code, Int32(bitPattern: CURLE_COULDNT_CONNECT.rawValue),
                       code.map(multi.describe) ?? "no completion")
        XCTAssertEqual(loop.pendingCount, 0)
    }

    func testRemoveStopsTransferWithoutCompletion() throws {
        let api = try XCTUnwrap(opsh_curl())
        let loop = try EventLoop()
        let multi = try CurlMulti(loop: loop)
        let box = BodyBox()
        let easy = try makeEasy(api, url: "http://127.0.0.1:\(port)/f0.txt", box: box)
        defer { api.pointee.easy_cleanup(easy) }
        var called = false
        try multi.add(easy: easy) { _ in called = true }
        _ = loop.runOnce(until: .after(seconds: 0.01))
        multi.remove(easy: easy)
        multi.remove(easy: easy)
        XCTAssertEqual(multi.activeCount, 0)
        _ = loop.runOnce(until: .after(seconds: 0.05))
        XCTAssertFalse(called)
        XCTAssertEqual(loop.pendingCount, 0)
    }

    func testDroppingTheMultiMidTransferLeavesNothingPending() throws {
        let api = try XCTUnwrap(opsh_curl())
        let loop = try EventLoop()
        var multi: CurlMulti? = try CurlMulti(loop: loop)
        var easies: [OpaquePointer] = []
        var called = 0
        let box = BodyBox()
        for i in 0..<3 {
            let easy = try makeEasy(api, url: "http://127.0.0.1:\(port)/f\(i).txt", box: box)
            easies.append(easy)
            try multi!.add(easy: easy) { _ in called += 1 }
        }
        _ = loop.runOnce(until: .after(seconds: 0.01))
        multi = nil
        XCTAssertEqual(loop.pendingCount, 0)
        _ = loop.runOnce(until: .after(seconds: 0.05))
        XCTAssertEqual(called, 0)
        for e in easies { api.pointee.easy_cleanup(e) }
    }
}

struct ServerDidNotStart: Error {
    let port: UInt16
}
