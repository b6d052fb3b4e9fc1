import Foundation
import OpshTestSupport
import XCTest

/// The services/ procedures against a real stack: scripts/stack up with a project, name prefix and
/// free ports of its own (so it never touches a stack already running here), torn down at the end
/// with its volumes (they are the test's).
final class ServiceProcedureTests: XCTestCase {
    static var stack: TestStack?
    var extra: [String] = []

    struct TestStack {
        let project: String, prefix: String, redisPort: Int, qdrantPort: Int, config: String
        /// the stack's agent (the api service) listens here, not on :8000
        var agentPort = 0
        var env: [String: String] {
            ["OPSH_STACK_PROJECT": project, "OPSH_STACK_PREFIX": prefix, "REDIS_PORT": String(redisPort), "QDRANT_PORT": String(qdrantPort),
             "AGENT_PORT": String(agentPort), "OPSH_STACK_STATE": FileManager.default.temporaryDirectory.appendingPathComponent("stack-\(project)").path,
             "OPSH_STACK_BIN": Harness.binary.deletingLastPathComponent().path]
        }
        func name(_ s: String) -> String { prefix + s }
        var volumes: [String] { ["\(project)_qdrant_data", "\(project)_dragonfly_data", "\(project)_agent_data"] }
    }

    override class func tearDown() {
        if let s = stack {
            let r = stackScript(["down"], s)
            if r.status != 0 { print("stack down: \(r.stderr)") }
            DockerEngine.docker(["rm", "-f"] + DockerEngine.docker(["ps", "-aq", "--filter", "label=com.docker.compose.project=\(s.project)"]).stdout.split(separator: "\n").map(String.init))
            DockerEngine.cleanup(containers: [], volumes: s.volumes)
        }
        stack = nil
    }

    @discardableResult
    static func stackScript(_ args: [String], _ s: TestStack) -> Run {
        let env = s.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return Shell.run(env + [Harness.packageRoot.appendingPathComponent("scripts/stack").path] + args, timeout: 300)
    }

    override func setUpWithError() throws {
        try DockerEngine.require()
        if Self.stack == nil {
            let pid = getpid()
            let dir = Harness.tempDir("stackcfg")
            let redisPort = RedisServer.freePort(), qdrantPort = RedisServer.freePort()
            let cfg = Harness.write("""
            return {
              compose_project = "opshtest\(pid)",
              service_ports = { qdrant = \(qdrantPort), dragonfly = \(redisPort) },
              redis_url = "redis://127.0.0.1:\(redisPort)/0",
              qdrant_url = "http://127.0.0.1:\(qdrantPort)",
              task_queue_redis_url = "redis://127.0.0.1:\(redisPort)/1",
            }
            """, to: "config.lua", in: dir)
            var s = TestStack(project: "opshtest\(pid)", prefix: "t\(pid)-", redisPort: redisPort, qdrantPort: qdrantPort, config: cfg)
            s.agentPort = RedisServer.freePort()
            Self.stack = s
            let r = Self.stackScript(["up"], s)
            XCTAssertEqual(r.status, 0, "scripts/stack up: \(r.stdout) \(r.stderr)")
        }
    }

    override func tearDown() { DockerEngine.cleanup(containers: extra) }

    var s: TestStack { Self.stack! }

    func opsh(_ args: [String], flags: [String] = [], env: [String: String] = [:]) -> Run {
        Harness.run(["--config", s.config] + flags + ["run"] + args, env: env, timeout: 180)
    }

    func redis(_ args: [String]) -> String {
        Shell.run(["redis-cli", "-p", String(s.redisPort)] + args).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// This test process's containers and volumes (other test runs may share the engine), and
    /// the default stack's, by name.
    func inventory() -> (Set<String>, Set<String>) {
        let mine = { (n: String) in n.contains("\(getpid())") || ["qdrant", "dragonfly", "task-worker"].contains(n) || n.hasPrefix("opsh_") }
        let c = DockerEngine.docker(["ps", "-a", "--format", "{{.Names}}"]).stdout.split(separator: "\n").map(String.init).filter(mine)
        let v = DockerEngine.docker(["volume", "ls", "--format", "{{.Name}}"]).stdout.split(separator: "\n").map(String.init).filter(mine)
        return (Set(c), Set(v))
    }

    func testStatusStopStartAndRestartReallyRestartsRedis() {
        var r = opsh(["services/status"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        // as docker-compose ps: the guide's three and every other service of the project (the agent, api)
        for svc in ["qdrant", "dragonfly", "task-worker", "api"] {
            XCTAssertTrue(r.stdout.contains("service.\(svc): \(s.name(svc)): running for"), r.stdout)
        }
        XCTAssertTrue(r.stdout.contains("health healthy"), r.stdout)
        let named = opsh(["services/status", "--services", "qdrant"])
        XCTAssertTrue(named.stdout.contains("service.qdrant:") && !named.stdout.contains("service.api:"), named.stdout)
        XCTAssertTrue(r.stdout.contains("systemd: systemd does not run here") || r.stdout.contains("[UNKNOWN]"), r.stdout)

        XCTAssertEqual(redis(["set", "survivor", "yes"]), "OK")
        let runID = redis(["info", "server"]).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).first { $0.hasPrefix("run_id:") }
        r = opsh(["services/restart", "--service", "dragonfly", "--timeout", "10"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("\(s.name("dragonfly")) restarted and healthy"), r.stdout)
        let runID2 = redis(["info", "server"]).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).first { $0.hasPrefix("run_id:") }
        XCTAssertNotNil(runID)
        XCTAssertNotEqual(runID, runID2, "a restart must start a new redis-server")
        XCTAssertEqual(redis(["get", "survivor"]), "yes", "AOF on the named volume keeps the data")

        r = opsh(["services/stop", "--service", "task-worker", "--timeout", "10"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("\(s.name("task-worker")) stopped (exit code"), r.stdout)
        r = opsh(["services/status"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("[CRIT]") && r.stdout.contains("\(s.name("task-worker")): exited"), r.stdout)
        r = opsh(["services/start", "--service", "task-worker"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(opsh(["services/status"]).status, 0)
        // dry-run changes nothing
        r = opsh(["services/stop"], flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stdout.contains("would stop \(s.name("qdrant"))"), r.stdout)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.Running}}", s.name("qdrant")]).stdout, "true\n")
    }

    func testStopThatTimesOutIsReportedAsKilled() {
        let n = DockerEngine.name("stubborn")
        extra.append(n)
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(s.project)x",
                                            "--label", "com.docker.compose.service=stubborn", DockerEngine.image,
                                            "sh", "-c", "trap '' TERM; while true; do sleep 1; done"]).status, 0)
        let r = opsh(["services/stop", "--service", "stubborn", "--project", "\(s.project)x", "--timeout", "1"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("\(n) did not stop within 1 s and was killed (exit code 137)"), r.stdout)
        XCTAssertTrue(DockerEngine.exists(n), "stop removes nothing")
    }

    func testLogsErrorsAndStats() {
        let n = DockerEngine.name("noisy")
        extra.append(n)
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(s.project)n",
                                            "--label", "com.docker.compose.service=noisy", DockerEngine.image, "sh", "-c",
                                            "echo starting; echo 'ERROR: disk almost full' >&2; echo 'an Error again'; echo fine; sleep 300"]).status, 0)
        sleep(1)
        var r = opsh(["services/errors", "--services", "noisy", "--project", "\(s.project)n"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        // stdout and stderr are logged by separate copiers: their order in the log may differ from the program's
        XCTAssertTrue(r.stdout.contains("errors.\(n): 2 error line(s) in 4 line(s) since 24h; last: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("ERROR: disk almost full") && r.stdout.contains("an Error again"), r.stdout)
        r = opsh(["services/errors", "--services", "noisy", "--project", "\(s.project)n", "--case_sensitive", "--match", "ERROR"])
        XCTAssertTrue(r.stdout.contains("1 error line(s)"), r.stdout)
        r = opsh(["services/logs", "--service", "noisy", "--project", "\(s.project)n", "--tail", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\(n) | fine\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("logs.\(n): 2 line(s)"), r.stdout)
        r = opsh(["services/logs", "--service", "noisy", "--project", "\(s.project)n", "--tail", "all", "--match", "error"])
        XCTAssertTrue(r.stdout.contains("\(n) ! ERROR: disk almost full") && r.stdout.contains("logs.\(n): 2 line(s)"), r.stdout)
        r = opsh(["services/stats"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for svc in ["qdrant", "dragonfly", "task-worker"] {
            XCTAssertTrue(r.stdout.contains("stats.\(s.name(svc)): CPU "), r.stdout)
        }
        XCTAssertTrue(r.stdout.contains("/ 2.0 GiB"), "dragonfly's limit is the guide's 2G: \(r.stdout)")
    }

    func testLimitsCheckedAndApplied() {
        var r = opsh(["services/limits", "--services", "qdrant,dragonfly"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("memory 2.0 GiB, cpus 1 CPUs, memory reservation 1.0 GiB as configured"), r.stdout)
        XCTAssertEqual(DockerEngine.docker(["update", "--memory", "3g", "--memory-swap", "-1", s.name("dragonfly")]).status, 0)
        r = opsh(["services/limits", "--services", "dragonfly"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("memory 3.0 GiB, configured 2.0 GiB (--apply sets them)"), r.stdout)
        r = opsh(["services/limits", "--services", "dragonfly", "--apply"], flags: ["--dry-run"])
        XCTAssertTrue(r.stdout.contains("would set memory 3.0 GiB, configured 2.0 GiB"), r.stdout)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.HostConfig.Memory}}", s.name("dragonfly")]).stdout, "3221225472\n")
        r = opsh(["services/limits", "--services", "dragonfly", "--apply"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.HostConfig.Memory}}", s.name("dragonfly")]).stdout, "2147483648\n")
    }

    func testLogRotationAuditAndConnectivity() {
        let n = DockerEngine.name("unrotated")
        extra.append(n)
        XCTAssertEqual(DockerEngine.docker(["create", "--name", n, DockerEngine.image, "true"]).status, 0)
        var r = opsh(["services/log-rotation"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("logrotate.\(n): \(n): json-file logs without max-size grow without bound"), r.stdout)
        XCTAssertTrue(r.stdout.contains("logrotate.\(s.name("dragonfly")): \(s.name("dragonfly")): json-file, max-size 10m, max-file 3"), r.stdout)
        r = opsh(["services/connectivity"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("\(s.name("task-worker")) reaches dragonfly:\(s.redisPort)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\(s.name("dragonfly")) reaches qdrant:\(s.qdrantPort)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("port \(s.redisPort) (dragonfly) is listening"), r.stdout)
        // a port nothing listens on, and a name nothing resolves
        let closed = RedisServer.freePort()
        let cfg = Harness.write("local c = dofile('\(s.config)'); c.service_ports = { dragonfly = \(closed), nowhere = 80 }; c.services = {'task-worker', 'dragonfly', 'nowhere'}; return c", to: "config.lua")
        r = Harness.run(["--config", cfg, "run", "services/connectivity", "--project", s.project], timeout: 120)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("nothing listens on port \(closed) (dragonfly)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\(s.name("task-worker")) resolves dragonfly but cannot connect to port \(closed)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\(s.name("task-worker")) cannot resolve the name nowhere"), r.stdout)
    }

    func testIncidentsAutoscaleAndEmergencyRemoveNothingTheyDidNotCreate() {
        // a stopped container of the stack's project that opsh did not create, and one that it did
        let theirs = DockerEngine.name("stopped-service"), ours = DockerEngine.name("opsh-made")
        extra += [theirs, ours]
        XCTAssertEqual(DockerEngine.docker(["create", "--name", theirs, "--label", "com.docker.compose.project=\(s.project)", "--label", "com.docker.compose.service=batch", DockerEngine.image, "true"]).status, 0)
        let other = DockerEngine.name("opsh-made-elsewhere")   // opsh's too, but of another project: out of scope
        extra.append(other)
        XCTAssertEqual(DockerEngine.docker(["create", "--name", ours, "--label", "opsh.created=true", "--label", "com.docker.compose.project=\(s.project)", DockerEngine.image, "true"]).status, 0)
        XCTAssertEqual(DockerEngine.docker(["create", "--name", other, "--label", "opsh.created=true", "--label", "com.docker.compose.project=\(s.project)-other", DockerEngine.image, "true"]).status, 0)
        let (containersBefore, volumesBefore) = inventory()

        // disk_full: only opsh's own stopped container goes
        var r = opsh(["services/incident", "--type", "disk_full"], flags: ["--yes"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("never pruned"), r.stdout)
        XCTAssertFalse(DockerEngine.exists(ours))
        XCTAssertTrue(DockerEngine.exists(theirs))
        XCTAssertTrue(DockerEngine.exists(other), "the configured project bounds the cleanup")

        // memory_exhausted: dragonfly restarted, the cache pattern cleared, nothing else
        XCTAssertEqual(redis(["set", "cache:q1", "x"]), "OK")
        XCTAssertEqual(redis(["set", "cache:q2", "x"]), "OK")
        XCTAssertEqual(redis(["set", "keep:me", "x"]), "OK")
        r = opsh(["services/incident", "--type", "memory_exhausted", "--timeout", "10"], flags: ["--yes"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("deleted 2 keys matching cache:*"), r.stdout)
        XCTAssertEqual(redis(["exists", "keep:me"]), "1")
        // ... and refused where the database holds users
        XCTAssertEqual(redis(["set", "user:alice", "x"]), "OK")
        XCTAssertEqual(redis(["set", "cache:q3", "x"]), "OK")
        r = opsh(["services/incident", "--type", "memory_exhausted", "--timeout", "10"], flags: ["--yes"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("cache NOT cleared: this database also holds user:*"), r.stdout)
        XCTAssertEqual(redis(["exists", "cache:q3"]), "1")
        redis(["del", "user:alice", "cache:q3", "keep:me", "survivor"])

        // database_down: qdrant restarted and answering
        r = opsh(["services/incident", "--type", "database_down", "--timeout", "10"], flags: ["--yes"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("/healthz answers"), r.stdout)

        // autoscale up and down: copies come and go, the service's own container stays
        r = opsh(["services/autoscale", "--value", "95"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("scaled task-worker from 1 to 3; started \(s.name("task-worker"))-2, \(s.name("task-worker"))-3"), r.stdout)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.HostConfig.Memory}} {{index .Config.Labels \"opsh.created\"}}", s.name("task-worker") + "-2"]).stdout, "1073741824 true\n")
        sleep(2)   // let the copies' workers install their signal handlers
        r = opsh(["services/autoscale", "--value", "95"])
        XCTAssertTrue(r.stdout.contains("3 running, unchanged"), r.stdout)
        r = opsh(["services/autoscale", "--metric", "queue"])   // an empty queue: scale down
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("queue = 0.0: scaled task-worker from 3 to 1"), r.stdout)
        XCTAssertTrue(DockerEngine.exists(s.name("task-worker")))
        XCTAssertFalse(DockerEngine.exists(s.name("task-worker") + "-2"))

        // emergency restart: everything back and healthy, nothing pruned
        r = opsh(["services/emergency-restart", "--grace", "10"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for svc in ["qdrant", "dragonfly", "task-worker"] {
            XCTAssertTrue(r.stdout.contains("start.\(s.name(svc)): \(s.name(svc)) runs and is healthy"), r.stdout)
        }
        let (containersAfter, volumesAfter) = inventory()
        XCTAssertEqual(containersAfter, containersBefore.subtracting([ours]), "only opsh's own stopped container may go")
        XCTAssertEqual(volumesAfter, volumesBefore, "no volume is ever removed")
    }

    func testStackScriptStatusAndIdempotentUp() {
        var r = Self.stackScript(["status"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for svc in ["dragonfly", "qdrant", "task-worker", "api"] {
            XCTAssertTrue(r.stdout.contains("\(s.name(svc))  running"), r.stdout)
        }
        XCTAssertTrue(r.stdout.contains("\(s.name("dragonfly"))  running  health=healthy"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\(s.name("api"))  running  health=healthy"), r.stdout)
        // the agent in the api service's place: the guide's curl lines against its port
        let base = "http://localhost:\(s.agentPort)"
        let health = Shell.run(["curl", "-s", base + "/health"]).stdout
        XCTAssertTrue(health.contains("\"status\":\"ok\""), health)
        let metrics = Shell.run(["curl", "-s", base + "/metrics"]).stdout
        XCTAssertTrue(metrics.contains("db_connection_pool_size"), metrics)
        // admin endpoints need a key (access control): 401 without one
        XCTAssertEqual(Shell.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/api/admin/circuit-breaker-status"]).stdout, "401")
        // what the stack is made of, as the guide's compose file has it
        let labels = DockerEngine.docker(["inspect", "-f", "{{index .Config.Labels \"com.docker.compose.project\"}} {{index .Config.Labels \"com.docker.compose.service\"}} {{.HostConfig.NetworkMode}} {{.HostConfig.LogConfig.Config}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.MemoryReservation}} {{.HostConfig.ExtraHosts}}", s.name("qdrant")]).stdout
        XCTAssertEqual(labels, "\(s.project) qdrant host map[max-file:3 max-size:10m] 4294967296 2000000000 2147483648 [qdrant:127.0.0.1 dragonfly:127.0.0.1 task-worker:127.0.0.1]\n")
        let mounts = DockerEngine.docker(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{.Destination}}:{{.RW}} {{end}}", s.name("dragonfly")]).stdout
        XCTAssertTrue(mounts.contains("\(s.project)_dragonfly_data/data:true") && mounts.contains("/usr:false"), mounts)
        // up again changes nothing and keeps the containers
        let id = DockerEngine.docker(["inspect", "-f", "{{.Id}}", s.name("dragonfly")]).stdout
        r = Self.stackScript(["up"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.Id}}", s.name("dragonfly")]).stdout, id)
    }

    /// A second, short-lived stack: down removes the containers and keeps the data.
    func testStackDownKeepsTheVolumes() {
        let pid = getpid()
        var t = TestStack(project: "opshtest\(pid)b", prefix: "t\(pid)b-", redisPort: RedisServer.freePort(), qdrantPort: RedisServer.freePort(), config: s.config)
        t.agentPort = RedisServer.freePort()
        defer {
            DockerEngine.cleanup(containers: ["dragonfly", "qdrant", "task-worker", "api"].map(t.name), volumes: t.volumes)
        }
        var r = Self.stackScript(["up"], t)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(Shell.run(["redis-cli", "-p", String(t.redisPort), "set", "kept", "1"]).stdout, "OK\n")
        r = Self.stackScript(["down"], t)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("volumes kept: \(t.project)_qdrant_data \(t.project)_dragonfly_data \(t.project)_agent_data"), r.stdout)
        for svc in ["dragonfly", "qdrant", "task-worker", "api"] { XCTAssertFalse(DockerEngine.exists(t.name(svc)), "down removes \(svc)") }
        for v in t.volumes { XCTAssertEqual(DockerEngine.docker(["volume", "inspect", v]).status, 0, "down keeps \(v)") }
        r = Self.stackScript(["status"], t)
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("\(t.name("dragonfly"))  absent"), r.stdout)
        // up again: the data is back (AOF on the kept volume)
        r = Self.stackScript(["up"], t)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(Shell.run(["redis-cli", "-p", String(t.redisPort), "get", "kept"]).stdout, "1\n")
        Self.stackScript(["down"], t)
    }

    func testDaemonNotRunning() {
        let r = Harness.run(["--config", s.config, "run", "services/status"], env: ["DOCKER_HOST": "unix:///tmp/opsh-no-daemon.sock"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("[CRIT]           docker: the Docker daemon is not running: nothing answers at unix:///tmp/opsh-no-daemon.sock"), r.stdout)
    }
}
