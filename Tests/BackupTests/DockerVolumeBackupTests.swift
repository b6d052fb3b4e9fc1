import Foundation
import OpshTestSupport
import XCTest

/// backup/weekly and the Docker volume source on the real engine: the project's containers are
/// stopped and started again, its volumes archived through the archive API, and a volume
/// restored by staging inside it (refused while a container uses it).
final class DockerVolumeBackupTests: XCTestCase {
    var containers: [String] = []
    var volumes: [String] = []

    override func tearDown() { DockerEngine.cleanup(containers: containers, volumes: volumes) }

    func volumeListing(_ vol: String) -> String {
        DockerEngine.docker(["run", "--rm", "-v", "\(vol):/data", DockerEngine.image, "sh", "-c",
                             "cd /data && find . | sort && find . -type f | sort | xargs cat"]).stdout
    }

    func testWeeklyBackupOfVolumesAndVolumeRestore() throws {
        try DockerEngine.require()
        let project = "opshbk\(getpid())"
        let v1 = "opsh-test-\(getpid())-qdrant-data", v2 = "opsh-test-\(getpid())-redis-data"
        volumes += [v1, v2]
        for (v, text) in [(v1, "vectors"), (v2, "rdb")] {
            let w = DockerEngine.docker(["run", "--rm", "-v", "\(v):/data", DockerEngine.image, "sh", "-c",
                                         "mkdir -p /data/sub && echo \(text) > /data/a.txt && echo deep > /data/sub/b.txt && ln -s a.txt /data/link"])
            XCTAssertEqual(w.status, 0, w.stderr)
        }
        let c1 = DockerEngine.name("qdrant"), c2 = DockerEngine.name("redis")
        containers += [c1, c2]
        for (c, v, svc) in [(c1, v1, "qdrant"), (c2, v2, "dragonfly")] {
            let r = DockerEngine.docker(["run", "-d", "--name", c, "--label", "com.docker.compose.project=\(project)",
                                         "--label", "com.docker.compose.service=\(svc)",
                                         "-v", "\(v):/data", DockerEngine.image, "sleep", "600"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let started = DockerEngine.docker(["inspect", "-f", "{{.State.StartedAt}}", c1]).stdout
        let before1 = volumeListing(v1), before2 = volumeListing(v2)
        let work = Harness.tempDir("weekly").path
        let cfg = Harness.write("return { backup = { helper_image = '\(DockerEngine.image)' } }", to: "config.lua", in: Harness.tempDir("cfg"))
        let r = Harness.run(["--config", cfg, "--yes", "--json", "run", "backup/weekly", "--project", project, "--dir", "\(work)/b",
                             "--stop_timeout", "2", "--no-retention"], timeout: 180)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("stopped 2 containers"), r.stdout)
        XCTAssertTrue(r.stdout.contains("started 2 containers again"), r.stdout)
        for c in [c1, c2] { XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.Running}}", c]).stdout, "true\n") }
        XCTAssertNotEqual(DockerEngine.docker(["inspect", "-f", "{{.State.StartedAt}}", c1]).stdout, started, "really stopped and started")
        let dir = Shell.run(["sh", "-c", "ls -d \(work)/b/*-weekly"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let item1 = "volume-\(v1)"
        let x = Harness.tempDir("x").path
        XCTAssertEqual(Shell.run(["tar", "-xzf", "\(dir)/\(item1).tar.gz", "-C", x]).status, 0)
        XCTAssertEqual(Shell.run(["sh", "-c", "cat \(x)/a.txt \(x)/sub/b.txt; readlink \(x)/link"]).stdout, "vectors\ndeep\na.txt\n")
        XCTAssertEqual(Shell.run(["sh", "-c", "cd \(dir) && sha256sum -c --quiet SHA256SUMS && echo ok"]).stdout, "ok\n")
        // no helper container is left behind
        XCTAssertFalse(DockerEngine.docker(["ps", "-a", "--format", "{{.Names}}"]).stdout.contains("opsh-backup-"))

        // damage the volume; a restore while its container runs is refused
        XCTAssertEqual(DockerEngine.docker(["exec", c1, "sh", "-c", "rm -rf /data/sub && echo junk > /data/a.txt && echo new > /data/extra"]).status, 0)
        let damaged = volumeListing(v1)
        let refused = Harness.run(["--config", cfg, "--yes", "--json", "run", "backup/restore", "--dir", "\(work)/b", "--items", item1], timeout: 180)
        XCTAssertEqual(refused.status, 2, refused.stdout)
        XCTAssertTrue(refused.stdout.contains("is in use by running container"), refused.stdout)
        XCTAssertEqual(volumeListing(v1), damaged)
        // --stop_services: the service is stopped, the volume restored byte for byte, the service
        // started again; nothing of the staging is left
        let rr = Harness.run(["--config", cfg, "--yes", "--json", "run", "backup/restore", "--dir", "\(work)/b", "--items", item1,
                              "--stop_services", "--services", "qdrant", "--project", project, "--stop_timeout", "1"], timeout: 180)
        XCTAssertEqual(rr.status, 0, rr.stdout + rr.stderr)
        XCTAssertTrue(rr.stdout.contains("stopped 1 containers"), rr.stdout)
        XCTAssertTrue(rr.stdout.contains("started 1 containers, healthy"), rr.stdout)
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.Running}}", c1]).stdout, "true\n")
        XCTAssertEqual(volumeListing(v1), before1)
        XCTAssertEqual(volumeListing(v2), before2, "the other volume is untouched")
        XCTAssertFalse(DockerEngine.docker(["ps", "-a", "--format", "{{.Names}}"]).stdout.contains("opsh-swap-"))
    }

    /// config/deploy on a real container whose health check reads the deployed file: a good
    /// configuration stays, a bad one is rolled back automatically, invalid YAML never lands.
    func testConfigDeployRollsBackWhenUnhealthy() throws {
        try DockerEngine.require()
        let work = Harness.tempDir("deploy").path
        let cfgDir = "\(work)/app-config"
        func write(_ dir: String, _ text: String) {
            _ = Shell.run(["sh", "-c", "mkdir -p \(dir) && printf '\(text)' > \(dir)/app.yml"])
        }
        write(cfgDir, "status: healthy\\nversion: 1\\n")
        let project = "opshdeploy\(getpid())"
        let web = DockerEngine.name("web")
        containers.append(web)
        let run = DockerEngine.docker(["run", "-d", "--name", web, "--label", "com.docker.compose.project=\(project)",
                                       "--label", "com.docker.compose.service=web", "-v", "\(cfgDir):/cfg:ro",
                                       "--health-cmd", "grep -q 'status: healthy' /cfg/app.yml", "--health-interval", "1s",
                                       "--health-retries", "1", "--health-timeout", "2s", DockerEngine.image, "sleep", "600"])
        XCTAssertEqual(run.status, 0, run.stderr)
        func deploy(_ from: String) -> Run {
            Harness.run(["--json", "run", "config/deploy", "--from", from, "--config_dir", cfgDir, "--services", "web",
                         "--project", project, "--health_timeout", "20", "--stop_timeout", "1", "--dir", "\(work)/b"], timeout: 180)
        }
        func current() -> String { (try? String(contentsOfFile: "\(cfgDir)/app.yml")) ?? "" }
        // a good configuration
        write("\(work)/v2", "status: healthy\\nversion: 2\\n")
        let good = deploy("\(work)/v2")
        XCTAssertEqual(good.status, 0, good.stdout + good.stderr)
        XCTAssertEqual(current(), "status: healthy\nversion: 2\n")
        // a configuration the service cannot live with: rolled back
        write("\(work)/v3", "status: broken\\nversion: 3\\n")
        let bad = deploy("\(work)/v3")
        XCTAssertEqual(bad.status, 2, bad.stdout)
        XCTAssertTrue(bad.stdout.contains("was rolled back to"), bad.stdout)
        XCTAssertTrue(bad.stdout.contains("services healthy again"), bad.stdout)
        XCTAssertEqual(current(), "status: healthy\nversion: 2\n")
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.Health.Status}}", web]).stdout, "healthy\n")
        // invalid YAML: nothing deployed, nothing restarted
        let startedAt = DockerEngine.docker(["inspect", "-f", "{{.State.StartedAt}}", web]).stdout
        write("\(work)/v4", "a: 1\\n  b: 2\\n")
        let invalid = deploy("\(work)/v4")
        XCTAssertEqual(invalid.status, 2, invalid.stdout)
        XCTAssertTrue(invalid.stdout.contains("line 2, column 4"), invalid.stdout)
        XCTAssertEqual(current(), "status: healthy\nversion: 2\n")
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.StartedAt}}", web]).stdout, startedAt)
        // a changed compose file and .env: deployed and restarted, but a restart does not apply
        // them and opsh does not recreate the containers: a WARNING says so, not a plain success
        _ = Shell.run(["sh", "-c", "mkdir -p \(work)/v5 && printf 'status: healthy\\nversion: 5\\n' > \(work)/v5/app.yml && "
                       + "printf 'services:\\n  web:\\n    image: x\\n' > \(work)/v5/docker-compose.yml && echo A=2 > \(work)/v5/.env"])
        let definition = deploy("\(work)/v5")
        XCTAssertEqual(definition.status, 1, definition.stdout)
        XCTAssertTrue(definition.stdout.contains("docker-compose.yml and .env changed: a restart does not apply"), definition.stdout)
        XCTAssertTrue(definition.stdout.contains("opsh did NOT recreate the containers"), definition.stdout)
        XCTAssertEqual(current(), "status: healthy\nversion: 5\n")
        // the same definition again: nothing changed, nothing to say
        let again = deploy("\(work)/v5")
        XCTAssertEqual(again.status, 0, again.stdout)
        XCTAssertFalse(again.stdout.contains("deploy.recreate"), again.stdout)
    }

    /// backup/restore --stop_services with a Qdrant collection among the items: the collection is
    /// recovered through Qdrant's API, so only after the services are started again.
    func testStopServicesRecoversQdrantAfterTheServicesAreBack() throws {
        try DockerEngine.require()
        let q = try QdrantStandin()
        defer { q.stop() }
        let env = ["QDRANT_URL": q.url]
        let seed = q.seed("docs", points: 50)
        XCTAssertEqual(seed.status, 0, seed.stderr)
        let work = Harness.tempDir("qorder").path
        let b = Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", work, "--qdrant_collections", "docs",
                             "--no-retention"], env: env, timeout: 120)
        XCTAssertEqual(b.status, 0, b.stdout + b.stderr)
        let project = "opshqorder\(getpid())"
        let svc = DockerEngine.name("qdrant")
        containers.append(svc)
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", svc, "--label", "com.docker.compose.project=\(project)",
                                            "--label", "com.docker.compose.service=qdrant", DockerEngine.image, "sleep", "600"]).status, 0)
        let r = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", "\(work)/b", "--items", "qdrant-docs.snapshot",
                             "--stop_services", "--services", "qdrant", "--project", project, "--stop_timeout", "1"], env: env, timeout: 180)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let names = ((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["checks"] as? [[String: Any]] ?? [])
            .compactMap { $0["name"] as? String }
        let started = names.firstIndex(of: "restore.services.start"), recovered = names.firstIndex(of: "restore.qdrant-docs.snapshot")
        XCTAssertNotNil(started, r.stdout)
        XCTAssertNotNil(recovered, r.stdout)
        if let started, let recovered { XCTAssertLessThan(started, recovered, "Qdrant is recovered through its API once it runs again: \(names)") }
        XCTAssertEqual(DockerEngine.docker(["inspect", "-f", "{{.State.Running}}", svc]).stdout, "true\n")
    }
}
