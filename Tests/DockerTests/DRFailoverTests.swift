import Foundation
import OpshTestSupport
import XCTest

/// dr/failover on the real engine with real redis-servers: a primary and a backup Redis side by
/// side, the application's "api" container (REDIS_URL in its environment) recreated onto the
/// backup and back, another compose project's "api" container never touched, and a target that
/// fails its check changing nothing at all.
final class DRFailoverTests: XCTestCase {
    var containers: [String] = []
    let project = "opshdrfo\(getpid())"
    let foreignProject = "opshdrother\(getpid())"

    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers) }

    /// A service container of `project`, as docker-compose labels it, with REDIS_URL set.
    func app(_ project: String, _ service: String, redisURL: String) -> String {
        let n = DockerEngine.name(service)
        containers.append(n)
        let r = DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(project)",
                                     "--label", "com.docker.compose.service=\(service)", "-e", "REDIS_URL=\(redisURL)", "-e", "APP_MODE=prod",
                                     DockerEngine.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return n
    }

    /// The stack's directory: its .env (mode 0640, a comment and another variable) and opsh's config.lua.
    func stack(primary: String, backup: String) -> (dir: URL, env: String, config: String) {
        let dir = Harness.tempDir("drstack")
        let env = Harness.write("# the stack's environment\nREDIS_URL=\(primary)\nOTHER=kept as is\n", to: ".env", in: dir)
        XCTAssertEqual(Shell.run(["chmod", "640", env]).status, 0)
        let config = Harness.write("""
        return { compose_project = "\(project)", state_dir = "\(dir.path)/state",
          failover = { env_file = "\(env)", cache = { backup_url = "\(backup)" } } }
        """, to: "config.lua", in: dir)
        return (dir, env, config)
    }

    func run(_ config: String, _ args: [String], primary: String, dry: Bool = false) -> Run {
        Harness.run(["--config", config] + (dry ? ["--dry-run"] : []) + ["run", "dr/failover"] + args,
                    env: ["REDIS_URL": primary, "DOCKER_HOST": "unix://" + DockerEngine.socket], timeout: 180)
    }

    func opshRedisURL(_ config: String, primary: String) -> String {
        Harness.run(["--config", config, "-e", "print(require('opsh.config').get('redis_url'))"], env: ["REDIS_URL": primary])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testCacheFailsOverToTheBackupRedisAndBack() throws {
        let primary = try RedisServer(), backup = try RedisServer()
        defer { primary.stop(); backup.stop() }
        let s = stack(primary: primary.url, backup: backup.url)
        let envBefore = try String(contentsOfFile: s.env, encoding: .utf8)
        let api = app(project, "api", redisURL: primary.url)
        let foreign = app(foreignProject, "api", redisURL: primary.url)
        let foreignID = DockerEngine.inspect(foreign, "{{.Id}}"), foreignStarted = DockerEngine.inspect(foreign, "{{.State.StartedAt}}")
        let apiID = DockerEngine.inspect(api, "{{.Id}}")

        // the plan: nothing changes
        var r = run(s.config, ["--what", "cache"], primary: primary.url, dry: true)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("would recreate \(api) with REDIS_URL=\(backup.url)"), r.stdout)
        XCTAssertFalse(r.stdout.contains(foreign), r.stdout)
        XCTAssertEqual(try String(contentsOfFile: s.env, encoding: .utf8), envBefore)
        XCTAssertEqual(DockerEngine.inspect(api, "{{.Id}}"), apiID)
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.dir.path + "/state/failover.json"))

        // the failover
        r = run(s.config, ["--what", "cache"], primary: primary.url)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("answers and takes writes"), r.stdout)
        XCTAssertNotEqual(DockerEngine.inspect(api, "{{.Id}}"), apiID, "recreated: a restart would not re-read the environment")
        XCTAssertTrue(DockerEngine.environment(api).contains("REDIS_URL=\(backup.url)"), "\(DockerEngine.environment(api))")
        XCTAssertTrue(DockerEngine.environment(api).contains("APP_MODE=prod"), "the rest of its environment is kept")
        XCTAssertEqual(DockerEngine.inspect(api, "{{.State.Running}} {{index .Config.Labels \"com.docker.compose.project\"}}"), "true \(project)")
        XCTAssertEqual(try String(contentsOfFile: s.env, encoding: .utf8),
                       "# the stack's environment\nREDIS_URL=\(backup.url)\nOTHER=kept as is\n")
        XCTAssertEqual(Shell.run(["stat", "-c", "%a", s.env]).stdout, "640\n", "the file keeps its mode")
        let kept = try FileManager.default.contentsOfDirectory(atPath: s.dir.path).filter { $0.hasPrefix(".env.before-failover-") }
        XCTAssertEqual(kept.count, 1, "\(kept)")
        XCTAssertEqual(try String(contentsOfFile: s.dir.path + "/" + kept[0], encoding: .utf8), envBefore, "the old file is kept")
        XCTAssertEqual(try String(contentsOfFile: s.dir.path + "/state/failover.env", encoding: .utf8), "redis_url=\(backup.url)\n")
        XCTAssertEqual(opshRedisURL(s.config, primary: primary.url), backup.url, "opsh follows the failover")
        XCTAssertEqual(Shell.run(["redis-cli", "-p", "\(backup.port)", "--scan", "--pattern", "opsh:failover:*"]).stdout, "", "the probe key is gone")
        XCTAssertEqual(DockerEngine.inspect(foreign, "{{.Id}} {{.State.StartedAt}}"), "\(foreignID) \(foreignStarted)", "another project's api is untouched")
        XCTAssertTrue(DockerEngine.environment(foreign).contains("REDIS_URL=\(primary.url)"))

        // a second failover while one is in force is refused
        r = run(s.config, ["--what", "cache", "--to", primary.url + "/1"], primary: primary.url)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("already in force"), r.stdout)

        // and back
        r = run(s.config, ["--what", "cache", "--back"], primary: primary.url)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(DockerEngine.environment(api).contains("REDIS_URL=\(primary.url)"), "\(DockerEngine.environment(api))")
        XCTAssertEqual(try String(contentsOfFile: s.env, encoding: .utf8), envBefore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.dir.path + "/state/failover.env"), "no failover in force")
        XCTAssertEqual(opshRedisURL(s.config, primary: primary.url), primary.url)
        XCTAssertEqual(DockerEngine.inspect(foreign, "{{.Id}} {{.State.StartedAt}}"), "\(foreignID) \(foreignStarted)")
        let left = DockerEngine.docker(["ps", "-a", "--filter", "label=com.docker.compose.project=\(project)", "--format", "{{.Names}}"]).stdout
        XCTAssertEqual(left, api + "\n", "no replaced container is left behind")
    }

    func testATargetThatFailsItsCheckChangesNothing() throws {
        let primary = try RedisServer()
        // a replica answers PING but refuses writes: not a cache to fail over to
        let replica = try RedisServer(extraArguments: ["--replicaof", "127.0.0.1", "\(primary.port)"])
        defer { replica.stop(); primary.stop() }
        let dead = "redis://127.0.0.1:\(RedisServer.freePort())"
        let s = stack(primary: primary.url, backup: dead)
        let envBefore = try String(contentsOfFile: s.env, encoding: .utf8)
        let api = app(project, "api", redisURL: primary.url)
        let apiID = DockerEngine.inspect(api, "{{.Id}}")
        for (args, expect) in [(["--what", "cache"], "does not answer"), (["--what", "cache", "--to", replica.url], "refuses a write")] {
            let r = run(s.config, args, primary: primary.url)
            XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains(expect), r.stdout)
            XCTAssertTrue(r.stdout.contains("not switched: the target failed its check; nothing was changed"), r.stdout)
            XCTAssertEqual(try String(contentsOfFile: s.env, encoding: .utf8), envBefore)
            XCTAssertEqual(DockerEngine.inspect(api, "{{.Id}}"), apiID)
            XCTAssertTrue(DockerEngine.environment(api).contains("REDIS_URL=\(primary.url)"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: s.dir.path + "/state/failover.json"))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.dir.path).filter { $0.hasPrefix(".env.") }, [])
        }
        // nothing to go back from
        let r = run(s.config, ["--what", "cache", "--back"], primary: primary.url)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("no cache failover is in force"), r.stdout)
    }

    /// The vector database to the secondary Qdrant (two stand-ins): refused while the secondary
    /// lacks a collection the primary holds, switched once it has it, and back.
    func testVectorDatabaseFailsOverOnlyToASecondaryWithThePrimarysCollections() throws {
        guard QdrantStandin.available else { throw XCTSkip("the Qdrant stand-in needs qdrant-edge-py (scripts/setup installs it)") }
        let primary = try QdrantStandin(), secondary = try QdrantStandin()
        defer { primary.stop(); secondary.stop() }
        XCTAssertEqual(primary.seed("docs", points: 20).status, 0)
        let dir = Harness.tempDir("drvec")
        let envFile = Harness.write("QDRANT_URL=\(primary.url)\n", to: ".env", in: dir)
        let config = Harness.write("""
        return { compose_project = "\(project)", state_dir = "\(dir.path)/state",
          failover = { env_file = "\(envFile)", vector_db = { secondary_url = "\(secondary.url)" } } }
        """, to: "config.lua", in: dir)
        let n = DockerEngine.name("api")
        containers.append(n)
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(project)",
                                            "--label", "com.docker.compose.service=api", "-e", "QDRANT_URL=\(primary.url)",
                                            DockerEngine.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]).status, 0)
        func failover(_ args: [String]) -> Run {
            Harness.run(["--config", config, "run", "dr/failover", "--what", "vector_db"] + args,
                        env: ["QDRANT_URL": primary.url, "DOCKER_HOST": "unix://" + DockerEngine.socket], timeout: 180)
        }
        var r = failover([])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("lacks collection(s) docs"), r.stdout)
        XCTAssertEqual(try String(contentsOfFile: envFile, encoding: .utf8), "QDRANT_URL=\(primary.url)\n")
        XCTAssertTrue(DockerEngine.environment(n).contains("QDRANT_URL=\(primary.url)"))

        XCTAssertEqual(secondary.seed("docs", points: 20).status, 0)
        r = failover([])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("is ready with every collection of the primary"), r.stdout)
        XCTAssertTrue(DockerEngine.environment(n).contains("QDRANT_URL=\(secondary.url)"), "\(DockerEngine.environment(n))")
        XCTAssertEqual(try String(contentsOfFile: envFile, encoding: .utf8), "QDRANT_URL=\(secondary.url)\n")
        XCTAssertEqual(try String(contentsOfFile: dir.path + "/state/failover.env", encoding: .utf8), "qdrant_url=\(secondary.url)\n")

        r = failover(["--back"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(DockerEngine.environment(n).contains("QDRANT_URL=\(primary.url)"), "\(DockerEngine.environment(n))")
        XCTAssertEqual(try String(contentsOfFile: envFile, encoding: .utf8), "QDRANT_URL=\(primary.url)\n")
    }
}
