import Docker
import XCTest

/// The multiplexed-stream decoder and the line splitter on their own, fed in every split.
final class FrameTests: XCTestCase {
    func frame(_ s: UInt8, _ payload: String) -> [UInt8] {
        let p = Array(payload.utf8)
        let n = UInt32(p.count)
        return [s, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + p
    }

    func lines(_ bytes: [UInt8], chunk: Int, tty: Bool = false) throws -> ([String], DockerFrameDecoder) {
        var d = DockerFrameDecoder()
        var sp = LineSplitter()
        var out: [String] = []
        let emit: (DockerFrameDecoder.Stream, UnsafeRawBufferPointer) -> Void = { s, l in
            out.append("\(s == .stderr ? "E" : "O"):" + String(decoding: l, as: UTF8.self))
        }
        var i = 0
        while i < bytes.count {
            let piece = Array(bytes[i..<min(i + chunk, bytes.count)])
            try piece.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws in
                if tty { sp.feed(.stdout, b, emit) } else {
                    try d.feed(b) { s, p in sp.feed(s, p, emit) }
                }
            }
            i += chunk
        }
        sp.finish(emit)
        return (out, d)
    }

    func testInterleavedStreamsInEverySplit() throws {
        // stdout's line is split across two frames with a stderr frame between them
        let bytes = frame(1, "hello wo") + frame(2, "oops\nsecond err") + frame(1, "rld\r\nbye\n") + frame(2, "\n")
        for chunk in 1...bytes.count {
            let (out, d) = try lines(bytes, chunk: chunk)
            XCTAssertEqual(out, ["E:oops", "O:hello world", "O:bye", "E:second err"], "chunk \(chunk)")
            XCTAssertFalse(d.midFrame)
        }
    }

    func testCutMidFrameIsSeen() throws {
        let full = frame(1, "one\n") + frame(1, "two\n")
        for cut in [full.count - 2, 14] {   // inside a payload, inside a header
            let (out, d) = try lines(Array(full[..<cut]), chunk: 3)
            XCTAssertTrue(d.midFrame, "cut at \(cut)")
            XCTAssertTrue(d.cutDescription.contains("cut inside"), d.cutDescription)
            XCTAssertEqual(out.first, "O:one")
        }
    }

    func testRawTTYBytesAreNotFrames() {
        // a TTY's raw output read as frames: the first byte is not a stream number
        XCTAssertThrowsError(try lines(Array("hello world\r\n".utf8), chunk: 4)) { e in
            XCTAssertTrue("\(e)".contains("not a multiplexed stream"), "\(e)")
        }
        XCTAssertEqual(try lines(Array("hello\r\nworld".utf8), chunk: 4, tty: true).0, ["O:hello", "O:world"])
    }

    func testMatcher() {
        let m = LineMatcher(patterns: ["error", "FATAL"], ignoreCase: true)
        for (s, want) in [("an ERROR here", true), ("Error", true), ("erro", false), ("fatal: x", true), ("", false), ("errorr", true), ("eerror", true)] {
            XCTAssertEqual(Array(s.utf8).withUnsafeBytes { m.matches($0) }, want, s)
        }
        let exact = LineMatcher(patterns: ["Error"], ignoreCase: false)
        XCTAssertFalse(Array("ERROR".utf8).withUnsafeBytes { exact.matches($0) })
        XCTAssertTrue(Array("an Error".utf8).withUnsafeBytes { exact.matches($0) })
        XCTAssertTrue(LineMatcher(patterns: [], ignoreCase: true).keepsEverything)
    }

    func testEndpoints() throws {
        XCTAssertEqual(try DockerEndpoint(host: nil).unixSocket, "/var/run/docker.sock")
        XCTAssertEqual(try DockerEndpoint(host: "unix:///tmp/d.sock").unixSocket, "/tmp/d.sock")
        let tcp = try DockerEndpoint(host: "tcp://127.0.0.1:2375")
        XCTAssertNil(tcp.unixSocket)
        XCTAssertEqual(tcp.baseURL, "http://127.0.0.1:2375")
        XCTAssertEqual(try DockerEndpoint(host: "tcp://localhost").baseURL, "http://localhost:2375")
        XCTAssertThrowsError(try DockerEndpoint(host: "ssh://host"))
        XCTAssertThrowsError(try DockerEndpoint(host: "unix://relative.sock"))
        XCTAssertEqual(DockerAPI.negotiate(server: "1.41"), "1.41")
        XCTAssertEqual(DockerAPI.negotiate(server: "1.40"), "1.40")
        XCTAssertEqual(DockerAPI.negotiate(server: "1.45"), "1.41")
        XCTAssertEqual(DockerAPI.daemonMessage(Array(#"{"message":"No such container: x"}"#.utf8)), "No such container: x")
    }

    func testDemultiplexWholeBody() throws {
        let (o, e) = try DockerAPI.demultiplex(frame(1, "out") + frame(2, "err") + frame(1, "put"))
        XCTAssertEqual(String(decoding: o, as: UTF8.self), "output")
        XCTAssertEqual(String(decoding: e, as: UTF8.self), "err")
        XCTAssertThrowsError(try DockerAPI.demultiplex(Array(frame(1, "out").dropLast())))
    }
}

import OpshTestSupport

/// What a user reads: the module's documentation and the procedures' help.
final class DocsTests: XCTestCase {
    func testHelpOfTheModuleAndTheProcedures() {
        var r = Harness.run(["help", "opsh.docker"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for want in ["client:logs(id, opts)", "client:scale_service(service, n, opts)", "total_inactive_file", "inactive_file", "opsh.created=true", "daemon_unavailable"] {
            XCTAssertTrue(r.stdout.contains(want), "opsh help opsh.docker lacks \(want)")
        }
        r = Harness.run(["list", "services"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for p in ["status", "start", "stop", "restart", "logs", "errors", "stats", "limits", "log-rotation", "connectivity", "emergency-restart", "incident", "autoscale"] {
            XCTAssertTrue(r.stdout.contains("services/\(p) "), "opsh list services lacks \(p): \(r.stdout)")
        }
        r = Harness.run(["run", "services/incident", "--help"])
        XCTAssertTrue(r.stdout.contains("database_down") && r.stdout.contains("destructive"), r.stdout + r.stderr)
    }
}

/// When the native json-file reader does not apply, it says so and opsh.docker uses the API.
final class JSONFileFallbackTests: XCTestCase {
    func testUnreadableOrCompressedLogsAreRefused() throws {
        let dir = Harness.tempDir("jsonlog")
        let log = dir.appendingPathComponent("c-json.log").path
        try #"{"log":"one error\n","stream":"stdout","time":"2026-11-29T05:00:00.1Z"}"#.appending("\n").write(toFile: log, atomically: true, encoding: .utf8)
        try "older\n".write(toFile: log + ".1", atomically: true, encoding: .utf8)
        let r = Harness.run([Harness.write("""
        local core = require 'opsh._docker'
        print("missing", core.file_stream("\(dir.path)/nope-json.log"))
        local s = assert(core.file_stream("\(log)", {match = "error"}))
        print("read", pcall(function() return s:next() end))
        """, to: "f.lua")])
        XCTAssertTrue(r.stdout.contains("missing\tnil\tcannot read \(dir.path)/nope-json.log: No such file or directory"), r.stdout + r.stderr)
        // "older" is not JSON: the reader stops with a clear error rather than inventing lines
        XCTAssertTrue(r.stdout.contains("read\tfalse"), r.stdout + r.stderr)
        try "x".write(toFile: log + ".2.gz", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: log + ".1")
        try "x".write(toFile: log + ".1.gz", atomically: true, encoding: .utf8)
        let g = Harness.run([Harness.write("print(require('opsh._docker').file_stream('\(log)'))", to: "g.lua")])
        XCTAssertTrue(g.stdout.contains("nil\t\(log).1.gz is compressed: read through the API"), g.stdout + g.stderr)
    }
}
