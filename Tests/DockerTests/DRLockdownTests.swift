import Foundation
import OpshTestSupport
import XCTest

/// dr/lockdown in a realistic neighbourhood: users in a real redis-server beside unrelated keys,
/// the compose project's api, qdrant and nginx containers beside another project's nginx, the
/// stack's .env, and a recording webhook. Every key rotated (the new ones only in one 0600 file),
/// every user but the break-glass admin disabled, a new Qdrant key in the .env and in the
/// recreated containers, the project's ingress stopped, the evidence archived, a P1 sent; and
/// nothing else touched.
final class DRLockdownTests: XCTestCase {
    var containers: [String] = []
    let project = "opshdrlock\(getpid())"
    let oldQdrantKey = "old-qdrant-key-\(getpid())"

    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers) }

    func container(_ project: String, _ service: String, env: [String] = []) -> String {
        let n = DockerEngine.name(service)
        containers.append(n)
        let r = DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(project)",
                                     "--label", "com.docker.compose.service=\(service)"] + env.flatMap { ["-e", $0] }
                                    + [DockerEngine.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return n
    }

    func redis(_ port: Int, _ args: [String]) -> String {
        Shell.run(["redis-cli", "-p", "\(port)"] + args).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Stack {
        let dir: URL, config: String, envFile: String, environment: [String: String]
    }

    func stack(redis: RedisServer, webhook: String) -> Stack {
        let dir = Harness.tempDir("drlock")
        let envFile = Harness.write("# the stack\nQDRANT__SERVICE__API_KEY=\(oldQdrantKey)\nQDRANT_API_KEY=\(oldQdrantKey)\nREDIS_URL=\(redis.url)\n",
                                    to: ".env", in: dir)
        XCTAssertEqual(Shell.run(["chmod", "600", envFile]).status, 0)
        let config = Harness.write("""
        return { compose_project = "\(project)", state_dir = "\(dir.path)/state",
          lockdown = { break_glass = "root", ingress = { "nginx" }, env_file = "\(envFile)", services = { "api" } } }
        """, to: "config.lua", in: dir)
        // a Qdrant nobody answers on: the report must say the new key is not enforced there yet
        let environment = ["REDIS_URL": redis.url, "QDRANT_URL": "http://127.0.0.1:\(RedisServer.freePort())",
                           "SLACK_WEBHOOK_URL": webhook, "DOCKER_HOST": "unix://" + DockerEngine.socket]
        return Stack(dir: dir, config: config, envFile: envFile, environment: environment)
    }

    /// users/create as an operator runs it; returns the user's key.
    func user(_ s: Stack, _ name: String, _ role: String) -> String {
        let path = s.dir.appendingPathComponent("\(name).key").path
        let r = Harness.run(["--config", s.config, "run", "users/create", "--name", name, "--role", role, "--key-file", path], env: s.environment)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        return (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    func verifies(_ s: Stack, _ key: String) -> Bool {
        Harness.run(["--config", s.config, "run", "users/verify-key"], stdin: key + "\n", env: s.environment).status == 0
    }

    func testLockdownRotatesDisablesRekeysStopsIngressAndTouchesNothingElse() throws {
        let r0 = try RedisServer()
        defer { r0.stop() }
        let hook = try HTTPTestServer()
        defer { hook.stop() }
        let s = stack(redis: r0, webhook: hook.url + "/record/slack")
        let old = ["root": user(s, "root", "admin"), "alice": user(s, "alice", "operator"), "bob": user(s, "bob", "viewer")]
        // unrelated keys, some with names close to the users' layout
        _ = redis(r0.port, ["SET", "cache:page:1", "v1"])
        _ = redis(r0.port, ["HSET", "userprefs:alice", "theme", "dark"])
        _ = redis(r0.port, ["SET", "apikeys-issued", "3"])
        _ = redis(r0.port, ["HSET", "session:abc", "user", "alice"])
        let unrelated = ["cache:page:1", "userprefs:alice", "apikeys-issued", "session:abc"].map { redis(r0.port, ["DUMP", $0]) }

        let api = container(project, "api", env: ["QDRANT_API_KEY=\(oldQdrantKey)", "APP_MODE=prod"])
        let qdrant = container(project, "qdrant", env: ["QDRANT__SERVICE__API_KEY=\(oldQdrantKey)"])
        let nginx = container(project, "nginx")
        let foreignNginx = container("opshdrlockother\(getpid())", "nginx")
        let foreignState = DockerEngine.inspect(foreignNginx, "{{.Id}} {{.State.StartedAt}}")
        let envBefore = try String(contentsOfFile: s.envFile, encoding: .utf8)
        let keyFile = s.dir.appendingPathComponent("lockdown.keys").path

        // the plan changes nothing
        var r = Harness.run(["--config", s.config, "--dry-run", "run", "dr/lockdown", "--key_file", keyFile], env: s.environment, timeout: 180)
        XCTAssertTrue(r.stdout.contains("would disable 2 user(s); root stays enabled"), r.stdout + r.stderr)
        XCTAssertEqual(try String(contentsOfFile: s.envFile, encoding: .utf8), envBefore)
        XCTAssertEqual(DockerEngine.inspect(nginx, "{{.State.Running}}"), "true")
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile))
        XCTAssertTrue(old.values.allSatisfy { verifies(s, $0) })
        XCTAssertEqual(hook.received.count, 0)

        // destructive: refused without --yes when no terminal is there to ask
        r = Harness.run(["--config", s.config, "run", "dr/lockdown"], env: s.environment)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("destructive"), r.stderr)

        r = Harness.run(["--config", s.config, "--json", "--yes", "run", "dr/lockdown", "--key_file", keyFile, "--reason", "leaked key on a paste site"],
                        env: s.environment, timeout: 300)
        XCTAssertEqual(r.status, 1, "a WARNING: the Qdrant here does not enforce the key yet\n" + r.stdout + r.stderr)
        let c = r.checksByName

        // 1. every key rotated: the new ones only in the 0600 file
        let lines = try String(contentsOfFile: keyFile, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let new = Dictionary(uniqueKeysWithValues: lines.map { ($0[0], $0[1]) })
        XCTAssertEqual(Set(new.keys), ["root", "alice", "bob"])
        XCTAssertEqual(Shell.run(["stat", "-c", "%a", keyFile]).stdout, "600\n")
        for (name, key) in old {
            XCTAssertFalse(verifies(s, key), "the old key of \(name) still works")
            XCTAssertNotEqual(new[name], key)
        }
        // 2. only the break-glass admin is enabled, with its new key
        XCTAssertTrue(verifies(s, new["root"]!))
        XCTAssertFalse(verifies(s, new["alice"]!))
        XCTAssertEqual(redis(r0.port, ["HGET", "user:alice", "status"]), "disabled")
        XCTAssertEqual(redis(r0.port, ["HGET", "user:bob", "status"]), "disabled")
        XCTAssertEqual(redis(r0.port, ["HGET", "user:root", "status"]), "active")
        XCTAssertEqual(["cache:page:1", "userprefs:alice", "apikeys-issued", "session:abc"].map { redis(r0.port, ["DUMP", $0]) }, unrelated,
                       "unrelated Redis keys are untouched")

        // 3. a new Qdrant key in the .env (the old file kept) and in the recreated containers
        let envAfter = try String(contentsOfFile: s.envFile, encoding: .utf8)
        let newKey = envAfter.split(separator: "\n").first { $0.hasPrefix("QDRANT__SERVICE__API_KEY=") }.map { String($0.dropFirst(25)) } ?? ""
        XCTAssertTrue(newKey.range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil, envAfter)
        XCTAssertTrue(envAfter.contains("QDRANT_API_KEY=\(newKey)\n") && envAfter.hasPrefix("# the stack\n") && envAfter.contains("REDIS_URL=\(r0.url)\n"))
        XCTAssertEqual(Shell.run(["stat", "-c", "%a", s.envFile]).stdout, "600\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.dir.path).filter { $0.hasPrefix(".env.before-lockdown-") }.count, 1)
        XCTAssertTrue(DockerEngine.environment(qdrant).contains("QDRANT__SERVICE__API_KEY=\(newKey)"), "\(DockerEngine.environment(qdrant))")
        XCTAssertTrue(DockerEngine.environment(api).contains("QDRANT_API_KEY=\(newKey)") && DockerEngine.environment(api).contains("APP_MODE=prod"), "\(DockerEngine.environment(api))")
        XCTAssertEqual(c["lockdown.qdrant_key.enforced"]?["status"] as? String, "warning", r.stdout)

        // 4. the project's ingress stopped, another project's not
        XCTAssertEqual(DockerEngine.inspect(nginx, "{{.State.Running}}"), "false")
        XCTAssertEqual(DockerEngine.inspect(foreignNginx, "{{.Id}} {{.State.StartedAt}}"), foreignState)
        XCTAssertEqual(DockerEngine.inspect(foreignNginx, "{{.State.Running}}"), "true")

        // 5. the evidence, 6. the P1 with the same incident id
        let incident = (c["lockdown.incident"]?["message"] as? String ?? "").components(separatedBy: ":").first ?? ""
        XCTAssertTrue(incident.hasPrefix("INC-"), r.stdout)
        let archives = Shell.run(["sh", "-c", "ls \(s.dir.path)/state/diagnostics/*/*.tar.gz"]).stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(archives.count, 1, r.stdout)
        XCTAssertEqual(hook.received.count, 1)
        let body = hook.received.first?["body"] ?? ""
        XCTAssertTrue(body.contains(incident) && body.contains("CRITICAL") && body.contains("leaked key on a paste site"), body)

        // no new key anywhere but the key file and the .env: not the output, the webhook, the archive or opsh's state
        let archiveText = Shell.run(["sh", "-c", "tar -xOzf '\(archives.first ?? "/nonexistent")'"]).stdout
        let stateText = Shell.run(["sh", "-c", "find '\(s.dir.path)/state' -type f ! -name '*.tar.gz' -exec cat {} +"]).stdout
        for secret in Array(new.values) + [newKey] {
            for (what, text) in [("stdout", r.stdout), ("stderr", r.stderr), ("webhook", body), ("archive", archiveText), ("state", stateText)] {
                XCTAssertFalse(text.contains(secret), "a new key is in the \(what)")
            }
        }
    }

    func testABreakGlassUserThatIsNotAnEnabledAdminChangesNothing() throws {
        let r0 = try RedisServer()
        defer { r0.stop() }
        let s = stack(redis: r0, webhook: "http://127.0.0.1:\(RedisServer.freePort())/hook")
        let alice = user(s, "alice", "operator")
        let nginx = container(project, "nginx")
        let envBefore = try String(contentsOfFile: s.envFile, encoding: .utf8)
        for (name, why) in [("alice", "has the role operator"), ("nobody", "is not a user")] {
            let r = Harness.run(["--config", s.config, "--yes", "run", "dr/lockdown", "--break_glass", name], env: s.environment, timeout: 120)
            XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("the break-glass user \(name) \(why)") && r.stdout.contains("nothing changed"), r.stdout)
        }
        XCTAssertTrue(verifies(s, alice))
        XCTAssertEqual(redis(r0.port, ["HGET", "user:alice", "status"]), "active")
        XCTAssertEqual(try String(contentsOfFile: s.envFile, encoding: .utf8), envBefore)
        XCTAssertEqual(DockerEngine.inspect(nginx, "{{.State.Running}}"), "true")
    }
}
