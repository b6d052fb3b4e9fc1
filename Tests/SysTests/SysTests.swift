import Foundation
import OpshTestSupport
import XCTest

/// opsh.sys.exec with real programs, and services/status reading systemd units through it.
final class SysTests: XCTestCase {
    func lua(_ body: String, flags: [String] = []) -> Run {
        Harness.run(flags + [Harness.write("local sys = require 'opsh.sys'\nlocal opsh = require 'opsh'\n" + body, to: "s.lua")])
    }

    func testExitCodesOutputSignalsAndFailures() {
        let dir = Harness.tempDir("cwd")
        let r = lua("""
        local r = assert(sys.exec({"sh", "-c", "echo out; echo err >&2; pwd; echo $FOO; exit 3"}, {cwd = "\(dir.path)", env = {"FOO=bar", "PATH=/usr/bin:/bin"}}))
        print("exit", r.status, r.signal, r.stdout:gsub("\\n", "|"), r.stderr, r.truncated)
        print("signal", sys.exec({"sh", "-c", "kill -TERM $$"}).signal)
        local ok, err = sys.exec({"opsh-no-such-program"})
        print("missing", ok, err.code, err.message)
        local ok2, err2 = sys.exec({"sleep", "30"}, {timeout = 0.3})
        print("timeout", ok2, err2.code, err2.message)
        local y = assert(sys.exec({"yes"}, {timeout = 5, max_bytes = 10}))
        print("runaway", y.truncated, #y.stdout, y.stdout == "y\\ny\\ny\\ny\\ny\\n")
        print("shell", pcall(sys.exec, "echo hi"))
        -- concurrently in tasks: both finish
        local a, b = opsh.all{function() return sys.exec({"sleep", "0.2"}).status end, function() return sys.exec({"true"}).status end}
        print("tasks", a, b)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("exit\t3\tnil\tout|\(dir.path)|bar|\terr\n\tfalse"), r.stdout)
        XCTAssertTrue(r.stdout.contains("signal\t15"), r.stdout)
        XCTAssertTrue(r.stdout.contains("missing\tnil\tnot_found\topsh-no-such-program: not found"), r.stdout)
        XCTAssertTrue(r.stdout.contains("timeout\tnil\ttimeout\tsleep 30: did not finish within 0.3 s (killed)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("runaway\ttrue\t10\ttrue"), r.stdout)
        XCTAssertTrue(r.stdout.contains("shell\tfalse\tbad argument #1 to 'opsh.sys.exec' (a list of arguments expected"), r.stdout)
        XCTAssertTrue(r.stdout.contains("tasks\t0\t0"), r.stdout)
    }

    /// A task cancelled while its program runs kills the program, reaps it (no zombie left in
    /// /proc) and closes the descriptors the call held (the pidfd and both output files).
    func testCancellingATaskKillsAndReapsItsProgram() {
        let pidfile = Harness.tempDir("pid").appendingPathComponent("child.pid").path
        let r = lua("""
        local fs = require 'opsh.fs'
        local function fds() return #assert(fs.list("/proc/self/fd")) end
        local function exists(pid) local f = io.open("/proc/" .. pid .. "/stat"); if f then f:close() end; return f ~= nil end
        local before = fds()
        local t = opsh.spawn(function() return sys.exec({"sh", "-c", "echo $$ > \(pidfile); exec sleep 30"}, {timeout = 60}) end)
        local pid
        repeat
          opsh.sleep(0.01)
          local f = io.open("\(pidfile)")
          if f then pid = f:read("n"); f:close() end
        until pid
        print("running", exists(pid), fds() - before)
        t:cancel()
        print("cancelled", t:status(), not exists(pid), fds() - before)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("running\ttrue\t3\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("cancelled\tcancelled\ttrue\t0\n"), r.stdout)
    }

    func testDryRunRunsOnlyWhatOnlyReads() {
        let marker = Harness.tempDir("dry").appendingPathComponent("made").path
        let r = lua("""
        local w = assert(sys.exec({"touch", "\(marker)"}))
        print("would", w.dry_run, w.would)
        print("read", assert(sys.exec({"echo", "hi"}, {read_only = true})).stdout)
        """, flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("would\ttrue\trun touch \(marker)"), r.stdout)
        XCTAssertTrue(r.stderr.contains("would: run touch \(marker)"), r.stderr)
        XCTAssertTrue(r.stdout.contains("read\thi\n"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    /// systemd cannot run here: the real systemctl says so (units not present); a stand-in that
    /// answers `systemctl show` as systemd 252 does covers the other states.
    func testServiceStatusReadsSystemdUnits() throws {
        let real = Harness.run(["run", "services/status", "--units", "ai-docs-vector-db"], timeout: 60)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemctl") && !FileManager.default.fileExists(atPath: "/run/systemd/system") {
            XCTAssertTrue(real.stdout.contains("systemd: systemd does not run here: units ai-docs-vector-db not present"), real.stdout)
        }
        let standin = Harness.write("""
        #!/bin/sh
        # answers `systemctl show UNIT --property=...` as systemd 252 does
        [ "$1" = show ] || exit 1
        case "$2" in
          ai-docs-vector-db) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nNRestarts=2\\nActiveEnterTimestamp=Sun 2026-11-29 05:00:00 UTC\\nMainPID=42\\n' ;;
          broken) printf 'LoadState=loaded\\nActiveState=failed\\nSubState=failed\\nNRestarts=5\\nActiveEnterTimestamp=\\nMainPID=0\\n' ;;
          starting) printf 'LoadState=loaded\\nActiveState=activating\\nSubState=start\\nNRestarts=0\\nActiveEnterTimestamp=\\nMainPID=7\\n' ;;
          *) printf 'LoadState=not-found\\nActiveState=inactive\\nSubState=dead\\nNRestarts=0\\nActiveEnterTimestamp=\\nMainPID=0\\n' ;;
        esac
        """, to: "systemctl")
        chmod(standin, 0o755)
        let r = Harness.run(["run", "services/status", "--units", "ai-docs-vector-db,broken,starting,nothing", "--systemctl", standin], timeout: 60)
        XCTAssertTrue(r.stdout.contains("[OK]             systemd.ai-docs-vector-db: ai-docs-vector-db: active (running) since Sun 2026-11-29 05:00:00 UTC, restarts 2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("[CRIT]           systemd.broken: broken: failed (failed), restarts 5"), r.stdout)
        XCTAssertTrue(r.stdout.contains("[WARN]           systemd.starting: starting: activating (start), restarts 0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("systemd.nothing: nothing: not present (systemd has no such unit)"), r.stdout)
        XCTAssertFalse(r.stdout.contains("systemd does not run here"), r.stdout)
    }
}
