import Foundation
import OpshTestSupport
import XCTest

/// A plain Lua script behaves exactly as under lua5.4 (docs/ARCHITECTURE.md §2).
final class LuaParityTests: XCTestCase {
    let programs: [String] = [
        // coroutines, including errors and close
        """
        local co = coroutine.create(function(a) local b = coroutine.yield(a * 2); error("e" .. b) end)
        print(coroutine.resume(co, 4)); print(coroutine.resume(co, "x")); print(coroutine.status(co))
        print(coroutine.resume(co)); print(coroutine.isyieldable(), select(2, coroutine.running()))
        local w = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
        print(w(), w(), w())
        print(type(select(2, pcall(coroutine.wrap(function() error({}) end)))))
        local c2 = coroutine.create(function() local x <close> = setmetatable({}, {__close = function() print("closed") end}); coroutine.yield() end)
        coroutine.resume(c2); print(coroutine.close(c2))
        print(select("#", coroutine.resume(coroutine.create(function() return 1, nil, 3 end))))
        """,
        // pcall / xpcall / error values
        """
        print(pcall(error, "msg", 0)); print(pcall(error)); print(pcall(error, nil))
        print(xpcall(function() error("deep") end, function(m) return "handled: " .. m end))
        print(select("#", pcall(function() return 1, 2, 3 end)))
        print(pcall(pcall)); print(xpcall(function(...) return select("#", ...) end, print, 1, 2))
        local ok, e = pcall(function() local t = setmetatable({}, {__index = function() error("idx", 2) end}); return t.x end)
        print(ok, e)
        """,
        // numbers, strings, tables, integer/float distinction
        """
        print(1, 1.0, -0.0, 1e100, 2^63, math.maxinteger, math.mininteger, 7 // 2, 7.0 // 2, 3 % -2, 1/0, -1/0)
        print(math.type(1), math.type(1.0), math.type("1"), 0x7fffffffffffffff + 1 == math.mininteger)
        print(string.format("%q", "a\\0b\\n"), ("x"):rep(3, ","), #"\\0\\1", string.pack("<i4", 7):byte(1, -1))
        local t = {}; for i = 1, 10 do t[i] = i * i end; print(#t, table.concat(t, " ", 3, 6), table.unpack(t, 9))
        print(tostring(nil), tonumber("0x10"), tonumber("10", 2), tonumber("z", 36), tonumber(" 5 "), tonumber("5x"))
        print(string.find("hello world", "o w"), string.gsub("abc", "%w", "%0%0"), utf8.char(72, 228, 8364))
        print(next({}), rawlen({1, 2}), rawequal("a", "a"), select(-1, 1, 2, 3))
        """,
        // goto, integer loops, varargs, closures, metatables, <const>
        """
        local function f(...) local a, b = ...; return select("#", ...), a, b end
        print(f(nil, nil)); print(f())
        local acc = {}; for i = 10, 1, -3 do acc[#acc + 1] = i end; print(table.concat(acc, ","))
        do local k <const> = 5; print(k * 2) end
        local mt = {__add = function(a, b) return "added" end, __eq = function() return true end, __lt = function() return true end, __len = function() return 42 end, __call = function(self, x) return x end}
        local a, b = setmetatable({}, mt), setmetatable({}, mt); print(a + b, a == b, a < b, #a, a(9))
        local i = 1; ::top:: i = i + 1; if i < 5 then goto top end; print(i)
        print(string.format("%5.2f|%-5d|%x|%s", 3.14159, 42, 255, {} ~= nil))
        """,
        // errors at top level and exit codes
        "local x = nil; print(x.y)",
        "error({code = 1})",
        "error(setmetatable({}, {__tostring = function() return 'custom error' end}))",
        "os.exit(3)",
        "io.write('no newline'); os.exit(true)",
        "print(arg[0] ~= nil, #arg, ...)",
    ]

    func testPlainLuaMatchesLua54() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/lua5.4") else {
            throw XCTSkip("lua5.4 is not installed (scripts/setup installs it)")
        }
        for (n, program) in programs.enumerated() {
            let path = Harness.write(program, to: "parity\(n).lua")
            let ours = Harness.run([path, "a1", "a2"])
            let theirs = Harness.run([path, "a1", "a2"], executable: URL(fileURLWithPath: "/usr/bin/lua5.4"))
            XCTAssertEqual(ours.stdout, theirs.stdout, "stdout of program \(n):\n\(program)")
            XCTAssertEqual(ours.status, theirs.status, "exit code of program \(n): \(ours.stderr)")
            // error messages match after the program name
            let strip = { (s: String) in s.split(separator: "\n").first.map { $0.drop { $0 != ":" } } ?? "" }
            XCTAssertEqual(strip(ours.stderr), strip(theirs.stderr), "stderr of program \(n)")
        }
    }

    /// require and package.searchers as in lua5.4: four searchers, and a missing module's message
    /// in lua5.4's format, where opsh's search directories appear as more "no file '...'" lines.
    func testRequireMatchesLua54() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/lua5.4") else {
            throw XCTSkip("lua5.4 is not installed (scripts/setup installs it)")
        }
        let extra = Harness.tempDir("path")
        let program = Harness.write("""
            print(#package.searchers)
            for i, s in ipairs(package.searchers) do print(i, type(s)) end
            local ok, e = pcall(require, "no.such.module")
            print(ok, e)
            package.preload.mine = function(...) return select("#", ...) end
            print(require("mine"), package.loaded.mine)
            print(pcall(require, 42))
            """, to: "require.lua")
        let ours = Harness.run(["--path", extra.path, program])
        let theirs = Harness.run([program], executable: URL(fileURLWithPath: "/usr/bin/lua5.4"))
        XCTAssertEqual(ours.status, 0, ours.stderr)
        let searchDirs = [extra.path + "/", "/.config/opsh/scripts/"]
        let opshLines = ours.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter { l in searchDirs.contains { l.contains($0) } }
        XCTAssertEqual(opshLines.first, "\tno file '\(extra.path)/no/such/module.lua'", ours.stdout)
        XCTAssertEqual(opshLines.count, 4, "--path and the user's scripts directory, for each of the two missing modules: \(ours.stdout)")
        XCTAssertTrue(opshLines.allSatisfy { $0.hasPrefix("\tno file '") && ($0.hasSuffix("/no/such/module.lua'") || $0.hasSuffix("/42.lua'")) }, ours.stdout)
        let rest = ours.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter { l in !searchDirs.contains { l.contains($0) } }
        XCTAssertEqual(rest.joined(separator: "\n"), theirs.stdout)
        // built-ins load when first required, and are found as lua5.4 finds preloaded modules
        let builtin = Harness.run(["-e", "print(package.loaded['opsh.json'], type(package.preload['opsh.json']), require('opsh.json').encode({1}))"])
        XCTAssertEqual(builtin.stdout, "nil\tfunction\t[1]\n", builtin.stderr)
    }

    /// A Lua C module (lua-cjson, which links no liblua) loads as under lua5.4 and uses opsh's Lua:
    /// scripts/setup links Lua into the binary and exports its API (BENCHMARKS.md, start-up).
    func testLuaCModulesUseThisLua() throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so") else {
            throw XCTSkip("lua-cjson is not installed (scripts/setup installs it)")
        }
        let r = Harness.run(["-e", "print(require('cjson').encode({ 1, 2 }))"], env: ["LD_DEBUG": "bindings"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "[1,2]\n")
        let bindings = r.stderr.split(separator: "\n").filter { $0.contains("cjson.so") && $0.contains("`lua_pushinteger'") }
        XCTAssertFalse(bindings.isEmpty, r.stderr.suffix(2000).description)
        // one Lua in the process: the module binds where opsh's own calls go
        let opshUsesSharedLua = r.stderr.split(separator: "\n").contains {
            $0.contains("binding file \(Harness.binary.path)") && $0.contains("liblua5.4.so") && $0.contains("`lua_")
        }
        let expected = opshUsesSharedLua ? "liblua5.4.so" : "to \(Harness.binary.path)"
        XCTAssertTrue(bindings.allSatisfy { $0.contains(expected) }, "\(bindings)")
    }

    func testDashEAndStdin() {
        XCTAssertEqual(Harness.run(["-e", "x = 6", "-e", "print(x * 7)"]).stdout, "42\n")
        XCTAssertEqual(Harness.run(["-"], stdin: "print('from stdin', ...)").stdout, "from stdin\n")
        let shebang = Harness.write("#!/usr/bin/env opsh\nprint(debug.getinfo(1, 'l').currentline)", to: "she.lua")
        XCTAssertEqual(Harness.run([shebang]).stdout, "2\n")
    }
}
