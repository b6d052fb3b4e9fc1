import Foundation
import OpshTestSupport
import XCTest

/// opsh.pool (redis.pool, qdrant.pool) through the built binary, against a real redis-server:
/// borrowing without blocking the loop, the breaker's states on a stopped and restarted
/// server, a frozen server (SIGSTOP), bad options, and the metrics under promtool.
final class PoolModuleTests: XCTestCase {
    var server: RedisServer!

    override func setUpWithError() throws { server = try RedisServer() }
    override func tearDown() { server?.stop() }

    func lua(_ code: String, flags: [String] = []) -> Run {
        Harness.run(flags + ["-e", "redis = require 'opsh.redis'; pool = require 'opsh.pool'; opsh = require 'opsh'; URL = '\(server.url)'\n" + code],
                    timeout: 120)
    }

    func testCallsBorrowAndReturnAndWaitersAreSuspendedTasks() {
        let r = lua("""
            local p = redis.pool(URL, { max = 2, acquire_timeout = 5 })
            print(p:set("user:1:name", "ann"), p:get("user:1:name"), p:call("INCR", "n"), p:hgetall("none") ~= nil)
            local t = p:transaction(function(tx) tx:call("INCR", "n"); tx:call("INCR", "n") end)
            print(t[1], t[2])
            -- four BLPOPs on two connections: two wait for a connection as suspended tasks, while
            -- a timer task keeps ticking (the loop is not blocked)
            local ticks = 0
            local res = opsh.all {
              function() return p:call("BLPOP", "q", 0.2) end, function() return p:call("BLPOP", "q", 0.2) end,
              function() return p:call("BLPOP", "q", 0.2) end, function() return p:call("BLPOP", "q", 0.2) end,
              function() for i = 1, 5 do opsh.sleep(0.05); ticks = ticks + 1 end end,
            }
            local s = p:stats()
            print(ticks, s.open, s.created_total, s.checked_out, s.waiting, s.calls_total, s.failed_total)
            -- a server's refusal is the caller's: the breaker does not count it
            local v, err = p:call("NOSUCHCOMMAND")
            print(v, err.code, p:breaker():state(), p:breaker():status().failures_total.query)
            -- iterators hold their connection: only through pool:with
            print(pcall(p.scan, p))
            print(p:with(function(c) local n = 0 for _ in c:scan{ match = "user:*" } do n = n + 1 end return n end))
            -- a connection used after its call went back is refused
            local kept
            p:with(function(c) kept = c end)
            print(pcall(kept.get, kept, "n"))
            print(#pool.list(), pool.list()[1].kind)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 8, r.stdout)
        guard lines.count == 8 else { return }
        XCTAssertEqual(lines[0], "OK\tann\t1\ttrue")
        XCTAssertEqual(lines[1], "2\t3")
        XCTAssertEqual(lines[2], "5\t2\t2\t0\t0\t9\t0")
        XCTAssertEqual(lines[3], "nil\tERR\tclosed\t0")
        XCTAssertTrue(lines[4].hasPrefix("false\t") && lines[4].contains("pool:with"), lines[4])
        XCTAssertEqual(lines[5], "1")
        XCTAssertTrue(lines[6].hasPrefix("false\t") && lines[6].contains("went back to its pool"), lines[6])
        XCTAssertEqual(lines[7], "1\tredis")
    }

    func testACancelledTaskGivesItsConnectionBackOrClosesIt() {
        let r = lua("""
            local p = redis.pool(URL, { max = 1, acquire_timeout = 5 })
            local admin = redis.connect(URL)
            -- each step waits for the state it needs, not for a time: a loaded machine is slower
            local function until_(cond) for _ = 1, 1000 do if cond() then return end opsh.sleep(0.01) end error("gave up waiting") end
            p:set("x", 1)
            -- cancelled while its BLPOP is in flight: replies are owed, so the connection is closed
            local t = opsh.spawn(function() return p:call("BLPOP", "q", 5) end)
            until_(function() return admin:call("CLIENT", "LIST"):match("cmd=blpop") end)
            t:cancel()
            local s = p:stats()
            print(s.open, s.checked_out, s.closed_total)
            -- cancelled while holding an idle connection (inside pool:with): it goes back
            local got = false
            local t2 = opsh.spawn(function() return p:with(function(c) c:get("x"); got = true; opsh.sleep(5) end) end)
            until_(function() return got end)
            t2:cancel()
            s = p:stats()
            print(s.open, s.checked_out, s.idle, s.closed_total)
            -- cancelled while waiting in the queue: it leaves the queue
            local release = false
            local holder = opsh.spawn(function() return p:with(function() until_(function() return release end) end) end)
            until_(function() return p:stats().checked_out == 1 end)
            local waiter = opsh.spawn(function() return p:get("x") end)
            until_(function() return p:stats().waiting == 1 end)
            print(p:stats().waiting)
            waiter:cancel()
            print(p:stats().waiting)
            release = true
            holder:wait()
            print(p:get("x"), p:stats().checked_out)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "0\t0\t1\n1\t0\t1\t1\n1\n0\n1\t0\n")
    }

    func testBadOptionsNameTheOption() {
        let r = lua("""
            for _, o in ipairs {
              { min = -1 }, { max = 0 }, { min = 5, max = 2 }, { acquire_timeout = -1 }, { timeout = 0 },
              { max_lifetime = 0/0 }, { mx = 3 }, { breaker = { failure_threshold = { conection = 3 } } },
              { breaker = { failure_threshold = 0 } }, { breaker = { recovery_timeout = -1 } },
              { breaker = { half_open_max_calls = 0 } }, { breaker = { probes = 1 } },
            } do
              local ok, err = pcall(redis.pool, URL, o)
              print(ok, (tostring(err):gsub("^.-bad argument #2 to '%w+' ", "")))
            end
            local b = redis.pool(URL):breaker()
            print(pcall(b.configure, b, { failure_threshold = { resource = -2 } }))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let expected = [
            "(min: must be 0 or more, got -1)", "(max: must be 1 or more, got 0)", "(min: must not be above max (5 > 2))",
            "(acquire_timeout: must be 0 or more seconds, got -1.0)", "(timeout: must be a positive number of seconds, got 0.0)",
            "(max_lifetime: must be a number, got nan)", "(unknown option 'mx' (options:",
            "(breaker.failure_threshold: unknown failure type 'conection' (known: connection, timeout, query, transaction, resource))",
            "(breaker.failure_threshold.connection: must be 1 or more, got 0)",
            "(breaker.recovery_timeout: must be more than 0 seconds, got -1.0)",
            "(breaker.half_open_max_calls: must be 1 or more, got 0)", "(breaker: unknown option",
        ]
        XCTAssertEqual(lines.count, expected.count + 1, r.stdout)
        for (line, want) in zip(lines, expected) {
            XCTAssertTrue(line.hasPrefix("false\t" + want), "\(line) does not start with false, \(want)")
        }
        XCTAssertTrue(lines.last?.contains("breaker.failure_threshold.resource: must be 1 or more, got -2") ?? false, r.stdout)
    }

    func testMetricsOfPoolsBreakersAndPredictorsPassPromtool() throws {
        let dir = Harness.tempDir("poolmetrics")
        let out = dir.appendingPathComponent("metrics.txt").path
        let r = lua("""
            local predict = require 'opsh.predict'
            local a = redis.pool(URL, { max = 2 })
            local b = redis.pool(URL, { max = 3 })
            local c = redis.pool(URL, { max = 4, adaptive = true })
            for i = 1, 20 do a:incr("c"); b:get("user:" .. i); c:get("x") end
            print(c:sample().reason ~= nil, c:predictor().samples, c:predictor().trained)
            a:call("NOSUCHCOMMAND")
            local pr = predict.new { horizons = { 25 } }
            for i = 0, 200 do pr:observe { t = 1700000000 + 5 * i, requests = 10 + i % 7 } end
            local text = pool.metrics()
            local f = assert(io.open("\(out)", "w")); f:write(text); f:close()
            print(select(2, text:gsub("\\ndb_connection_pool_size{", "")), text:find('pool="' .. URL .. '/0#2"', 1, true) ~= nil)
            print(text:find("db_connection_pool_ml_model_accuracy{predictor=", 1, true) ~= nil, text:find("db_query_duration_seconds_bucket", 1, true) ~= nil,
              text:find('db_connection_pool_ml_model_training_samples{pool="' .. URL .. '/0#3"}', 1, true) ~= nil,
              text:find('db_connection_pool_current_load_factor{pool="' .. URL .. '/0#3"}', 1, true) ~= nil)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\t1\tfalse\n3\ttrue\ntrue\ttrue\ttrue\ttrue\n")
        let (status, said) = try Promtool.checkMetrics(String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self))
        XCTAssertEqual(status, 0, said)
    }
}
