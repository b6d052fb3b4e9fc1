import CLua
import CLuaShim
import LuaRuntime
import Modules
import XCTest

/// Tasks on the event loop (docs/ARCHITECTURE.md §2): concurrency, native yields, deadlines.
final class TaskTests: XCTestCase {
    var vm: LuaVM!

    override func setUp() {
        vm = try! LuaVM()
        for (name, opener) in ModuleRegistry.natives { vm.preload(name, opener) }
        try! vm.run("opsh = require 'opsh'")
    }

    override func tearDown() {
        vm.close()
        vm = nil
    }

    func testHundredTasksSleepingConcurrently() throws {
        let r = try vm.run("""
            local clock = require('opsh.time').monotonic
            local fns = {}
            for i = 1, 100 do fns[i] = function() opsh.sleep(0.1); return i end end
            local t0 = clock()
            local results = table.pack(opsh.all(fns))
            local elapsed = clock() - t0
            local sum = 0
            for i = 1, results.n do sum = sum + results[i] end
            return results.n, sum, elapsed
            """)
        XCTAssertEqual(r[0], .integer(100))
        XCTAssertEqual(r[1], .integer(5050))
        guard case .number(let elapsed) = r[2] else { return XCTFail() }
        XCTAssertGreaterThanOrEqual(elapsed, 0.1)
        XCTAssertLessThan(elapsed, 1.0, "100 sleeps of 100 ms overlap (took \(elapsed)s)")
    }

    func testTaskDeadlinePassesWhileWaiting() throws {
        let r = try vm.run("""
            local closed = false
            local t = opsh.spawn({ timeout = 0.05 }, function()
              local guard <close> = setmetatable({}, { __close = function() closed = true end })
              opsh.sleep(10)
              return "not reached"
            end)
            local v, err = t:wait()
            return v, err.code, t:status(), closed
            """)
        XCTAssertEqual(r, [.nil, .string("timeout"), .string("timeout"), .boolean(true)])
    }

    func testWaitTimeoutLeavesTheTaskRunning() throws {
        let r = try vm.run("""
            local t = opsh.spawn(function() opsh.sleep(0.1); return "done", 2 end)
            local v, err = t:wait(0.01)
            local a, b = t:wait()
            return v, err.code, a, b
            """)
        XCTAssertEqual(r, [.nil, .string("timeout"), .string("done"), .integer(2)])
    }

    func testNativeYieldInsideAUserCoroutineInsideATask() throws {
        let r = try vm.run("""
            local t = opsh.spawn(function()
              local gen = coroutine.wrap(function()
                opsh.sleep(0.01)
                coroutine.yield(1)
                opsh.sleep(0.01)
                return 2
              end)
              return gen() + gen()
            end)
            local other = opsh.spawn(function() opsh.sleep(0.005); return "ran meanwhile" end)
            return t:wait(), other:wait()
            """)
        XCTAssertEqual(r, [.integer(3), .string("ran meanwhile")])
    }

    func testCoroutinesBehaveAsInLua() throws {
        XCTAssertEqual(try vm.run("""
            local co = coroutine.create(function(a, b)
              local c = coroutine.yield(a + b)
              error("boom " .. c)
            end)
            local ok1, v1 = coroutine.resume(co, 1, 2)
            local ok2, e2 = coroutine.resume(co, "x")
            local ok3, e3 = coroutine.resume(co)
            local w = coroutine.wrap(function() error({code = 7}) end)
            local ok4, e4 = pcall(w)
            return ok1, v1, ok2, e2, ok3, e3, coroutine.status(co), type(e4), e4.code
            """, chunkName: "=co"),
            [.boolean(true), .integer(3), .boolean(false), .string("co:3: boom x"), .boolean(false),
             .string("cannot resume dead coroutine"), .string("dead"), .string("table"), .integer(7)])
    }

    func testErrorInATaskReachesTheWaiter() throws {
        XCTAssertThrowsError(try vm.run("""
            local t = opsh.spawn(function() opsh.sleep(0.01); error("task broke") end)
            return t:wait()
            """, chunkName: "@tasks.lua")) { e in
            let m = (e as! LuaError).message
            XCTAssertTrue(m.contains("tasks.lua:1: task broke"), m)
        }
        // opsh.all raises the first error and cancels the rest
        let r = try vm.run("""
            local cancelled = false
            local ok, e = pcall(opsh.all, {
              function() error("first") end,
              function()
                local g <close> = setmetatable({}, { __close = function() cancelled = true end })
                opsh.sleep(5)
              end,
            })
            return ok, e:match("first") ~= nil, cancelled
            """)
        XCTAssertEqual(r, [.boolean(false), .boolean(true), .boolean(true)])
    }

    /// task:wait and opsh.all raise the value the task raised: a table keeps its fields, a message
    /// stays one line (the traceback goes to the outermost handler, for --verbose).
    func testTaskErrorsKeepTheirValue() throws {
        let r = try vm.run("""
            local ok1, e1 = pcall(opsh.all, { function() error({ code = "mine" }) end, function() opsh.sleep(5) end })
            local t = opsh.spawn(function() opsh.sleep(0.01); error({ code = "waited" }) end)
            local ok2, e2 = pcall(t.wait, t)
            local ok3, e3 = pcall(opsh.all, { function() error("plain", 0) end })
            return ok1, type(e1), e1.code, ok2, e2.code, ok3, e3
            """)
        XCTAssertEqual(r, [.boolean(false), .string("table"), .string("mine"), .boolean(false), .string("waited"),
                           .boolean(false), .string("plain")])
        XCTAssertTrue(vm.scheduler.unobservedFailures.isEmpty, "errors given to the script are observed")
        // uncaught, the error reaches the host with the traceback of the task that raised it
        XCTAssertThrowsError(try vm.run("""
            local t = opsh.spawn(function()
              error("deep in the task")
            end)
            t:wait()
            """, chunkName: "@origin.lua")) { e in
            let m = (e as! LuaError).message
            XCTAssertTrue(m.hasPrefix("origin.lua:2: deep in the task\nstack traceback:"), m)
            XCTAssertTrue(m.contains("origin.lua:2: in function <origin.lua:1>"), m)
        }
    }

    /// A failure no task:wait or opsh.all was given stays recorded, with where it was raised.
    func testUnobservedFailuresAreKept() throws {
        try vm.run("""
            opsh.spawn(function() error({ code = "lost" }) end)
            local t = opsh.spawn(function() error("seen") end)
            opsh.sleep(0.01)
            pcall(t.wait, t)
            """, chunkName: "@lost.lua")
        let lost = vm.scheduler.unobservedFailures
        XCTAssertEqual(lost.count, 1)
        XCTAssertEqual(lost.first?.errorMessage, "lost")
        XCTAssertEqual(lost.first?.errorLocation, "lost.lua:1")
        XCTAssertTrue(lost.first?.errorTraceback?.contains("stack traceback:") ?? false)
    }

    /// A cancelled task's `<close>` variables close, and so do what its native calls hold
    /// (close handlers), innermost first; opsh.all cancelled takes its functions with it.
    func testCancelClosesWhatTheTaskHeld() throws {
        let r = try vm.run("""
            local log = {}
            local t = opsh.spawn(function()
              local outer <close> = setmetatable({}, { __close = function() log[#log + 1] = "close" end })
              opsh.all { function()
                local inner <close> = setmetatable({}, { __close = function() log[#log + 1] = "inner" end })
                opsh.sleep(10)
              end }
            end)
            opsh.sleep(0.01)
            t:cancel()
            return t:status(), table.concat(log, ",")
            """)
        XCTAssertEqual(r, [.string("cancelled"), .string("inner,close")])
        XCTAssertEqual(vm.scheduler.liveTaskCount, 0, "the function opsh.all ran was cancelled with it")
    }

    func testAllWithTimeout() throws {
        let r = try vm.run("""
            local v, err = opsh.all({ function() return 1 end, function() opsh.sleep(5) end }, { timeout = 0.05 })
            return v, err.code, err.pending[1]
            """)
        XCTAssertEqual(r, [.nil, .string("timeout"), .integer(2)])
    }

    func testSleepOutsideATaskBlocks() throws {
        let r = try vm.run("""
            local clock = require('opsh.time').monotonic
            local t0 = clock(); opsh.sleep(0.02); return clock() - t0 >= 0.02
            """)
        XCTAssertEqual(r, [.boolean(true)])
    }

    func testYieldAcrossANonYieldableBoundaryBlocksInstead() throws {
        // table.sort's comparator cannot yield: a native wait there blocks instead of failing
        let r = try vm.run("""
            local t = opsh.spawn(function()
              local xs = { 3, 1, 2 }
              table.sort(xs, function(a, b) opsh.sleep(0.001); return a < b end)
              return table.concat(xs, ",")
            end)
            return t:wait()
            """)
        XCTAssertEqual(r, [.string("1,2,3")])
    }
}

/// Finished tasks do not pin their threads in the registry.
final class TaskLifetimeTests: XCTestCase {
    func testFinishedTasksAreCollected() throws {
        let vm = try LuaVM()
        defer { vm.close() }
        for (name, opener) in ModuleRegistry.natives { vm.preload(name, opener) }
        let r = try vm.run("""
            local opsh = require "opsh"
            collectgarbage(); collectgarbage()
            local before = collectgarbage("count")
            for round = 1, 20 do
              local fns = {}
              for i = 1, 200 do fns[i] = function() return string.rep("x", 1000) end end
              opsh.all(fns)
            end
            collectgarbage(); collectgarbage()
            return collectgarbage("count") - before
            """)
        vm.drainUnrefs()
        guard case .number(let grown) = r[0] else { return XCTFail("\(r)") }
        // 4,000 tasks with 1 KB results each would hold ~4 MB if they leaked
        XCTAssertLessThan(grown, 1024, "KB still held after 4,000 finished tasks: \(grown)")
    }
}
