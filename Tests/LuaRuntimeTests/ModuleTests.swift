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
