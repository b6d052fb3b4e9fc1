import Foundation
import OpshTestSupport
import XCTest

/// A pool's breaker and deadlines from Lua against a real redis-server that the test stops,
/// restarts, freezes (SIGSTOP) and thaws (SIGCONT), by its pid. The script and the test take
/// turns: the script prints a step and reads a line; the test acts on the server, then writes
/// the line.
final class PoolFaultTests: XCTestCase {
    /// A running opsh whose stdout is read line by line and whose stdin takes the go-aheads.
    final class Driver {
        let process = Process()
        let input = Pipe(), output = Pipe(), errors = Pipe()
        var buffer = Data()

        init(script: String) throws {
            process.executableURL = Harness.binary
            process.arguments = [script]
            process.environment = Harness.environment()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            try process.run()
        }

        /// The next line the script prints (nil at its end).
        func line() -> String? {
            while true {
                if let nl = buffer.firstIndex(of: 10) {
                    let l = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                    buffer = Data(buffer[(nl + 1)...])
                    return l
                }
                let more = output.fileHandleForReading.availableData
                if more.isEmpty { return nil }
                buffer.append(more)
            }
        }

        func go() { input.fileHandleForWriting.write("go\n".data(using: .utf8)!) }

        func finish() -> (Int32, String) {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
    }

    func testBreakerOpensFailsFastProbesAndClosesAndAFrozenServerTimesAcquiresOut() throws {
        var server = try RedisServer()
        defer { server.stop() }
        let script = Harness.write("""
            local redis = require "opsh.redis"
            local opsh = require "opsh"
            local p = redis.pool("\(server.url)", { max = 4, timeout = 2, acquire_timeout = 0.5, breaker = {
              failure_threshold = { connection = 3, timeout = 10 }, recovery_timeout = 0.5,
              half_open_max_calls = 3, half_open_success_threshold = 2 } })
            local b = p:breaker()
            local told = 0
            for i = 1, 50 do if p:incr("ctr") then told = told + 1 end end
            print("before", told, p:get("ctr"))
            io.read("l")                                  -- the test stops the server

            local states = {}
            for i = 1, 3 do
              local v, err = p:incr("ctr")
              states[i] = (v == nil and "failed" or "ok") .. ":" .. b:state()
            end
            print("down", table.concat(states, " "), b:status().counts.connection)
            local made, rejected = p:stats().created_total, b:status().rejected_total
            local v, err = p:incr("ctr")
            print("open", v, err.code, p:stats().created_total - made, b:status().rejected_total - rejected, err.pool ~= nil)
            io.read("l")                                  -- the test starts it again

            opsh.sleep(0.6)                               -- past the recovery timeout
            local answers = { opsh.all {
              function() local v, e = p:call("BLPOP", "q", 0.3) return v and "ok" or e.code end,
              function() local v, e = p:call("BLPOP", "q", 0.3) return v and "ok" or e.code end,
              function() local v, e = p:call("BLPOP", "q", 0.3) return v and "ok" or e.code end,
              function() local v, e = p:call("BLPOP", "q", 0.3) return v and "ok" or e.code end,
              function() local v, e = p:call("BLPOP", "q", 0.3) return v and "ok" or e.code end,
              function() local v, e = p:call("BLPOP", "q", 0.3) return v and "ok" or e.code end,
            } }
            local count = {}
            for _, a in ipairs(answers) do count[a] = (count[a] or 0) + 1 end
            local st = b:status()
            print("probes", count.ok, count.circuit_open, b:state(), st.recoveries_total, st.transitions[#st.transitions].reason)
            told = 0
            for i = 1, 20 do if p:incr("ctr") then told = told + 1 end end
            print("after", told, p:get("ctr"))
            io.read("l")                                  -- the test freezes it (SIGSTOP)

            local outcomes = { opsh.all {
              function() local v, e = p:incr("ctr") return v and "ok" or (e.pool and "acquire_" or "call_") .. e.code end,
              function() local v, e = p:incr("ctr") return v and "ok" or (e.pool and "acquire_" or "call_") .. e.code end,
              function() local v, e = p:incr("ctr") return v and "ok" or (e.pool and "acquire_" or "call_") .. e.code end,
              function() local v, e = p:incr("ctr") return v and "ok" or (e.pool and "acquire_" or "call_") .. e.code end,
              function() opsh.sleep(0.05) local v, e = p:incr("ctr") return v and "ok" or (e.pool and "acquire_" or "call_") .. e.code end,
              function() opsh.sleep(0.05) local v, e = p:incr("ctr") return v and "ok" or (e.pool and "acquire_" or "call_") .. e.code end,
            } }
            count = {}
            for _, a in ipairs(outcomes) do count[a] = (count[a] or 0) + 1 end
            print("frozen", count.call_timeout, count.acquire_timeout, count.ok, p:stats().timeouts_total, b:state())
            io.read("l")                                  -- the test thaws it (SIGCONT)

            local n, err = p:incr("ctr")
            print("thawed", n ~= nil, b:state(), n and n >= 21 and n <= 25, n)
            """, to: "faults.lua")
        let d = try Driver(script: script)
        XCTAssertEqual(d.line(), "before\t50\t50")
        server.stop()
        d.go()
        XCTAssertEqual(d.line(), "down\tfailed:closed failed:closed failed:open\t3")
        // refused at once: no connection was made and the breaker counted the refusal
        XCTAssertEqual(d.line(), "open\tnil\tcircuit_open\t0\t1\ttrue")
        server = try RedisServer(port: server.port)
        d.go()
        // half-open: three probes admitted, the other three refused, then closed after two successes
        XCTAssertEqual(d.line(), "probes\t3\t3\tclosed\t1\t2 probe calls succeeded")
        // the new server counts exactly the increments it was told succeeded
        XCTAssertEqual(d.line(), "after\t20\t20")
        kill(server.pid, SIGSTOP)
        d.go()
        // four calls hold the four connections and time out; the two callers queued behind them
        // give up at their acquire deadline
        XCTAssertEqual(d.line(), "frozen\t4\t2\tnil\t2\tclosed")
        kill(server.pid, SIGCONT)
        d.go()
        // the four frozen INCRs were sent once each: the server may run them after SIGCONT, never twice
        let thawed = d.line() ?? ""
        XCTAssertTrue(thawed.hasPrefix("thawed\ttrue\tclosed\ttrue\t"), thawed)
        let (status, stderr) = d.finish()
        XCTAssertEqual(status, 0, stderr)
    }
}
