import Foundation
import OpshTestSupport
import XCTest

/// --timeout, Ctrl-C, --max-memory and os.exit (docs/ARCHITECTURE.md §2).
final class LimitsTests: XCTestCase {
    let runaways: [(String, String)] = [
        ("main chunk", "while true do end"),
        ("coroutine", "coroutine.wrap(function() while true do end end)()"),
        ("after debug.sethook()", "debug.sethook(); local n = 0; while true do n = n + 1 end"),
        ("pcall catching the stop", "while true do pcall(function() while true do end end) end"),
        ("task in a native wait", "local opsh = require 'opsh'; opsh.spawn(function() opsh.sleep(1e6) end):wait()"),
        ("main in a native wait", "require('opsh').sleep(1e6)"),
    ]

    func testTimeoutStopsEveryKindOfRunawayLoop() {
        for (what, code) in runaways {
            let path = Harness.write(code, to: "runaway.lua")
            let r = Harness.run(["--timeout", "0.5", path], timeout: 20)
            XCTAssertEqual(r.status, 3, what)
            XCTAssertTrue(r.stderr.contains("opsh: timed out after 0.5s (--timeout)"), "\(what): \(r.stderr)")
        }
    }

    /// The watchdog's stop arrives while the VM keeps creating, resuming and collecting coroutines:
    /// the hook is armed on the VM's own thread (a signal to it), never from the watchdog's, where
    /// the coroutine on top of the resume chain may be finished and freed under it.
    func testTimeoutWhileCoroutinesComeAndGo() {
        let path = Harness.write("""
            local n = 0
            while true do
              local co = coroutine.wrap(function(a) local t = {} for i = 1, 8 do t[i] = { i } end coroutine.yield(a) return a end)
              co(1); co(2)
              n = n + 1
              if n % 1000 == 0 then collectgarbage("step", 100) end
            end
            """, to: "churn.lua")
        for round in 1...20 {
            let r = Harness.run(["--timeout", "0.05", path], timeout: 20)
            XCTAssertEqual(r.status, 3, "round \(round): \(r.stderr)")
            XCTAssertEqual(r.stderr, "opsh: timed out after 0.05s (--timeout)\n", "round \(round)")
        }
    }

    func testALoopThatKeepsRemovingTheHookStillEnds() {
        // the stop hook usually catches this at the first call; if the loop wins the race, the watchdog ends it
        let path = Harness.write("while true do debug.sethook() end", to: "evil.lua")
        let r = Harness.run(["--timeout", "0.3", path], timeout: 20)
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("timed out"), r.stderr)
    }

    func testTheWatchdogEndsWhatTheHookCannotStop() {
        // after the stop, closing the state runs a finalizer that never returns
        let path = Harness.write("""
            setmetatable({}, { __gc = function() while true do debug.sethook() end end })
            while true do end
            """, to: "finalizer.lua")
        let r = Harness.run(["--timeout", "0.3", path], timeout: 20)
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("opsh: timed out after 0.3s (--timeout)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("did not stop within 2000 ms"), r.stderr)
    }

    func testTimeoutInAProcedureStillPrintsItsReport() throws {
        let path = Harness.write("""
            return { description = "hangs", categories = {"safe"},
              run = function(args, ctx) ctx:ok("first"); while true do end end }
            """, to: "hangs.lua")
        let r = Harness.run(["--json", "--timeout", "0.3", "run", path], timeout: 20)
        XCTAssertEqual(r.status, 3)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual((doc["error"] as? [String: Any])?["message"] as? String, "timed out after 0.3s (--timeout)")
        XCTAssertEqual((doc["checks"] as? [[String: Any]])?.first?["name"] as? String, "first")
    }

    func testCtrlCStopsALoopAndClosesTheState() throws {
        for code in ["while true do end", "require('opsh').sleep(1e6)"] {
            let path = Harness.write("""
                local guard <close> = setmetatable({}, { __close = function() io.stdout:write("closed\\n") end })
                io.stdout:write("started\\n"); io.stdout:flush()
                \(code)
                """, to: "loop.lua")
            let (p, out, err) = Harness.start([path])
            // wait until it runs
            let started = out.fileHandleForReading.availableData
            XCTAssertEqual(String(decoding: started, as: UTF8.self), "started\n")
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 3)
            XCTAssertTrue(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("opsh: interrupted"))
            XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "closed\n",
                           "<close> handlers run on the way out")
        }
    }

    func testMemoryBomb() {
        let r = Harness.run(["--max-memory", "32M", "-e", "local t = {} while true do t[#t + 1] = ('x'):rep(4096) .. #t end"], timeout: 30)
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("memory limit exceeded: the Lua heap may use 32 MiB (--max-memory)"), r.stderr)
        let ok = Harness.run(["--max-memory", "32M", "-e", "local t = {} for i = 1, 1000 do t[i] = ('x'):rep(100) end print(#t)"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "1000\n")
        // a procedure's report names the limit too, as the file and -e forms do
        let grow = Harness.write("""
            return { description = "grows", categories = {"safe"},
              run = function() local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end end }
            """, to: "grow.lua")
        let p = Harness.run(["--max-memory", "32M", "run", grow], timeout: 30)
        XCTAssertEqual(p.status, 3)
        XCTAssertTrue(p.stdout.contains("error: memory limit exceeded: the Lua heap may use 32 MiB (--max-memory)"), p.stdout + p.stderr)
        let bad = Harness.run(["--max-memory", "lots", "-e", "print(1)"])
        XCTAssertEqual(bad.status, 3)
        XCTAssertTrue(bad.stderr.contains("--max-memory: invalid size 'lots'"), bad.stderr)
    }

    func testOsExitRunsCloseHandlersAndFinalizers() {
        let r = Harness.run(["-e", """
            setmetatable({}, { __gc = function() print("finalizer") end })
            do
              local x <close> = setmetatable({}, { __close = function() print("close handler") end })
              pcall(os.exit, 7)   -- an exit cannot be caught
              print("not reached")
            end
            """])
        XCTAssertEqual(r.status, 7)
        XCTAssertEqual(r.stdout, "close handler\nfinalizer\n")
        XCTAssertEqual(Harness.run(["-e", "os.exit(true)"]).status, 0)
        XCTAssertEqual(Harness.run(["-e", "os.exit(false)"]).status, 1)
    }
}
