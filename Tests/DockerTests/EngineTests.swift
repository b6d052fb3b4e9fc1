import Foundation
import OpshTestSupport
import XCTest

/// opsh.docker against the real engine (scripts/dockerd starts one when none runs): every test
/// makes its own containers with unique names and removes them.
final class EngineTests: XCTestCase {
    var containers: [String] = []
    var volumes: [String] = []

    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers, volumes: volumes) }

    func name(_ hint: String) -> String {
        let n = DockerEngine.name(hint)
        containers.append(n)
        return n
    }

    /// Runs Lua under opsh with `docker` connected; prints go to stdout.
    func lua(_ body: String, flags: [String] = [], env: [String: String] = [:]) -> Run {
        let script = Harness.write("local docker = require 'opsh.docker'\nlocal json = require 'opsh.json'\nlocal opsh = require 'opsh'\nlocal d = assert(docker.connect())\n" + body, to: "t.lua")
        return Harness.run(flags + [script], env: env, timeout: 120)
    }

    /// `docker run -d` from the outside (the CLI only sets the scene).
    func runDetached(_ n: String, _ args: [String], tty: Bool = false) {
        let r = DockerEngine.docker(["run", "-d", "--name", n, "--network", "host"] + (tty ? ["-t"] : []) + [DockerEngine.image] + args)
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testPingVersionInfoAndFilters() {
        let a = name("filt"), b = name("filt")
        runDetached(a, ["sleep", "300"])
        XCTAssertEqual(DockerEngine.docker(["create", "--name", b, "--label", "tier=x\(getpid())", DockerEngine.image, "true"]).status, 0)
        let r = lua("""
        assert(d:ping())
        local v = assert(d:version())
        print("api", d.api_version, v.ApiVersion)
        print("info", type(assert(d:info()).Containers))
        print("df", type(assert(d:df()).Images))
        local function names(list) local t = {} for _, c in ipairs(list) do t[#t+1] = c.Names[1] end table.sort(t) return table.concat(t, ",") end
        print("running", names(assert(d:containers{name = "\(a)"})))
        print("all", names(assert(d:containers{all = true, name = "opsh-test-\(getpid())-filt"})))
        print("label", names(assert(d:containers{all = true, label = "tier=x\(getpid())"})))
        print("exited", names(assert(d:containers{all = true, status = "created", name = "\(b)"})))
        print("find", assert(d:find("\(a)")).Names[1], d:find("\(a)-nope"))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("api\t1.41\t1.41"), r.stdout)
        XCTAssertTrue(r.stdout.contains("info\tnumber") && r.stdout.contains("df\ttable"), r.stdout)
        XCTAssertTrue(r.stdout.contains("running\t/\(a)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("all\t/\(a),/\(b)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("label\t/\(b)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("exited\t/\(b)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("find\t/\(a)\tnil"), r.stdout)
    }

    func testRecreateWithAnEnvOverrideChangesOnlyThoseVariables() {
        let n = name("envover")
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", n, "--label", "keep=me", "-e", "REDIS_URL=redis://primary:6379",
                                            "-e", "OTHER=unchanged value", DockerEngine.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]).status, 0)
        let oldID = DockerEngine.docker(["inspect", "-f", "{{.Id}}", n]).stdout
        // a dry run names the variables and changes nothing
        var r = lua("print(assert(d:recreate('\(n)', {env = {REDIS_URL = 'redis://backup:6380'}})).would)", flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("recreate \(n) on \(DockerEngine.image) with REDIS_URL changed"), r.stdout)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.Id}}", n]).stdout, oldID)
        // a name the engine cannot take: refused before anything is stopped
        r = lua("local ok, err = d:recreate('\(n)', {env = {['A=B'] = 'x'}}); print(ok, err.code)")
        XCTAssertTrue(r.stdout.contains("nil\tbad_env"), r.stdout + r.stderr)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.Id}} {{.State.Running}}", n]).stdout, oldID.trimmingCharacters(in: .newlines) + " true\n")
        r = lua("local res = assert(d:recreate('\(n)', {timeout = 2, env = {REDIS_URL = 'redis://backup:6380', ADDED = 'yes'}})); print(res.name)")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertNotEqual(DockerEngine.docker(["inspect", "-f", "{{.Id}}", n]).stdout, oldID, "a new container under the same name")
        let env = DockerEngine.docker(["exec", n, "env"]).stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(env.contains("REDIS_URL=redis://backup:6380"), "\(env)")
        XCTAssertTrue(env.contains("OTHER=unchanged value"), "\(env)")
        XCTAssertTrue(env.contains("ADDED=yes"), "\(env)")
        XCTAssertFalse(env.contains("REDIS_URL=redis://primary:6379"), "\(env)")
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{index .Config.Labels \"keep\"}}", n]).stdout, "me\n")
    }

    func testDaemonNotRunningIsOneLine() {
        let r = lua("""
        local c = assert(docker.connect{host = "unix:///tmp/opsh-no-docker-here.sock"})
        local ok, err = c:containers()
        print(ok, err.code, err.message)
        local ok2, err2 = pcall(function() for l in c:logs("x", {tty = false}) do end end)
        print(ok2, err2.code)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stdout)
        XCTAssertEqual(String(lines[0]), "nil\tdaemon_unavailable\tthe Docker daemon is not running: nothing answers at unix:///tmp/opsh-no-docker-here.sock (start it, or set DOCKER_HOST)")
        XCTAssertEqual(String(lines[1]), "false\tdaemon_unavailable")
    }

    func testMissingContainerSaysWhichAndWhatTheDaemonSaid() {
        let n = "opsh-test-\(getpid())-missing"
        let r = lua("""
        for _, f in ipairs{"inspect", "start", "stop", "restart", "remove"} do
          local ok, err = d[f](d, "\(n)")
          print(f, ok, err.code, err.status, err.message)
        end
        local ok, err = pcall(function() for l in d:logs("\(n)") do end end)
        print("logs", ok, err.code)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["inspect", "start", "stop", "restart", "remove"] {
            XCTAssertTrue(r.stdout.contains("\(f)\tnil\tnot_found\t404\tdocker \(f) \(n): No such container: \(n)"), r.stdout)
        }
        XCTAssertTrue(r.stdout.contains("logs\tfalse\tnot_found"), r.stdout)
    }

    func testLifecycleLimitsExecTop() {
        let n = name("life")
        let r = lua("""
        local c = assert(d:create{name = "\(n)", Image = "\(DockerEngine.image)", Cmd = {"sleep", "300"}, HostConfig = {NetworkMode = "host"}})
        print("label", assert(d:inspect("\(n)")).Config.Labels["opsh.created"])
        assert(d:start("\(n)"))
        assert(d:start("\(n)"))   -- already started: the state asked for holds (304)
        assert(d:pause("\(n)")); print("paused", d:inspect("\(n)").State.Status)
        assert(d:unpause("\(n)")); print("unpaused", d:inspect("\(n)").State.Status)
        assert(d:update("\(n)", {memory = "64m", cpus = 0.5, pids = 50}))
        local hc = d:inspect("\(n)").HostConfig
        print("limits", hc.Memory, hc.NanoCpus, hc.PidsLimit)
        local e = assert(d:exec("\(n)", "echo out; echo err >&2; exit 7"))
        print("exec", e.exit_code, e.stdout, e.stderr)
        local e2 = assert(d:exec("\(n)", {"cat", "/nonexistent"}))
        print("exec2", e2.exit_code, #e2.stderr > 0)
        local top = assert(d:top("\(n)"))
        print("top", #top.Processes >= 1, top.Titles[1] ~= nil)
        local started = d:inspect("\(n)").State.StartedAt
        assert(d:restart("\(n)", {timeout = 1}))
        print("restarted", d:inspect("\(n)").State.StartedAt ~= started, d:inspect("\(n)").State.Running)
        assert(d:kill("\(n)", "SIGTERM"))   -- sleep as PID 1 ignores SIGTERM
        opsh.sleep(0.3)
        print("after TERM", d:inspect("\(n)").State.Running)
        assert(d:kill("\(n)"))
        print("exit", d:wait("\(n)"))
        assert(d:remove("\(n)"))
        print("gone", d:inspect("\(n)"))
        """)
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        for want in ["label\ttrue", "paused\tpaused", "unpaused\trunning", "limits\t67108864\t500000000\t50",
                     "exec\t7\tout\n\terr\n", "exec2\t1\ttrue", "top\ttrue\ttrue", "restarted\ttrue\ttrue",
                     "after TERM\ttrue", "exit\t137", "gone\tnil"] {
            XCTAssertTrue(r.stdout.contains(want), "missing \(want.debugDescription) in\n\(r.stdout)")
        }
    }

    func testStopThatTimesOutEscalatesToKill() {
        let n = name("stubborn"), polite = name("polite")
        // PID 1 ignores SIGTERM unless it handles it: this one never exits on TERM
        runDetached(n, ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"])
        runDetached(polite, ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"])
        let r = lua("""
        local t0 = opsh.version and require("opsh.time").monotonic()
        assert(d:stop("\(n)", {timeout = 1}))
        local s = d:inspect("\(n)").State
        print("stubborn", s.Running, s.ExitCode)
        assert(d:stop("\(polite)", {timeout = 10}))
        local p = d:inspect("\(polite)").State
        print("polite", p.Running, p.ExitCode)
        print("again", d:stop("\(n)", {timeout = 1}))   -- already stopped: fine
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("stubborn\tfalse\t137"), r.stdout)   // SIGKILL after the timeout
        XCTAssertTrue(r.stdout.contains("polite\tfalse\t0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("again\ttrue"), r.stdout)
    }

    func testContainerThatExitsAtOnce() {
        let n = name("quick")
        let r = lua("""
        assert(d:create{name = "\(n)", Image = "\(DockerEngine.image)", Cmd = {"sh", "-c", "echo bye; echo oops >&2; exit 3"}})
        assert(d:start("\(n)"))
        print("code", d:wait("\(n)"))
        local s = d:inspect("\(n)").State
        print("state", s.Status, s.Running, s.ExitCode)
        for line, stream in d:logs("\(n)") do print("log", stream, line) end
        local st, errs = d:stats({"\(n)"})
        print("stats", #st, st[1] and st[1].cpu_percent)
        local e, err = d:exec("\(n)", "true")
        print("exec", e, err.code, err.status)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("code\t3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("state\texited\tfalse\t3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("log\tstdout\tbye\nlog\tstderr\toops\n") || r.stdout.contains("log\tstderr\toops\nlog\tstdout\tbye\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("stats\t1\t0.0"), r.stdout)   // a stopped container has a zero sample
        XCTAssertTrue(r.stdout.contains("exec\tnil\tconflict\t409"), r.stdout)
    }

    func testTTYAndNonTTYLogs() {
        let tty = name("tty"), plain = name("plain")
        let script = "for i in 1 2 3 4 5; do echo line $i; echo ERROR number $i >&2; done"
        let r1 = DockerEngine.docker(["run", "--name", tty, "-t", DockerEngine.image, "sh", "-c", script])
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let r2 = DockerEngine.docker(["run", "--name", plain, DockerEngine.image, "sh", "-c", script])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let r = lua("""
        local function dump(tag, it)
          local out = {}
          for line, stream in it do out[#out + 1] = stream .. ":" .. line end
          print(tag, table.concat(out, "|"))
        end
        dump("tty", d:logs("\(tty)"))
        dump("plain", d:logs("\(plain)", {stdout = false}))
        dump("match", d:logs("\(plain)", {match = "error", ignore_case = true, tail = 4}))
        dump("case", d:logs("\(plain)", {match = "error"}))
        dump("max", d:logs("\(plain)", {max_lines = 2, stderr = false}))
        local n = 0
        for line in d:logs("\(plain)", {timestamps = true, since = "1h", ["until"] = os.time() + 60}) do
          if line:match("^%d%d%d%d%-%d%d%-%d%dT") then n = n + 1 end
        end
        print("timestamps", n)
        local none = 0
        for _ in d:logs("\(plain)", {since = os.time() + 3600}) do none = none + 1 end
        print("future", none)
        -- a TTY container read as frames is an error that says so
        local ok, err = pcall(function() for l in d:logs("\(tty)", {tty = false, source = "api"}) do end end)
        print("wrong", ok, err.code)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("tty\tstdout:line 1|stdout:ERROR number 1|stdout:line 2"), r.stdout)
        XCTAssertFalse(r.stdout.contains("\r"), "a TTY's \\r\\n must not leak into lines")
        XCTAssertTrue(r.stdout.contains("plain\tstderr:ERROR number 1|stderr:ERROR number 2|stderr:ERROR number 3|stderr:ERROR number 4|stderr:ERROR number 5\n"), r.stdout)
        // tail is the engine's (the CLI's `--tail 4` keeps the same lines); the match is opsh's. Which
        // four entries are last depends on how the engine's two copiers interleaved stdout and stderr
        let cli = DockerEngine.docker(["logs", "--tail", "4", plain])
        let cliErrors = cli.stderr.split(separator: "\n").filter { $0.lowercased().contains("error") }.map { "stderr:" + $0 }
        XCTAssertTrue(r.stdout.contains("match\t" + cliErrors.joined(separator: "|") + "\n"), r.stdout + "\nCLI: \(cliErrors)")
        XCTAssertTrue(r.stdout.contains("case\t\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("max\tstdout:line 1|stdout:line 2\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("timestamps\t10"), r.stdout)
        XCTAssertTrue(r.stdout.contains("future\t0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("wrong\tfalse\tstream"), r.stdout)
    }

    /// A proxy in front of the real engine that cuts the logs response in the middle of a frame.
    func testLogStreamCutMidFrame() throws {
        let n = name("cut")
        XCTAssertEqual(DockerEngine.docker(["run", "--name", n, DockerEngine.image, "sh", "-c", "echo first line; echo second line; echo third line"]).status, 0)
        let dir = Harness.tempDir("cutproxy")
        let sock = dir.appendingPathComponent("cut.sock").path
        let proxy = Harness.write(#"""
        import http.client, socket, sys, os
        class U(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX); self.sock.connect("/var/run/docker.sock")
        srv = socket.socket(socket.AF_UNIX); srv.bind(sys.argv[1]); srv.listen(8)
        print("ready", flush=True)
        while True:
            c, _ = srv.accept()
            req = b""
            while b"\r\n\r\n" not in req: req += c.recv(65536)
            line = req.split(b"\r\n")[0].decode().split(" ")
            u = U("localhost"); u.request(line[0], line[1]); r = u.getresponse(); body = r.read()
            if "/logs" in line[1]:
                body = body[:8 + 11 + 8 + 5]   # the first frame whole, the second cut after 5 of its bytes
            # no Api-Version header: the client must ask /version
            head = "HTTP/1.1 %d X\r\nContent-Type: %s\r\nConnection: close\r\n\r\n" % (r.status, r.getheader("Content-Type") or "application/json")
            c.sendall(head.encode() + body); c.close()
        """#, to: "proxy.py", in: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", proxy, sock]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        XCTAssertTrue(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("ready"))
        let r = lua("""
        local c = assert(docker.connect{host = "unix://\(sock)"})
        local got = {}
        local ok, err = pcall(function() for line in c:logs("\(n)", {source = "api"}) do got[#got + 1] = line end end)
        print("lines", table.concat(got, "|"))
        print("err", ok, err.code, err.message)
        print("negotiated", c.api_version, c.api_version_server)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("lines\tfirst line|secon\n"), r.stdout)   // what arrived, then the failure
        XCTAssertTrue(r.stdout.contains("negotiated\t1.41\t1.41"), "without the header, /version gives the version: \(r.stdout)")
        XCTAssertTrue(r.stdout.contains("err\tfalse\tstream\tdocker GET /v1.41/containers/\(n)/logs?stderr=1&stdout=1: the log stream was cut inside a frame (5 of 12 payload bytes)"), r.stdout)
    }

    func testFollowIsBoundedAndEvents() {
        let n = name("follow")
        runDetached(n, ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"])
        let ev = name("events")
        let r = lua("""
        local n = 0
        for line in d:logs("\(n)", {follow = true, duration = 1.5}) do n = n + 1 end
        print("follow", n > 3 and n < 40)
        local it, s = d:logs("\(n)", {follow = true, max_lines = 3})
        local got = {}
        for line in it do got[#got + 1] = line end
        print("max", #got)
        -- events: a container started while we listen
        local seen = {}
        local t = opsh.spawn(function()
          for e in d:events{duration = 4, filters = {type = {"container"}, container = {"\(ev)"}}} do
            seen[#seen + 1] = e.Action or e.status
            if e.Action == "die" then break end
          end
        end)
        opsh.sleep(0.5)
        local c = assert(d:create{name = "\(ev)", Image = "\(DockerEngine.image)", Cmd = {"true"}})
        assert(d:start("\(ev)"))
        t:wait()
        print("events", table.concat(seen, ","))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("follow\ttrue"), r.stdout)
        XCTAssertTrue(r.stdout.contains("max\t3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("events\tcreate,start,die") || r.stdout.contains("events\tcreate,start,") , r.stdout)
    }

    func testStatsOfABusyContainer() {
        let busy = name("busy"), idle = name("idle")
        runDetached(busy, ["sh", "-c", "while :; do :; done"])
        runDetached(idle, ["sleep", "300"])
        let r = lua("""
        local st, errs = d:stats({"\(busy)", "\(idle)", "nope-\(getpid())"})
        for _, s in ipairs(st) do print(s.name, string.format("%.1f", s.cpu_percent), s.memory_used > 0, s.memory_limit > 0, s.memory_percent < 100, s.pids) end
        print("err", errs["nope-\(getpid())"].code)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.count, 3, r.stdout)
        guard lines.count == 3 else { return }
        XCTAssertEqual(lines[0][0], busy)
        XCTAssertGreaterThan(Double(lines[0][1]) ?? 0, 20, "a container burning a core: \(r.stdout)")
        XCTAssertEqual(Array(lines[0][2...4]), ["true", "true", "true"])
        XCTAssertEqual(lines[1][0], idle)
        XCTAssertLessThan(Double(lines[1][1]) ?? 100, 5)
        XCTAssertEqual(lines[2], ["err", "not_found"])
    }

    func testVolumesArchivesWithoutRunningAnything() {
        let vol = "opsh-test-\(getpid())-vol"
        volumes.append(vol)
        let writer = name("writer"), reader = name("reader")
        XCTAssertEqual(DockerEngine.docker(["run", "--name", writer, "-v", "\(vol):/data", DockerEngine.image, "sh", "-c", "echo precious > /data/file.txt"]).status, 0)
        let dir = Harness.tempDir("archive")
        let tarPath = dir.appendingPathComponent("data.tar").path
        // a tar with one file to put back in
        let src = dir.appendingPathComponent("src")
        try? FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try? "restored\n".write(to: src.appendingPathComponent("new.txt"), atomically: true, encoding: .utf8)
        XCTAssertEqual(Shell.run(["tar", "-C", src.path, "-cf", dir.appendingPathComponent("in.tar").path, "new.txt"]).status, 0)
        let r = lua("""
        local vols = assert(d:volumes())
        local found = false
        for _, v in ipairs(vols) do if v.Name == "\(vol)" then found = true end end
        print("listed", found, assert(d:volume("\(vol)")).Driver)
        -- created, never started: it serves the volume's files
        assert(d:create{name = "\(reader)", Image = "\(DockerEngine.image)", Cmd = {"true"}, HostConfig = {Binds = {"\(vol):/data"}}})
        local a = assert(d:get_archive("\(reader)", "/data", "\(tarPath)"))
        print("archive", a.bytes > 0, #a.sha256)
        assert(d:put_archive("\(reader)", "/data", "\(dir.path)/in.tar"))
        print("state", d:inspect("\(reader)").State.Status)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("listed\ttrue\tlocal"), r.stdout)
        XCTAssertTrue(r.stdout.contains("archive\ttrue\t64"), r.stdout)
        XCTAssertTrue(r.stdout.contains("state\tcreated"), r.stdout)   // nothing ran
        let list = Shell.run(["tar", "-tf", tarPath])
        XCTAssertTrue(list.stdout.contains("data/file.txt"), list.stdout)
        let check = DockerEngine.docker(["run", "--rm", "-v", "\(vol):/data", DockerEngine.image, "cat", "/data/new.txt", "/data/file.txt"])
        XCTAssertEqual(check.stdout, "restored\nprecious\n")
    }

    func testPruneRemovesOnlyWhatOpshCreatedAndNeverVolumes() {
        let ours = name("ours"), theirs = name("theirs"), running = name("ours-running")
        let vol = "opsh-test-\(getpid())-keep"
        volumes.append(vol)
        XCTAssertEqual(DockerEngine.docker(["volume", "create", vol]).status, 0)
        XCTAssertEqual(DockerEngine.docker(["create", "--name", theirs, "--label", "opsh.test=\(getpid())", "-v", "\(vol):/data", DockerEngine.image, "true"]).status, 0)
        let r = lua("""
        -- scoped to this test's label: other test runs may share the engine
        assert(d:create{name = "\(ours)", Image = "\(DockerEngine.image)", Cmd = {"true"}, Labels = {["opsh.test"] = "\(getpid())"}})
        assert(d:create{name = "\(running)", Image = "\(DockerEngine.image)", Cmd = {"sleep", "300"}, Labels = {["opsh.test"] = "\(getpid())"}})
        assert(d:start("\(running)"))
        local p = assert(d:prune_containers{label = "opsh.test=\(getpid())"})
        print("removed", #p.removed)
        print("images", type(assert(d:prune_images()).space))
        print("no volume prune", docker.prune_volumes == nil)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("no volume prune\ttrue"), r.stdout)
        XCTAssertFalse(DockerEngine.exists(ours), "opsh's own stopped container is pruned")
        XCTAssertTrue(DockerEngine.exists(theirs), "a stopped container opsh did not create must survive")
        XCTAssertTrue(DockerEngine.exists(running), "a running container is never pruned")
        XCTAssertEqual(DockerEngine.docker(["volume", "inspect", vol]).status, 0, "volumes are never pruned")
    }

    func testDryRunChangesNothing() {
        let n = name("dry")
        runDetached(n, ["sleep", "300"])
        let r = lua("""
        local s = assert(d:stop("\(n)"))
        print("stop", s.dry_run, s.would)
        print("create", assert(d:create{name = "x-\(n)", Image = "i"}).dry_run)
        print("prune", assert(d:prune_containers()).dry_run)
        print("read", #assert(d:containers{name = "\(n)"}))
        """, flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("stop\ttrue\tstop \(n)"), r.stdout)
        XCTAssertTrue(r.stderr.contains("would: docker stop \(n)"), r.stderr)
        XCTAssertTrue(r.stdout.contains("create\ttrue") && r.stdout.contains("prune\ttrue") && r.stdout.contains("read\t1"), r.stdout)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.Running}}", n]).stdout, "true\n")
        XCTAssertFalse(DockerEngine.exists("x-\(n)"))
    }

    func testScaleServiceUpAndDownKeepsTheOriginal() {
        let base = name("svc")
        let project = "opshtest\(getpid())"
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", base, "--label", "com.docker.compose.project=\(project)",
                                            "--label", "com.docker.compose.service=worker", "--label", "com.docker.compose.container-number=1",
                                            "--memory", "64m", DockerEngine.image, "sleep", "300"]).status, 0)
        containers += ["\(base)-2", "\(base)-3"]
        let r = lua("""
        local up = assert(d:scale_service("worker", 3, {project = "\(project)"}))
        print("up", up.before, up.after, table.concat(up.started, ","))
        print("copy", d:inspect("\(base)-3").HostConfig.Memory, d:inspect("\(base)-3").Config.Labels["com.docker.compose.service"])
        local svc = assert(d:services("\(project)"))
        print("services", #svc.worker)
        local r = assert(d:restart_service("worker", {project = "\(project)", timeout = 1}))
        print("restart", r["\(base)"], r["\(base)-2"])
        local down = assert(d:scale_service("worker", 0, {project = "\(project)", timeout = 1}))
        print("down", down.after, table.concat(down.removed, ","), down.note)
        """)
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        XCTAssertTrue(r.stdout.contains("up\t1\t3\t\(base)-2,\(base)-3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("copy\t67108864\tworker"), r.stdout)
        XCTAssertTrue(r.stdout.contains("services\t3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("restart\ttrue\ttrue"), r.stdout)
        XCTAssertTrue(r.stdout.contains("down\t1\t\(base)-3,\(base)-2\t1 more running container(s) were not created by opsh"), r.stdout)
        XCTAssertTrue(DockerEngine.exists(base))
        XCTAssertFalse(DockerEngine.exists("\(base)-2"))
    }
}

/// The native json-file reader gives exactly what the engine's /logs gives.
final class JSONFileLogTests: XCTestCase {
    var containers: [String] = []
    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers) }

    func compare(_ n: String, _ optionSets: [String]) {
        var body = "local docker = require 'opsh.docker'\nlocal d = assert(docker.connect())\n"
        body += "local function dump(opts, source)\n  opts.source = source\n  local out = {}\n  local it, s = d:logs('\(n)', opts)\n"
        body += "  for line, stream in it do out[#out + 1] = stream .. ':' .. line end\n  return table.concat(out, '\\n'), s:counts().source, #out\nend\n"
        for (i, o) in optionSets.enumerated() {
            body += "do local a, sa, na = dump(\(o), 'api'); local f, sf, nf = dump(\(o), nil)\n"
            body += "  print(\(i), sa, sf, na, a == f)\n  if a ~= f then io.stderr:write('API:\\n', a, '\\nFILE:\\n', f, '\\n') end end\n"
        }
        let r = Harness.run([Harness.write(body, to: "cmp.lua")], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, optionSets.count, r.stdout)
        for l in lines {
            let f = l.split(separator: "\t").map(String.init)
            XCTAssertEqual(f[1], "api")
            XCTAssertEqual(f[2], "file", "the local json-file log is read natively: \(l)")
            XCTAssertEqual(f[4], "true", "API and file differ for option set \(f[0]) (\(optionSets[Int(f[0])!])): \(r.stderr.prefix(2000))")
        }
        XCTAssertTrue(lines.contains { Int($0.split(separator: "\t")[3])! > 0 }, "something was compared: \(r.stdout)")
    }

    func testSameLinesAsTheAPI() {
        let n = DockerEngine.name("jsonfile")
        containers.append(n)
        // interleaved streams, a 40 KiB line (the engine splits it into 16 KiB entries), a line without
        // a final newline, unicode and characters JSON escapes, and lines a second apart for since/until
        let script = #"""
        i=0; while [ $i -lt 200 ]; do echo "out $i <tag> & \"quoted\" é"; echo "ERROR err $i" >&2; i=$((i+1)); done
        head -c 40000 /dev/zero | tr '\0' 'x'; echo " long ERROR end"
        sleep 1.1; echo "late error line"; sleep 1.1; printf "no newline at the end"
        """#
        XCTAssertEqual(DockerEngine.docker(["run", "--name", n, DockerEngine.image, "sh", "-c", script]).status, 0)
        let started = DockerEngine.docker(["inspect", "-f", "{{.State.StartedAt}}", n]).stdout
        XCTAssertFalse(started.isEmpty)
        compare(n, ["{}", "{match = 'error', ignore_case = true}", "{match = 'ERROR'}", "{stdout = false}", "{stderr = false, match = {'quoted', 'long'}}",
                    "{match = '<tag>'}", "{since = os.time() - 1}", "{['until'] = os.time() - 2, match = 'err'}", "{max_lines = 7}"])
    }

    func testRotatedLogsAndTTY() {
        let rot = DockerEngine.name("rotated"), tty = DockerEngine.name("ttyjson")
        containers += [rot, tty]
        XCTAssertEqual(DockerEngine.docker(["run", "--name", rot, "--log-opt", "max-size=4k", "--log-opt", "max-file=4", DockerEngine.image,
                                            "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; [ $((i % 7)) = 0 ] && echo ERROR $i >&2; i=$((i+1)); done"]).status, 0)
        let logPath = DockerEngine.docker(["inspect", "-f", "{{.LogPath}}", rot]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(FileManager.default.fileExists(atPath: logPath + ".1"), "the log rotated")
        compare(rot, ["{}", "{match = 'error', ignore_case = true}"])
        XCTAssertEqual(DockerEngine.docker(["run", "-t", "--name", tty, DockerEngine.image, "sh", "-c", "echo one; echo ERROR two >&2; echo three"]).status, 0)
        compare(tty, ["{}", "{match = 'error', ignore_case = true}"])
    }
}

/// A reader slower than the engine: the kept lines fill the bounded queue, the transfer pauses
/// (CURL_WRITEFUNC_PAUSE) and resumes when the queue drains, and no line is lost or reordered.
final class BackpressureTests: XCTestCase {
    var containers: [String] = []
    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers) }

    func testPausedTransferResumesWithoutLosingLines() {
        let n = DockerEngine.name("many")
        containers.append(n)
        XCTAssertEqual(DockerEngine.docker(["run", "--name", n, DockerEngine.image, "awk",
                                            "BEGIN{for(i=1;i<=20000;i++){ printf \"line %d %s\\n\", i, (i % 10 == 0 ? \"ERROR\" : \"ok\") }}"]).status, 0)
        let r = Harness.run([Harness.write("""
        local docker = require 'opsh.docker'
        local opsh = require 'opsh'
        local d = assert(docker.connect())
        local function check(opts, every)
          local expect, got, bad = every, 0, 0
          local k = 0
          for line in d:logs('\(n)', opts) do
            k = k + 1
            if k % 500 == 0 then opsh.sleep(0.001) end   -- a slow reader: the queue fills
            local i = tonumber(line:match('^line (%d+)'))
            if i ~= expect then bad = bad + 1 end
            expect = i + every
            got = got + 1
          end
          print(got, bad)
        end
        check({source = 'api', max_queued = 512}, 1)
        check({source = 'api', max_queued = 512, match = 'error', ignore_case = true}, 10)
        """, to: "bp.lua")], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "20000\t0\n2000\t0\n")
    }
}
