import Agent
import Foundation
import OpshTestSupport
import Schedule

/// A clock a test sets by hand.
final class ManualClock: AgentClock, @unchecked Sendable {
    private let lock = NSLock()
    private var t: Double
    init(_ t: Int64) { self.t = Double(t) }
    func now() -> Double { lock.lock(); defer { lock.unlock() }; return t }
    func set(_ v: Int64) { lock.lock(); t = Double(v); lock.unlock() }
}

/// Unix seconds of a UTC clock reading.
func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int = 0, _ mi: Int = 0, _ s: Int = 0) -> Int64 {
    LocalTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s).seconds
}

/// Test procedures, as files `opsh run PATH` runs.
enum Procedures {
    static let dir = Harness.tempDir("agent-procedures")

    /// Sleeps `--sleep` seconds, then reports OK (or `--status`).
    static let sleeper = Harness.write("""
        local opsh = require "opsh"
        return { description = "sleeps, then reports", categories = { "safe" },
          args = { { name = "sleep", type = "number", default = 0 }, { name = "status", default = "ok" } },
          run = function(a, ctx)
            opsh.sleep(a.sleep)
            if a.status == "ok" then ctx:ok("t.sleeper", "slept " .. a.sleep) else ctx:crit("t.sleeper", "failed on purpose") end
          end }
        """, to: "sleeper.lua", in: dir)

    /// Intrusive, in the daily maintenance window.
    static let windowed = Harness.write("""
        return { description = "needs the daily window", categories = { "maintenance", "intrusive" }, window = "daily",
          run = function(_, ctx) ctx:ok("t.windowed", "ran") end }
        """, to: "windowed.lua", in: dir)

    /// Logs TOKEN:started, waits until the key t:go exists, then makes a fenced write and logs
    /// (unfenced) how it went: TOKEN:ok or TOKEN:stale_token.
    static let fenced = Harness.write("""
        local fence = require "opsh.fence"
        local opsh = require "opsh"
        return { description = "a fenced write when t:go is set", categories = { "safe" },
          run = function(a, ctx)
            local c = fence.connection()
            c:call("RPUSH", "t:log", tostring(fence.token()) .. ":started")
            for _ = 1, 2400 do
              if c:call("EXISTS", "t:go") == 1 then break end
              opsh.sleep(0.05)
            end
            local r, err = fence.call("SET", "t:fenced", tostring(fence.token()))
            c:call("RPUSH", "t:log", tostring(fence.token()) .. ":" .. (r and "ok" or tostring(err and err.code)))
            if r then ctx:ok("t.fenced", "written") else ctx:crit("t.fenced", tostring(err)) end
          end }
        """, to: "fenced.lua", in: dir)
}

func settings(_ jobs: [Job], redis: String? = nil, ttl: Double = 30, history: String? = nil, zone: String = "UTC") -> SchedulerSettings {
    SchedulerSettings(agentID: "test-agent", opshPath: Harness.binary.path, historyPath: history ?? Harness.tempDir("history").path + "/agent.db",
                      redisURL: redis, lockTTL: ttl, maintenanceZone: zone, jobs: jobs)
}

/// Polls until `cond` holds (a readiness wait, not a time bound: 60 s for a loaded machine).
func waitUntil(_ what: String, _ cond: () -> Bool) -> Bool {
    for _ in 0..<1200 {
        if cond() { return true }
        usleep(50_000)
    }
    return false
}
