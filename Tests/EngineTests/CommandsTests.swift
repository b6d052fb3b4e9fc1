import Foundation
import OpshTestSupport
import XCTest

/// opsh list, help, eject, config, version, and the search path.
final class CommandsTests: XCTestCase {
    func procedureDir() -> URL {
        let d = Harness.tempDir("procs")
        _ = Harness.write("""
            return { description = "checks the widgets", categories = {"widgets", "check", "safe"},
              args = {{ name = "limit", type = "integer", default = 5, help = "how many" }},
              run = function(args, ctx) ctx:ok("widgets", "limit " .. args.limit) end }
            """, to: "widgets/check.lua", in: d)
        _ = Harness.write("""
            return { description = "removes the widgets", categories = {"widgets", "destructive"},
              run = function(args, ctx) end }
            """, to: "widgets/purge.lua", in: d)
        _ = Harness.write("return {", to: "broken.lua", in: d)
        return d
    }

    func testListShowsProceduresWithCategories() {
        let d = procedureDir()
        var r = Harness.run(["--path", d.path, "list"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("widgets/check"), r.stdout)
        XCTAssertTrue(r.stdout.contains("[widgets,check,safe]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("checks the widgets"), r.stdout)
        XCTAssertTrue(r.stdout.contains("broken") && r.stdout.contains("(broken:"), r.stdout)
        r = Harness.run(["--path", d.path, "list", "destructive"])
        XCTAssertTrue(r.stdout.contains("widgets/purge"), r.stdout)
        XCTAssertFalse(r.stdout.contains("widgets/check"), r.stdout)
        r = Harness.run(["list", "--json"], env: ["OPSH_PATH": d.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]]
        XCTAssertTrue(rows?.contains { $0["name"] as? String == "widgets/check" } ?? false, r.stdout)
    }

    func testRunByNameFromTheSearchPath() {
        let d = procedureDir()
        let r = Harness.run(["--path", d.path, "run", "widgets/check", "--limit", "9"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("widgets: limit 9"), r.stdout)
    }

    func testHelpForProceduresAndModules() {
        let d = procedureDir()
        var r = Harness.run(["--path", d.path, "help", "widgets/check"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("--limit <integer>"), r.stdout)
        XCTAssertTrue(r.stdout.contains("how many (default 5)"), r.stdout)
        for module in ["opsh", "opsh.json", "opsh.time", "opsh.log", "opsh.config", "opsh.report", "opsh.script", "opsh.pretty"] {
            r = Harness.run(["help", module])
            XCTAssertEqual(r.status, 0, module)
            XCTAssertTrue(r.stdout.hasPrefix(module + "\n"), r.stdout)
        }
        XCTAssertTrue(Harness.run(["help", "opsh.json"]).stdout.contains("json.decode(text, opts)"))
        XCTAssertTrue(Harness.run(["help", "opsh"]).stdout.contains("opsh.spawn(fn, ...)"))
        // the option and result types a module takes and returns, with their fields
        let http = Harness.run(["help", "opsh.http"]).stdout
        XCTAssertTrue(http.contains("\nhttp.options\n    headers? table<string, string>\n"), http)
        XCTAssertTrue(http.contains("    timeout? number total seconds"), http)
        XCTAssertTrue(http.contains("\nhttp.response\n    status integer\n"), http)
        XCTAssertTrue(Harness.run(["help", "opsh.qdrant"]).stdout.contains("\nqdrant.options\n    url? string"))
        r = Harness.run(["help", "nothing.here"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("no procedure or module named 'nothing.here'"), r.stderr)
    }

    func testEjectCopiesABuiltinThatThenOverridesIt() throws {
        let home = Harness.tempDir("home")
        let target = Harness.tempDir("ejected")
        var r = Harness.run(["eject", "opsh.report", "--to", target.path], env: ["HOME": home.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let copy = target.appendingPathComponent("opsh/report.lua")
        XCTAssertEqual(r.stdout, copy.path + "\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: copy.path))
        r = Harness.run(["eject", "opsh.report", "--to", target.path])
        XCTAssertEqual(r.status, 3, "an existing copy is not overwritten")
        // the local copy overrides the built-in
        var text = try String(contentsOf: copy, encoding: .utf8)
        text = text.replacingOccurrences(of: "(no checks reported)", with: "(nothing from the ejected copy)")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        let p = Harness.write("return { description = 'quiet', categories = {'safe'}, run = function() end }", to: "quiet.lua")
        r = Harness.run(["--path", target.path, "run", p])
        XCTAssertTrue(r.stdout.contains("(nothing from the ejected copy)"), r.stdout)
        r = Harness.run(["eject", "no/such"])
        XCTAssertEqual(r.status, 3)
    }

    func testConfigPrecedenceAndRedaction() throws {
        let home = Harness.tempDir("home")
        _ = Harness.write("""
            return { qdrant_url = "http://from-config:6333", redis_url = "redis://user:hunter2@cache:6379/0",
                     thresholds = { disk_warn = 70 }, qdrant_api_key = "from-config-key" }
            """, to: ".config/opsh/config.lua", in: home)
        let cwd = Harness.tempDir("cwd")
        _ = Harness.write("QDRANT_URL=http://from-dotenv:6333\n# comment\nexport DOCKER_HOST='unix:///tmp/docker.sock'\n", to: ".env", in: cwd)
        var r = Harness.run(["config"], env: ["HOME": home.path], cwd: cwd)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("qdrant_url") && r.stdout.contains("http://from-dotenv:6333") && r.stdout.contains(".env (QDRANT_URL)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("unix:///tmp/docker.sock"), r.stdout)
        XCTAssertTrue(r.stdout.contains("redis://user:***@cache:6379/0"), "URL passwords are redacted: \(r.stdout)")
        XCTAssertFalse(r.stdout.contains("hunter2"))
        XCTAssertFalse(r.stdout.contains("from-config-key"), "secrets are redacted")
        XCTAssertTrue(r.stdout.contains("thresholds") && r.stdout.contains("disk_warn = 70"), r.stdout)
        r = Harness.run(["config"], env: ["HOME": home.path, "QDRANT_URL": "http://from-env:6333"], cwd: cwd)
        XCTAssertTrue(r.stdout.contains("http://from-env:6333") && r.stdout.contains("env QDRANT_URL"), r.stdout)
        r = Harness.run(["--set", "qdrant_url=http://from-flag:6333", "config"], env: ["HOME": home.path, "QDRANT_URL": "http://from-env:6333"], cwd: cwd)
        XCTAssertTrue(r.stdout.contains("http://from-flag:6333") && r.stdout.contains("flag --set"), r.stdout)
        r = Harness.run(["-e", "local c = require 'opsh.config'; print(c.get('thresholds').disk_warn, c.source('redis_url'), c.get('missing', 'dflt'))"],
                        env: ["HOME": home.path], cwd: cwd)
        XCTAssertEqual(r.stdout, "70\t\(home.path)/.config/opsh/config.lua\tdflt\n", r.stderr)
        r = Harness.run(["--config", "/nonexistent/config.lua", "config"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("no such configuration file"), r.stderr)
    }

    /// A failover in force (dr/failover writes state_dir/failover.env) moves opsh's endpoints
    /// above the environment, below --set; only the endpoints, nothing else, come from it.
    func testAFailoverInForceMovesTheEndpoints() throws {
        let home = Harness.tempDir("home")
        do {
            let state = home.appendingPathComponent(".local/state/opsh")
            _ = Harness.write("redis_url=redis://backup:6379\nbackup_dir=/elsewhere\n", to: "failover.env", in: state)
            let run = Harness.run(["-e", "local c = require 'opsh.config'; print(c.get('redis_url'), c.source('redis_url'), c.get('backup_dir'), c.get('state_dir'))"],
                                  env: ["HOME": home.path, "REDIS_URL": "redis://failed-primary:6379"])
            XCTAssertEqual(run.stdout, "redis://backup:6379\tfailover (\(state.path)/failover.env)\t/backup\t\(state.path)\n", run.stderr)
            let flag = Harness.run(["--set", "redis_url=redis://chosen:6379", "-e", "print(require('opsh.config').get('redis_url'))"], env: ["HOME": home.path])
            XCTAssertEqual(flag.stdout, "redis://chosen:6379\n")
            try FileManager.default.removeItem(at: state.appendingPathComponent("failover.env"))
            let back = Harness.run(["-e", "print(require('opsh.config').get('redis_url'))"], env: ["HOME": home.path, "REDIS_URL": "redis://primary:6379"])
            XCTAssertEqual(back.stdout, "redis://primary:6379\n")
        }
    }

    func testVersionAndUsage() {
        XCTAssertTrue(Harness.run(["version"]).stdout.hasPrefix("opsh "))
        let r = Harness.run(["--timeout"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("--timeout needs a value"), r.stderr)
        XCTAssertTrue(Harness.run(["help"]).stdout.contains("usage: opsh"))
    }

    func testBinaryLinksOnlyLibcLibmLuaAndTheCxxRuntime() throws {
        // scripts/setup links libstdc++ statically; a plain `swift build` links it as a shared library
        let r = Harness.run([Harness.binary.path], executable: URL(fileURLWithPath: "/usr/bin/ldd"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let allowed = ["linux-vdso", "libc.so", "libm.so", "liblua5.4.so", "libstdc++.so", "libgcc_s.so", "ld-linux"]
        let libs = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        XCTAssertFalse(libs.isEmpty)
        for lib in libs {
            XCTAssertTrue(allowed.contains { lib.contains($0) }, "unexpected library: \(lib)")
        }
        XCTAssertTrue(libs.contains { $0.contains("liblua5.4") })
    }
}

/// opsh.log as an operator sees it: stderr, levels, secrets hidden.
final class LogOutputTests: XCTestCase {
    func testLogLinesGoToStderrRedacted() {
        let code = """
            local log = require "opsh.log"
            log.debug("hidden at info")
            log.info("connecting to redis://u:pw123@h:1/0", { api_key = "k-secret", attempt = 2 })
            log.warn("slow")
            print("stdout stays clean")
            """
        var r = Harness.run(["-e", code])
        XCTAssertEqual(r.stdout, "stdout stays clean\n")
        XCTAssertFalse(r.stderr.contains("hidden at info"))
        XCTAssertTrue(r.stderr.contains("INFO  connecting to redis://u:***@h:1/0 api_key=*** attempt=2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("WARN  slow"), r.stderr)
        XCTAssertFalse(r.stderr.contains("pw123") || r.stderr.contains("k-secret"))
        r = Harness.run(["--verbose", "-e", code])
        XCTAssertTrue(r.stderr.contains("DEBUG hidden at info"), r.stderr)
        r = Harness.run(["-e", code], env: ["OPSH_LOG_LEVEL": "warn"])
        XCTAssertFalse(r.stderr.contains("INFO"), r.stderr)
    }
}
