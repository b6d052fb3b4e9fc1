import CLua
import CLuaShim
import LuaRuntime
import Modules
import XCTest

/// The Lua/Swift border (docs/ARCHITECTURE.md §2): values both ways, errors and yields that
/// never unwind through Swift, userdata lifetimes, references.
final class BorderTests: XCTestCase {
    var vm: LuaVM!

    override func setUp() {
        vm = try! LuaVM()
        for (name, opener) in ModuleRegistry.natives { vm.preload(name, opener) }
    }

    override func tearDown() {
        vm.close()
        vm = nil
    }

    func testValuesRoundTrip() throws {
        let lua = vm.main
        let values: [LuaValue] = [
            .nil, .boolean(true), .boolean(false), .integer(0), .integer(Int64.max), .integer(Int64.min),
            .number(1.0), .number(-0.5), .number(1e300), .string([0, 1, 2, 255, 0]), .string("héllo"),
            .array([.integer(1), .string("two"), .number(3.5)]),
            .map([.string("a"): .integer(1), .integer(10): .boolean(true), .string("nested"): .array([.array([.integer(7)])])]),
        ]
        for v in values {
            lua.push(value: v)
            XCTAssertEqual(try lua.value(at: -1), v)
            lua.pop()
        }
        // integers and floats stay apart across the border and in Lua
        lua.push(value: .number(2.0))
        vm.setGlobal("f")
        lua.push(value: .integer(2))
        vm.setGlobal("i")
        XCTAssertEqual(try vm.run("return math.type(f), math.type(i), f == i"),
                       [.string("float"), .string("integer"), .boolean(true)])
    }

    /// A map holding a NaN key (a decoder's input can): pushing it must not call lua_rawset with
    /// that key, which raises from inside this Swift frame; the entry is left out.
    func testMapWithANaNKeyPushesWithoutRaising() throws {
        let lua = vm.main
        lua.push(value: .map([.number(.nan): .integer(1), .string("ok"): .integer(2), .number(1.5): .integer(3)]))
        XCTAssertEqual(try lua.value(at: -1), .map([.string("ok"): .integer(2), .number(1.5): .integer(3)]))
        lua.pop()
    }

    func testTableCycleIsAnErrorNotACrash() throws {
        let lua = vm.main
        try vm.load("local t = {1}; t[2] = t; return t", chunkName: "=t")
        try vm.pcall(nargs: 0, nresults: 1)
        XCTAssertThrowsError(try lua.value(at: -1)) { XCTAssertEqual("\($0)", "table contains a cycle") }
        lua.pop()
    }

    func testFunctionsAndUserdataAreReferences() throws {
        let lua = vm.main
        let before = vm.referenceCount
        do {
            let values = try vm.run("return function(x) return x * 2 end, io.stdout")
            guard case .function(let f) = values[0], case .userdata = values[1] else { return XCTFail("\(values)") }
            f.push(lua)
            lua.push(Int64(21))
            try vm.pcall(nargs: 1, nresults: 1)
            XCTAssertEqual(lua.toInteger(-1), 42)
            lua.pop()
            XCTAssertEqual(vm.referenceCount, before + 2)
        }
        XCTAssertEqual(vm.referenceCount, before, "references are released when their Swift owners go")
        vm.drainUnrefs()
    }

    /// An error raised in Lua, inside a Swift function called from Lua, inside a Swift
    /// function called from Lua, reaches the outermost caller with its message and the
    /// traceback of its origin; every Swift frame on the way ran its defer.
    func testErrorsThroughNestedSwiftFrames() throws {
        let lua = vm.main
        final class Counter { var deferred = 0 }
        let counter = Counter()
        lua.push(closure: { lua in
            defer { counter.deferred += 1 }
            // callback(f, ...): calls f protected and propagates its error
            let n = lua.top
            for i in 1...n { lua.pushValue(at: i) }
            let status = lua.pcall(nargs: n - 1, nresults: 1)
            return status == LUA_OK ? 1 : LK_STATUS_ERROR
        })
        vm.setGlobal("callback")
        try vm.load("""
            function innermost() error("deep failure") end
            function middle() return callback(innermost) end
            function outer() return callback(middle) end
            return outer()
            """, chunkName: "@nested.lua")
        XCTAssertThrowsError(try vm.pcall(nargs: 0, nresults: 1)) { e in
            let message = (e as! LuaError).message
            XCTAssertTrue(message.hasPrefix("nested.lua:1: deep failure"), message)
            XCTAssertTrue(message.contains("stack traceback:"), message)
            // the traceback is the one at the origin: every level, innermost first
            let lines = message.split(separator: "\n").map(String.init)
            let inner = lines.firstIndex { $0.contains("function 'innermost'") }
            let middle = lines.firstIndex { $0.contains("function 'middle'") }
            let outer = lines.firstIndex { $0.contains("function 'outer'") }
            XCTAssertNotNil(inner, message)
            XCTAssertNotNil(middle, message)
            XCTAssertNotNil(outer, message)
            if let inner, let middle, let outer { XCTAssertTrue(inner < middle && middle < outer, message) }
            XCTAssertEqual(lines.filter { $0 == "stack traceback:" }.count, 1, "one traceback, not one per level: \(message)")
        }
        XCTAssertEqual(counter.deferred, 2, "each Swift frame returned normally")
        XCTAssertEqual(lua.top, 0)
    }

    func testArgumentErrorsNameTheFunction() throws {
        try vm.run("json = require 'opsh.json'; time = require 'opsh.time'")
        XCTAssertThrowsError(try vm.run("time.duration(nil)", chunkName: "=t")) { e in
            XCTAssertTrue("\(e)".contains("bad argument #1 to 'duration' (string expected, got nil)"), "\(e)")
        }
        XCTAssertThrowsError(try vm.run("time.duration('soon')", chunkName: "=t")) { e in
            XCTAssertTrue("\(e)".contains("bad argument #1 to 'duration' (invalid duration 'soon'"), "\(e)")
        }
        // a script's pcall sees native errors as ordinary errors, named as Lua names them
        XCTAssertEqual(try vm.run("local ok, e = pcall(require('opsh.time').duration, {}); return ok, e"),
                       [.boolean(false), .string("bad argument #1 to 'opsh.time.duration' (string expected, got table)")])
        // a missing argument is "no value", as lua5.4 says (string.rep() there)
        XCTAssertEqual(try vm.run("local ok, e = pcall(require('opsh.time').duration); return e"),
                       [.string("bad argument #1 to 'opsh.time.duration' (string expected, got no value)")])
    }

    func testUserdataLifecycle() throws {
        final class Handle: LuaClosable, CustomStringConvertible {
            nonisolated(unsafe) static var closed = 0
            nonisolated(unsafe) static var freed = 0
            var open = true
            func close() { open = false; Handle.closed += 1 }
            var description: String { open ? "open" : "closed" }
            deinit { Handle.freed += 1 }
        }
        Handle.closed = 0; Handle.freed = 0
        vm.register(LuaClass(name: "test.handle", methods: [
            ("ping", { L in
                Lua(L!).call { lua throws(LuaRaise) in
                    let h = try lua.checkObject(1, type: "test.handle", as: Handle.self)
                    lua.push(h.open ? "pong" : "closed")
                    return 1
                }
            }),
        ]))
        let lua = vm.main
        lua.push(closure: { lua in lua.push(object: Handle(), type: "test.handle"); return 1 })
        vm.setGlobal("new_handle")
        XCTAssertEqual(try vm.run("local h = new_handle(); return h:ping(), tostring(h):match('^test.handle: open') ~= nil"),
                       [.string("pong"), .boolean(true)])
        // explicit close, then use after close is a clean error
        XCTAssertEqual(try vm.run("""
            local h = new_handle(); h:close(); h:close()
            local ok, e = pcall(function() return h:ping() end)
            return ok, e, tostring(h)
            """, chunkName: "=t"), [.boolean(false), .string("t:2: calling 'ping' on bad self (attempt to use a closed test.handle)"), .string("test.handle (closed)")])
        // <close>
        try vm.run("collectgarbage(); collectgarbage()")
        let closedBeforeScope = Handle.closed
        try vm.run("do local h <close> = new_handle() end")
        XCTAssertEqual(Handle.closed, closedBeforeScope + 1, "<close> closes at the end of the scope")
        let closedBefore = Handle.closed
        // __gc as the fallback
        try vm.run("for i = 1, 10 do new_handle() end collectgarbage(); collectgarbage()")
        XCTAssertEqual(Handle.closed, closedBefore + 10)
        XCTAssertEqual(try vm.run("local ping = getmetatable(new_handle()).__index.ping; return pcall(ping, 42)")[1],
                       .string("bad argument #1 to '?' (test.handle expected, got number)"))
        vm.close()
        XCTAssertEqual(Handle.freed, 1 + 1 + 1 + 10 + 1, "every object released exactly once")
        XCTAssertEqual(Handle.closed, Handle.freed, "and closed before it was released")
    }

    func testClosureBoxesAreReleasedWithTheState() throws {
        final class Witness { nonisolated(unsafe) static var alive = 0; init() { Witness.alive += 1 }; deinit { Witness.alive -= 1 } }
        Witness.alive = 0
        let other = try LuaVM()
        do {
            let w = Witness()
            other.main.push(closure: { lua in _ = w; return 0 })
            other.setGlobal("f")
        }
        XCTAssertEqual(Witness.alive, 1)
        other.close()
        XCTAssertEqual(Witness.alive, 0)
    }

    func testMemoryLimitNeverFailsUnderASwiftFrame() throws {
        let lua = vm.main
        vm.memoryLimit = vm.memoryUsed + (4 << 20)
        // a native function that allocates beyond the limit still succeeds...
        lua.push(closure: { lua in
            let big = [UInt8](repeating: 65, count: 8 << 20)
            lua.push(bytes: big)
            return 1
        })
        vm.setGlobal("big")
        XCTAssertEqual(try vm.run("local s = big(); return #s"), [.integer(8 << 20)])
        // ...and a Lua allocation while over the limit fails cleanly
        vm.memoryLimit = vm.memoryUsed + (1 << 20)
        XCTAssertThrowsError(try vm.run("local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(100) .. i end")) { e in
            XCTAssertEqual((e as! LuaError).kind, .memory)
        }
        XCTAssertTrue(vm.memoryLimitHit)
        vm.memoryLimit = 0
        XCTAssertEqual(try vm.run("return 1 + 1"), [.integer(2)], "the VM is still usable")
    }
}
