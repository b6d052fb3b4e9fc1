import Foundation
import OpshTestSupport
import XCTest

/// `opsh run`: the script format, arguments, report formats, exit codes, categories.
final class RunnerTests: XCTestCase {
    let checks = """
        return {
          description = "reports what it is told",
          categories = { "test", "safe" },
          args = {
            { name = "status", default = "ok", choices = { "ok", "warn", "crit", "unknown" } },
            { name = "count", type = "integer", default = 1 },
            { name = "ratio", type = "number", default = 0.5 },
            { name = "loud", type = "boolean", default = false },
            { name = "tags", type = "list", default = "a,b" },
            { name = "api_key", help = "a secret", default = "s3cr3t" },
          },
          run = function(args, ctx)
            ctx:ok("always", "fine", { count = args.count, ratio = args.ratio })
            ctx[args.status](ctx, "chosen", "status " .. args.status .. (args.loud and "!" or "") .. " " .. table.concat(args.tags, "+"))
          end,
        }
        """

    func testExitCodesFollowTheWorstCheck() {
        let path = Harness.write(checks, to: "checks.lua")
        for (status, code) in [("ok", 0), ("warn", 1), ("crit", 2), ("unknown", 3)] {
            let r = Harness.run(["run", path, "--status", status])
            XCTAssertEqual(r.status, Int32(code), r.stderr)
            XCTAssertTrue(r.stdout.contains("chosen: status \(status) a+b"), r.stdout)
        }
    }

    func testTypedArguments() {
        let path = Harness.write(checks, to: "checks.lua")
        var r = Harness.run(["run", path, "--count=7", "--ratio", "2.5", "--loud", "--tags", "x,y,z"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("count=7"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ratio=2.5"), r.stdout)
        XCTAssertTrue(r.stdout.contains("status ok! x+y+z"), r.stdout)
        // a list argument given again adds to it (--file a --file b), the default is not kept
        r = Harness.run(["run", path, "--tags", "x,y", "--tags", "z"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("status ok x+y+z"), r.stdout)
        r = Harness.run(["run", path, "--count", "seven"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("argument --count must be an integer, got 'seven'"), r.stderr)
        r = Harness.run(["run", path, "--status", "bad"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("must be one of ok, warn, crit, unknown"), r.stderr)
        r = Harness.run(["run", path, "--nope", "1"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("unknown argument --nope"), r.stderr)
        r = Harness.run(["run", path, "--count"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("argument --count needs a value"), r.stderr)
        r = Harness.run(["run", path, "--no-loud"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = Harness.run(["run", path, "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("--count <integer>"), r.stdout)
        XCTAssertTrue(r.stdout.contains("one of ok, warn, crit, unknown"), r.stdout)
    }

    func testJSONReport() throws {
        let path = Harness.write(checks, to: "checks.lua")
        let r = Harness.run(["--json", "run", path, "--status", "warn"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(doc["schema"] as? String, "opsh.report/v1")
        XCTAssertEqual(doc["script"] as? String, "checks")
        XCTAssertEqual(doc["status"] as? String, "warning")
        XCTAssertEqual(doc["exit_code"] as? Int, 1)
        XCTAssertEqual(doc["dry_run"] as? Bool, false)
        XCTAssertTrue(doc["error"] is NSNull)
        let args = try XCTUnwrap(doc["args"] as? [String: Any])
        XCTAssertEqual(args["api_key"] as? String, "***", "secrets are redacted in --json")
        // a password inside a URL argument is redacted in the echoed arguments
        let withURL = Harness.run(["--json", "run", path, "--status", "ok", "--tags", "redis://admin:hunter2@cache:6379/0"])
        let echoed = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(withURL.stdout.utf8)) as? [String: Any])?["args"] as? [String: Any])
        XCTAssertEqual(echoed["tags"] as? [String], ["redis://admin:***@cache:6379/0"])
        XCTAssertEqual(args["count"] as? Int, 1)
        let list = try XCTUnwrap(doc["checks"] as? [[String: Any]])
        XCTAssertEqual(list.count, 2)
        XCTAssertEqual(list[0]["name"] as? String, "always")
        XCTAssertEqual((list[0]["metrics"] as? [String: Any])?["ratio"] as? Double, 0.5)
        XCTAssertEqual(list[1]["status"] as? String, "warning")
        XCTAssertNotNil(doc["started_at"] as? String)
        XCTAssertNotNil(doc["duration_ms"] as? Double)
    }

    func testPrometheusReport() {
        let path = Harness.write(checks, to: "checks.lua")
        let r = Harness.run(["--prom", "run", path, "--status", "crit"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stdout.contains("opsh_check_status{script=\"checks\",check=\"chosen\"} 2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("opsh_check_metric{script=\"checks\",check=\"always\",metric=\"count\"} 1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("opsh_script_exit_code{script=\"checks\"} 2"), r.stdout)
        for line in r.stdout.split(separator: "\n") where !line.hasPrefix("#") {
            XCTAssertNotNil(line.range(of: #"^[a-z_]+\{[^}]*\} [-0-9.e+]+$"#, options: .regularExpression), "exposition line: \(line)")
        }
    }

    /// --dry-run has one channel: what the refused calls would have done is in the report, in
    /// every format, redacted, and nowhere else; a plain script gets it on stderr when it ends.
    func testDryRunActionsAreInTheReport() throws {
        let dir = Harness.tempDir("would")
        let path = Harness.write("""
            return { description = "changes things", categories = {"intrusive"},
              run = function(args, ctx)
                assert(require("opsh.fs").write_atomic("\(dir.path)/out", "abc"))
                assert(require("opsh.sys").exec({"touch", "redis://admin:hunter2@cache:6379/0"}))
                ctx:ok("done", "changed")
              end }
            """, to: "changes.lua")
        let text = Harness.run(["--dry-run", "run", path])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("  would: write 3 bytes to \(dir.path)/out (mode 644)\n  would: run touch redis://admin:***@cache:6379/0\n"), text.stdout)
        XCTAssertFalse(text.stderr.contains("would"), text.stderr)
        XCTAssertFalse(text.stdout.contains("hunter2"), text.stdout)

        let json = Harness.run(["--dry-run", "--json", "run", path])
        XCTAssertEqual(json.status, 0, json.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(doc["would"] as? [String], ["write 3 bytes to \(dir.path)/out (mode 644)", "run touch redis://admin:***@cache:6379/0"])
        XCTAssertFalse(json.stderr.contains("would"), json.stderr)

        let prom = Harness.run(["--dry-run", "--prom", "run", path])
        XCTAssertEqual(prom.status, 0, prom.stderr)
        XCTAssertTrue(prom.stdout.contains("opsh_script_would_actions{script=\"changes\"} 2\n# would: write 3 bytes to \(dir.path)/out (mode 644)\n"), prom.stdout)
        XCTAssertFalse(prom.stderr.contains("would"), prom.stderr)

        // without --dry-run nothing is listed, and the run really happened
        let real = Harness.run(["--json", "run", path], cwd: dir)
        let realDoc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(real.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(realDoc["would"] as? [String], [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir.path)/out"))

        // a plain script has no report: the actions follow its output on stderr
        let plain = Harness.run(["--dry-run", "-e", "require('opsh.fs').mkdir('\(dir.path)/new/sub'); print('end')"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plain.stdout, "end\n")
        XCTAssertEqual(plain.stderr, "would: mkdir -p \(dir.path)/new/sub\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir.path)/new"))
    }

    /// Every hint names a command that works: the help of a script run from a file, and opsh's
    /// flags written after the script name moved before `run`.
    func testArgumentHintsGiveCommandsThatWork() {
        let path = Harness.write(checks, to: "checks.lua")
        var r = Harness.run(["run", path, "--x", "bad"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("unknown argument --x for script checks (see: opsh help \(path))"), r.stderr)
        XCTAssertEqual(Harness.run(["help", path]).status, 0, "the command the hint gives works")
        r = Harness.run(["run", path, "--json", "--count", "2", "--timeout", "5s"])
        XCTAssertEqual(r.status, 3)
        let corrected = "opsh --json --timeout 5s run \(path) --count 2"
        XCTAssertTrue(r.stderr.contains("--json is a flag of opsh, and opsh's flags go before `run`: \(corrected)"), r.stderr)
        r = Harness.run(Array(corrected.split(separator: " ").dropFirst().map(String.init)))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"schema\""), r.stdout)
    }

    /// A misuse of ctx names the script's line; text from outside never reaches the terminal raw.
    func testReportMessagesNameTheLineAndEscapeControlBytes() {
        let path = Harness.write("""
            return { description = "misuses ctx", categories = {"safe"},
              run = function(args, ctx)
                ctx:crit("escape", "a\\27[31mred\\rback\\0")
                ctx:ok("metric", "msg", { s = "string" })
              end }
            """, to: "misuse.lua")
        let r = Harness.run(["run", path])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stdout.contains("escape: a\\x1b[31mred\\x0dback\\x00\n"), r.stdout)
        XCTAssertFalse(r.stdout.contains("\u{1b}"), r.stdout)
        XCTAssertTrue(r.stdout.contains("error: \(path):4: bad argument #3 (metrics must be a table of name = number; 's' is a string)"), r.stdout)
        // a threshold reports through ctx:crit: still the script's line
        let t = Harness.write("""
            return { description = "threshold", categories = {"safe"},
              run = function(args, ctx)
                ctx:threshold("disk", 95, 80, 90, "full", "not a table")
              end }
            """, to: "threshold.lua")
        XCTAssertTrue(Harness.run(["run", t]).stdout.contains("error: \(t):3: bad argument #6 (metrics must be a table of name = number, got string)"))
        // a bad REDIS_URL from the environment, as the report shows it
        let u = Harness.run(["run", "redis/health"], env: ["REDIS_URL": "redis://ho\u{1b}[31mst:1"])
        XCTAssertFalse(u.stdout.contains("\u{1b}"), u.stdout)
        XCTAssertTrue(u.stdout.contains("ho\\x1b[31mst"), u.stdout)
    }

    func testMalformedMetadataNamesScriptAndField() {
        let cases: [(String, String)] = [
            ("return 42", "must return a table"),
            ("return { categories = {'safe'}, run = function() end }", "field 'description' is required"),
            ("return { description = 'x', categories = {'safe'} }", "field 'run' is required"),
            ("return { description = 'x', categories = 'safe', run = function() end }", "field 'categories' must be a table, got string"),
            ("return { description = 'x', categories = {'fast'}, run = function() end }", "must include one of safe, intrusive, destructive"),
            ("return { description = 'x', categories = {'safe'}, run = function() end, colour = 1 }", "unknown field 'colour'"),
            ("return { description = 'x', categories = {'safe'}, run = function() end, args = {{ name = 'n', type = 'float' }} }", "field 'args'[1].type 'float'"),
            ("return { description = 'x', categories = {'safe'}, run = function() end, args = {{ name = 'n', type = 'integer', default = 'x' }} }", "field 'args'[1].default does not match type integer"),
            ("return {", "broken.lua:1: unexpected symbol near <eof>"),
        ]
        for (source, expected) in cases {
            let path = Harness.write(source, to: "broken.lua")
            let r = Harness.run(["run", path])
            XCTAssertEqual(r.status, 3, source)
            XCTAssertTrue(r.stderr.contains(expected), "\(source): \(r.stderr)")
            if !expected.contains("<eof>") { XCTAssertTrue(r.stderr.contains("script broken:"), r.stderr) }
        }
    }

    /// A run that fails: UNKNOWN (3) with `error: MESSAGE` in the report, the traceback only with
    /// --verbose, and the message and traceback in --json's error. Returns the JSON report.
    @discardableResult
    func assertRunFails(_ path: String, with message: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        var r = Harness.run(["run", path])
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr, file: file, line: line)
        XCTAssertTrue(r.stdout.contains("  error: \(message)\nUNKNOWN"), r.stdout, file: file, line: line)
        XCTAssertFalse(r.stderr.contains("stack traceback"), r.stderr, file: file, line: line)
        r = Harness.run(["--verbose", "run", path])
        XCTAssertTrue(r.stderr.contains("stack traceback:"), r.stderr, file: file, line: line)
        r = Harness.run(["--json", "run", path])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], file: file, line: line)
        XCTAssertEqual(doc["status"] as? String, "unknown", file: file, line: line)
        let err = try XCTUnwrap(doc["error"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(err["message"] as? String, message, file: file, line: line)
        XCTAssertTrue((err["traceback"] as? String ?? "").contains("stack traceback:"), file: file, line: line)
        return doc
    }

    func testScriptErrorIsReportedWithItsLine() throws {
        let path = Harness.write("""
            return { description = "fails", categories = {"safe"},
              run = function(args, ctx)
                ctx:ok("before")
                local t = nil
                return t.field
              end }
            """, to: "fails.lua")
        let doc = try assertRunFails(path, with: "\(path):5: attempt to index a nil value (local 't')")
        XCTAssertEqual((doc["checks"] as? [[String: Any]])?.count, 1, "checks reported before the error are kept")
    }

    func testUnknownProcedure() {
        let r = Harness.run(["run", "no/such/procedure"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("no procedure named 'no/such/procedure'"), r.stderr)
        let typo = Harness.run(["run", "backup/dayly"])
        XCTAssertEqual(typo.status, 3)
        XCTAssertTrue(typo.stderr.contains("no procedure named 'backup/dayly'; did you mean 'backup/daily'?"), typo.stderr)
        let missing = Harness.run(["run", "./nothere.lua"])
        XCTAssertEqual(missing.status, 3)
        XCTAssertEqual(missing.stderr, "opsh: ./nothere.lua: no such file\n")
        let u = Harness.run(["frobnicate"])
        XCTAssertEqual(u.status, 3)
        XCTAssertTrue(u.stderr.contains("unknown command 'frobnicate'"), u.stderr)
    }

    func testDestructiveNeedsYesWithoutATerminal() {
        let path = Harness.write("""
            return { description = "deletes things", categories = {"destructive"},
              run = function(args, ctx) ctx:ok("deleted", "dry run: " .. tostring(ctx.dry_run)) end }
            """, to: "wipe.lua")
        var r = Harness.run(["run", path])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("is destructive"), r.stderr)
        XCTAssertFalse(r.stdout.contains("deleted"))
        r = Harness.run(["--yes", "run", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("dry run: false"), r.stdout)
        r = Harness.run(["--dry-run", "run", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("dry run: true"), r.stdout)
        XCTAssertTrue(Harness.run(["--dry-run", "-e", "print(require('opsh').dry_run)"]).stdout.contains("true"))
    }

    /// A task that fails when nothing waits for it makes the run UNKNOWN, with the error and where
    /// it was raised (text and --json; the traceback with --verbose), for procedures and plain Lua.
    func testAFailedTaskNothingWaitedForFailsTheRun() throws {
        let path = Harness.write("""
            local opsh = require "opsh"
            return { description = "spawns a task that fails", categories = {"safe"},
              run = function(args, ctx)
                opsh.spawn(function() opsh.sleep(0.01); error({ code = "mine", message = "bg broke" }) end)
                ctx:ok("main", "fine")
              end }
            """, to: "lost.lua")
        try assertRunFails(path, with: "task 1 failed and nothing waited for it: bg broke (raised at \(path):4)")

        var r = Harness.run(["-e", "local opsh=require'opsh'; opsh.spawn(function() error('bg broke') end); print('main done')"])
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stdout, "main done\n")
        XCTAssertEqual(r.stderr, "opsh: task 1 failed and nothing waited for it: (command line):1: bg broke\n")
        // waited for, the same failure is the script's to handle
        r = Harness.run(["-e", "local opsh=require'opsh'; local t = opsh.spawn(function() error('bg broke') end); print(pcall(t.wait, t))"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "false\t(command line):1: bg broke\n")
    }

    /// opsh.all raises the value a function raised: a table error keeps its code, a message stays
    /// one line in the report.
    func testAllRaisesTheOriginalError() {
        let path = Harness.write("""
            local opsh = require "opsh"
            return { description = "opsh.all errors", categories = {"safe"},
              run = function(args, ctx)
                local ok, err = pcall(opsh.all, { function() error({ code = "mine" }) end })
                ctx:ok("code", tostring(err.code))
                opsh.all { function() error("plain failure") end }
              end }
            """, to: "all.lua")
        let r = Harness.run(["run", path])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stdout.contains("code: mine"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  error: \(path):6: plain failure\nUNKNOWN"), r.stdout)
    }

    func testTasksLeftRunningAreWaitedFor() {
        let path = Harness.write("""
            local opsh = require "opsh"
            return { description = "spawns", categories = {"safe"},
              run = function(args, ctx)
                opsh.spawn(function() opsh.sleep(0.05); ctx:ok("late", "finished after run returned") end)
              end }
            """, to: "spawns.lua")
        let r = Harness.run(["run", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("late: finished after run returned"), r.stdout)
    }
}
