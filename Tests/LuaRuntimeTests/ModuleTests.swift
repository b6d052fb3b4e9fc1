import LuaRuntime
import Modules
import XCTest

/// opsh.time, opsh.log and opsh.config as scripts see them.
final class ModuleTests: XCTestCase {
    var vm: LuaVM!

    override func setUp() {
        vm = try! LuaVM()
        for (name, opener) in ModuleRegistry.natives { vm.preload(name, opener) }
        try! vm.run("time = require 'opsh.time'; log = require 'opsh.log'; config = require 'opsh.config'")
    }

    override func tearDown() { vm.close() }

    /// opsh.error: the stdlib's one error constructor makes the value native modules return.
    func testErrorValuesAreTheNativeOnes() throws {
        XCTAssertEqual(try vm.run("""
            local opsh = require "opsh"
            local cause = opsh.error("connect", "refused")
            local e = opsh.error("notify", "not delivered", { status = 503, cause = cause })
            local _, native = require("opsh.fs").read("/nonexistent/opsh-test")
            return tostring(e), e.code, e.status, e.cause == cause, getmetatable(e) == getmetatable(native),
                   select(2, pcall(opsh.error, "only a code"))
            """), [.string("not delivered"), .string("notify"), .integer(503), .boolean(true), .boolean(true),
                      .string("bad argument #2 to 'opsh.error' (string expected, got no value)")])
    }

    func testDurations() throws {
        XCTAssertEqual(try vm.run("""
            return time.duration("24h"), time.duration("1h30m"), time.duration("500ms"), time.duration("2d"),
                   time.duration("1w"), time.duration(90), time.duration("90"), time.duration("1.5h")
            """), [.number(86400), .number(5400), .number(0.5), .number(172800), .number(604800), .integer(90), .number(90), .number(5400)])
        for bad in ["'soon'", "'5x'", "''", "'h'", "{}"] {
            XCTAssertThrowsError(try vm.run("return time.duration(\(bad))"), bad)
        }
        XCTAssertEqual(try vm.run("return time.format_duration(3725), time.format_duration(0.25), time.format_duration(0), time.format_duration(90061)"),
                       [.string("1h2m5s"), .string("250ms"), .string("0s"), .string("1d1h1m1s")])
    }

    func testTimestamps() throws {
        XCTAssertEqual(try vm.run("""
            return time.iso(0), time.iso(1795922135.5, 3), time.parse_iso("2026-11-29T03:04:20Z"),
                   time.parse_iso("2026-11-29"), time.parse_iso("2026-11-29T04:04:20+01:00"),
                   time.parse_iso("2026-11-29T03:04:20.250Z"), time.parse_iso("1970-01-01T00:00:00Z")
            """), [.string("1970-01-01T00:00:00Z"), .string("2026-11-29T03:15:35.500Z"), .number(1795921460),
                   .number(1795910400), .number(1795921460), .number(1795921460.25), .number(0)])
        XCTAssertEqual(try vm.run("local v, e = time.parse_iso('yesterday'); return v, e.code"), [.nil, .string("invalid_time")])
        XCTAssertEqual(try vm.run("local v, e = time.parse_iso('2026-13-01'); return v"), [.nil])
        XCTAssertEqual(try vm.run("local a = time.monotonic(); local b = time.monotonic(); return b >= a, math.abs(time.since('1h') - (time.now() - 3600)) < 5"),
                       [.boolean(true), .boolean(true)])
    }

    func testRedaction() throws {
        XCTAssertEqual(try vm.run("""
            return log.redact("connect redis://admin:hunter2@cache:6379/0 failed"),
                   log.redact("password=abc token=xyz user=bob"),
                   log.redact("http://host:6333/collections")
            """), [.string("connect redis://admin:***@cache:6379/0 failed"), .string("password=*** token=*** user=bob"),
                   .string("http://host:6333/collections")])
    }

    func testLogLevels() throws {
        XCTAssertEqual(try vm.run("return log.level(), log.level('warn'), log.level()"),
                       [.string("info"), .string("warn"), .string("warn")])
        XCTAssertThrowsError(try vm.run("log.level('loud')"))
        XCTAssertThrowsError(try vm.run("log.info('x', 5)"))
    }

    func testConfigWithoutAHostIsEmpty() throws {
        XCTAssertEqual(try vm.run("return config.get('qdrant_url', 'fallback'), config.source('qdrant_url')"),
                       [.string("fallback"), .nil])
    }
}

/// opsh.crypto and opsh.fs.
final class CryptoAndFilesTests: XCTestCase {
    var vm: LuaVM!

    override func setUp() {
        vm = try! LuaVM()
        for (name, opener) in ModuleRegistry.natives { vm.preload(name, opener) }
        try! vm.run("crypto = require 'opsh.crypto'; fs = require 'opsh.fs'")
    }

    override func tearDown() { vm.close() }

    func testDigestsRandomAndComparison() throws {
        XCTAssertEqual(try vm.run("""
            return crypto.sha256_hex(""), crypto.sha256_hex("abc"), #crypto.sha256("x"), crypto.hex("\\0\\255"),
                   #crypto.random_hex(32), crypto.random_hex(16) ~= crypto.random_hex(16), #crypto.random_bytes(0)
            """), [.string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                   .string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                   .integer(32), .string("00ff"), .integer(64), .boolean(true), .integer(0)])
        XCTAssertEqual(try vm.run("return crypto.constant_time_equal('secret', 'secret'), crypto.constant_time_equal('secret', 'secreT'), crypto.constant_time_equal('a', 'ab')"),
                       [.boolean(true), .boolean(false), .boolean(false)])
        XCTAssertThrowsError(try vm.run("crypto.random_bytes(-1)"))
    }

    func testAtomicWritesWithModes() throws {
        let dir = "/tmp/opsh-fs-test-\(getpid())"
        defer { _ = try? vm.run("os.execute('rm -rf \(dir)')") }
        XCTAssertEqual(try vm.run("""
            assert(fs.mkdir("\(dir)/a/b"))
            assert(fs.write_atomic("\(dir)/a/b/secret", "s3cret", { mode = tonumber("600", 8) }))
            assert(fs.write_atomic("\(dir)/a/b/secret", "replaced", { mode = tonumber("600", 8) }))
            local st = fs.stat("\(dir)/a/b/secret")
            local v, e = fs.read("\(dir)/missing")
            local big, e2 = fs.read("\(dir)/a/b/secret", 3)
            return fs.read("\(dir)/a/b/secret"), st.type, string.format("%o", st.mode), st.size, v, e.code, big, e2.code,
                   fs.exists("\(dir)/a"), fs.stat("\(dir)/a").type
            """), [.string("replaced"), .string("file"), .string("600"), .integer(8), .nil, .string("ENOENT"), .nil,
                   .string("too_large"), .boolean(true), .string("directory")])
        // no temporary files are left behind
        XCTAssertEqual(try vm.run("local n = 0 for _ in io.popen('ls -A \(dir)/a/b'):lines() do n = n + 1 end return n"), [.integer(1)])
    }
}
