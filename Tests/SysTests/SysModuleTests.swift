import Foundation
import Glibc
import OpshTestSupport
import Sys
import XCTest

/// opsh.sys's view of the machine from Lua, through the built binary: the tables each function
/// returns, the interval and connect waits as native waits (other tasks run meanwhile), and
/// misuse raising.
final class SysModuleTests: XCTestCase {
    func lua(_ body: String, flags: [String] = []) -> Run {
        Harness.run(flags + [Harness.write("local sys = require 'opsh.sys'\nlocal opsh = require 'opsh'\n" + body, to: "s.lua")])
    }

    func testMachineReadings() {
        let r = lua("""
        local c = assert(sys.cpu { interval = 0.05 })
        print("cpu", c.busy >= 0 and c.busy <= 100, #c.cores >= 1, c.cores[1].id, c.interval >= 0.05)
        local m = assert(sys.memory())
        print("memory", m.total > 0, m.used == m.total - m.available, m.used_percent <= 100)
        local root
        for _, d in ipairs(assert(sys.disks())) do
          if d.mount == "/" then root = d end
          if d.type == "tmpfs" or d.type == "proc" then print("pseudo", d.mount) end
        end
        print("disk", root ~= nil, root.total > 0, root.used_percent >= 0)
        local l = assert(sys.load())
        print("load", l.cores >= 1, l.per_core == math.floor(l.load1 / l.cores * 100 + 0.5) / 100)
        print("uptime", assert(sys.uptime()).seconds > 0)
        local p = assert(sys.processes { sort = "memory", top = 3 })
        print("procs", #p, p[1].rss >= p[2].rss, p[1].cpu_percent, type(p[1].command), type(p[1].user))
        print("bad", pcall(sys.processes, { sort = "disk" }))
        print("bad", pcall(sys.cpu, { interval = 0 }))
        print("bad", pcall(sys.cpu, { intervall = 1 }))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("cpu\ttrue\ttrue\t0\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("memory\ttrue\ttrue\ttrue\n"), r.stdout)
        XCTAssertFalse(r.stdout.contains("pseudo"), r.stdout)
        XCTAssertTrue(r.stdout.contains("disk\ttrue\ttrue\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("load\ttrue\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("uptime\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("procs\t3\ttrue\tnil\tstring\tstring\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #1 to 'opsh.sys.processes' (sort must be \"cpu\" or \"memory\")"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #1 to 'opsh.sys.cpu' (interval must be > 0 and at most 60 seconds)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #1 to 'opsh.sys.cpu' (unknown option 'intervall'"), r.stdout)
    }

    /// The CPU interval is a native wait: a task ticking every 10 ms runs while sys.cpu and
    /// sys.processes wait their 0.3 s side by side.
    func testIntervalsAreWaitsOnTheEventLoop() {
        let r = lua("""
        local ticks, done = 0, false
        local ticker = opsh.spawn(function() while not done do opsh.sleep(0.01); ticks = ticks + 1 end end)
        local c, p = opsh.all { function() return sys.cpu { interval = 0.3 } end,
                                function() return sys.processes { interval = 0.3, top = 2 } end }
        done = true
        ticker:wait()
        print("ticked", ticks > 5, c.interval >= 0.3, #p, p[1].cpu_percent ~= nil)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ticked\ttrue\ttrue\t2\ttrue\n"), r.stdout)
    }

    /// With `since`, CPU is measured from the agent's sample there (written here by the same
    /// native code the agent runs, aged 2 s so the test need not wait): no wait, the interval
    /// since the sample, and the source said; a stale sample or none falls back to the interval.
    func testCPUSinceTheAgentsSample() throws {
        let dir = Harness.tempDir("cpu").path + "/cpu"
        try CPUSampleDirectory(dir).write(try CPUSample.take().aged(by: 2))
        let r = lua("""
        local c = assert(sys.cpu { since = "\(dir)", max_age = 3600, interval = 30 })
        print("cpu", c.source, c.interval >= 2 and c.interval < 30, c.sample_unused, #c.cores >= 1, c.busy >= 0 and c.busy <= 100)
        local p, how = sys.processes { since = "\(dir)", max_age = 3600, top = 100000, interval = 30 }
        print("procs", how.source, how.interval >= 2 and how.interval < 30, #p > 1 and p[1].cpu_percent >= p[2].cpu_percent)
        local stale = assert(sys.cpu { since = "\(dir)", max_age = 1, interval = 0.05 })
        print("stale", stale.source, stale.interval >= 0.05, stale.sample_unused)
        local none = assert(sys.cpu { since = "\(dir)/nothing-here", interval = 0.05 })
        print("none", none.source, none.sample_unused)
        local _, plain = sys.processes { interval = 0.05, top = 1 }
        print("plain", plain.source)
        print("bad", pcall(sys.cpu, { since = 5 }))
        print("bad", pcall(sys.cpu, { since = "/tmp", max_age = -1 }))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("cpu\tagent sample\ttrue\tnil\ttrue\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("procs\tagent sample\ttrue\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("stale\tinterval\ttrue\tcpu-sample.0 is 2."), r.stdout)
        XCTAssertTrue(r.stdout.contains(" s old (over 1.0 s)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("none\tinterval\tnil\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("plain\tinterval\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #1 to 'opsh.sys.cpu' (since must be the directory of the agent's CPU samples)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #1 to 'opsh.sys.cpu' (max_age must be a positive number of seconds)"), r.stdout)
    }

    func testListeningResolveAndConnect() {
        let (fd, port) = HostileServer.listenOnLoopback()
        defer { close(fd) }
        let closed = RedisServer.freePort()
        let r = lua("""
        local mine
        for _, s in ipairs(sys.listening()) do
          if s.proto == "tcp" and s.port == \(port) then mine = s end
        end
        print("listening", mine.address, mine.pid == \(getpid()), type(mine.process), mine.inode > 0)
        local res = assert(sys.resolve("localhost"))
        print("resolve", res.host, #res.addresses >= 1, res.seconds >= 0)
        local nf, err = sys.resolve("")
        print("noname", nf, err.code ~= nil, err.host)
        local c = assert(sys.connect("localhost", \(port), { timeout = 5 }))
        print("connect", c.connected, c.address, c.seconds >= 0)
        local no, e = sys.connect("127.0.0.1", \(closed))
        print("refused", no, e.code, e.address, e.message)
        print("bad", pcall(sys.connect, "localhost", 70000))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("listening\t127.0.0.1\ttrue\tstring\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("resolve\tlocalhost\ttrue\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("noname\tnil\ttrue\t\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("connect\ttrue\t127.0.0.1\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("refused\tnil\trefused\t127.0.0.1\t127.0.0.1:\(closed) (127.0.0.1): Connection refused\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #2 to 'opsh.sys.connect' (port must be 1-65535)"), r.stdout)
    }

    /// A connect that gets no answer (a listener with a full backlog of 0 that never accepts)
    /// ends at its deadline with code "timeout", and other tasks run while it waits.
    func testConnectTimesOutWithoutBlockingOtherTasks() {
        let (fd, port) = HostileServer.listenOnLoopback(backlog: 0)
        defer { close(fd) }
        let r = lua("""
        local ticks, done = 0, false
        local ticker = opsh.spawn(function() while not done do opsh.sleep(0.01); ticks = ticks + 1 end end)
        local last
        for i = 1, 8 do
          local ok, err = sys.connect("127.0.0.1", \(port), { timeout = 0.4 })
          if not ok then last = err; break end
        end
        done = true
        ticker:wait()
        print("timeout", last.code, last.message, ticks > 10)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("timeout\ttimeout\t127.0.0.1:\(port): no answer within 0.4 s (127.0.0.1)\ttrue\n"), r.stdout)
    }

    func testHelpDocumentsTheModule() {
        let r = Harness.run(["help", "opsh.sys"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["sys.cpu", "sys.memory", "sys.disks", "sys.load", "sys.uptime", "sys.processes", "sys.listening", "sys.resolve", "sys.connect", "sys.exec"] {
            XCTAssertTrue(r.stdout.contains(f), "\(f): \(r.stdout)")
        }
    }
}
