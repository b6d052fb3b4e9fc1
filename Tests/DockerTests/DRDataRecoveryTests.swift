import Foundation
import OpshTestSupport
import XCTest

/// dr/data-recovery on the real engine: the writer containers ("api", "task-worker") stopped, an
/// emergency backup of the damaged state, the last good backup restored, the restored data
/// compared with the backup, and the writers started again only when it matches. Another
/// project's containers are never touched.
final class DRDataRecoveryTests: XCTestCase {
    var containers: [String] = []
    let project = "opshdrrec\(getpid())"

    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers) }

    func container(_ project: String, _ service: String, mount: String? = nil, script: String = "trap 'exit 0' TERM; while true; do sleep 1; done") -> String {
        let n = DockerEngine.name(service)
        containers.append(n)
        let r = DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(project)",
                                     "--label", "com.docker.compose.service=\(service)"] + (mount.map { ["-v", "\($0):/app"] } ?? [])
                                    + [DockerEngine.image, "sh", "-c", script])
        XCTAssertEqual(r.status, 0, r.stderr)
        return n
    }

    func tree(_ root: String) -> String {
        Shell.run(["sh", "-c", "cd '\(root)' && find . -printf '%p %y %s\\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum"]).stdout
    }

    /// The application's data and configuration, a good daily backup of them, then damage.
    func stack() -> (work: String, config: String, original: String) {
        let work = Harness.tempDir("drrec").path
        XCTAssertEqual(Shell.run(["sh", "-c", """
        mkdir -p \(work)/app/data/orders \(work)/app/config \(work)/backups
        echo 'workers: 2' > \(work)/app/config/app.yml
        for i in 1 2 3; do echo "order $i" > \(work)/app/data/orders/$i.json; done
        head -c 100000 /dev/urandom > \(work)/app/data/index.bin
        """]).status, 0)
        let config = Harness.write("""
        return { compose_project = "\(project)", backup_dir = "\(work)/backups", state_dir = "\(work)/state",
          backup = { config_dirs = { "\(work)/app/config" }, app_data = { "\(work)/app/data" } } }
        """, to: "config.lua", in: URL(fileURLWithPath: work))
        let original = tree("\(work)/app")
        let b = Harness.run(["--config", config, "--yes", "run", "backup/daily", "--no-retention"], timeout: 120)
        XCTAssertEqual(b.status, 0, b.stdout + b.stderr)
        XCTAssertEqual(Shell.run(["sh", "-c", """
        echo 'order 2 (corrupted)' > \(work)/app/data/orders/2.json && rm \(work)/app/data/orders/3.json
        head -c 10 /dev/zero > \(work)/app/data/index.bin && echo 'workers: x' > \(work)/app/config/app.yml
        """]).status, 0)
        return (work, config, original)
    }

    func recover(_ config: String, _ args: [String] = [], dry: Bool = false) -> Run {
        Harness.run(["--config", config, "--json"] + (dry ? ["--dry-run"] : ["--yes"]) + ["run", "dr/data-recovery", "--stop_timeout", "5"] + args,
                    env: ["DOCKER_HOST": "unix://" + DockerEngine.socket, "QDRANT_URL": "http://127.0.0.1:1"], timeout: 300)
    }

    func testWritersStoppedRecoveredVerifiedAndResumed() throws {
        let s = stack()
        let api = container(project, "api"), worker = container(project, "task-worker")
        let foreign = container("opshdrrecother\(getpid())", "api")
        let started = [api: DockerEngine.inspect(api, "{{.State.StartedAt}}"), worker: DockerEngine.inspect(worker, "{{.State.StartedAt}}")]
        let foreignState = DockerEngine.inspect(foreign, "{{.Id}} {{.State.StartedAt}}")
        let damaged = tree("\(s.work)/app")

        // the plan: the daily backup chosen, nothing stopped or changed
        var r = recover(s.config, dry: true)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue((r.checksByName["recovery.backup"]?["message"] as? String ?? "").contains("-daily"), r.stdout)
        XCTAssertTrue((r.checksByName["recovery.plan"]?["message"] as? String ?? "").contains("would stop api, task-worker"), r.stdout)
        XCTAssertEqual(tree("\(s.work)/app"), damaged)
        XCTAssertEqual(DockerEngine.inspect(api, "{{.State.StartedAt}}"), started[api])

        r = recover(s.config)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = r.checksByName
        XCTAssertEqual(c["stop.\(api)"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(c["stop.\(worker)"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(c["backup"]?["status"] as? String, "ok", "the emergency backup: \(r.stdout)")
        XCTAssertEqual(c["recovery.verify.app-data"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(c["recovery.verify.config-config"]?["status"] as? String, "ok", r.stdout)
        XCTAssertTrue((c["recovery"]?["message"] as? String ?? "").contains("verified, writers started again"), r.stdout)
        // the order of the steps: stopped, emergency backup, restore, verify, started
        let names = r.checks.map { $0["name"] as? String ?? "" }
        let order = ["stop.\(api)", "backup", "restore.backup", "backup.verify", "recovery.verify.app-data", "start.\(api)", "recovery"]
        let positions = order.map { n in names.firstIndex(of: n) ?? -1 }
        XCTAssertFalse(positions.contains(-1), "\(names)")
        XCTAssertEqual(positions, positions.sorted(), "\(names)")
        XCTAssertEqual(tree("\(s.work)/app"), s.original, "the data is the good backup's, byte for byte")
        for n in [api, worker] {
            XCTAssertEqual(DockerEngine.inspect(n, "{{.State.Running}}"), "true")
            XCTAssertNotEqual(DockerEngine.inspect(n, "{{.State.StartedAt}}"), started[n], "\(n) was stopped and started again")
        }
        XCTAssertEqual(DockerEngine.inspect(foreign, "{{.Id}} {{.State.StartedAt}}"), foreignState, "another project's api is untouched")
        // the damaged state is kept in the emergency backup
        let emergency = Shell.run(["sh", "-c", "ls -d \(s.work)/backups/*-emergency"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(emergency.isEmpty)
        let out = Harness.tempDir("damaged").path
        let back = Harness.run(["--config", s.config, "--yes", "run", "backup/restore", "--name", (emergency as NSString).lastPathComponent, "--to", out])
        XCTAssertEqual(back.status, 0, back.stdout + back.stderr)
        XCTAssertEqual(try String(contentsOfFile: out + "/app-data/orders/2.json", encoding: .utf8), "order 2 (corrupted)\n")
        XCTAssertEqual(Shell.run(["sh", "-c", "ls \(s.work)/state/dr-recovery"]).stdout, "", "the scratch copy is removed")
    }

    /// A writer nobody named (a second worker writing into the data directory) keeps writing
    /// during the recovery: the restored data no longer matches the backup, and the writers that
    /// were stopped stay stopped, with a report that says why and what to do.
    func testAVerificationFailureLeavesTheWritersStopped() throws {
        let s = stack()
        let api = container(project, "api")
        // puts its file back into the data directory whenever it is gone (mounted through its
        // parent, so it writes into the tree the restore swaps in), watching for that without
        // pause: the restore's swap and the verification's listing are milliseconds apart, and a
        // writer that wrote a file every 20 ms (a fork of `sleep` between, slower on a loaded
        // machine) wrote nothing in between in a CI run, which then verified. Until the restore it
        // writes nothing, so the emergency backup reads a still tree.
        let rogue = container(project, "indexer", mount: "\(s.work)/app",
                              script: "trap 'exit 0' TERM; i=0; while :; do if [ ! -e /app/data/indexer.mark ]; then echo $i > /app/data/indexer.$i; echo $i > /app/data/indexer.mark; i=$((i+1)); fi; done")
        // the recovery starts only once the rogue writer is running: `docker run -d` returns when
        // the container is started, not when its loop has begun
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: "\(s.work)/app/data/indexer.mark") && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(s.work)/app/data/indexer.mark"), "the rogue writer never wrote")
        let r = recover(s.config, ["--writers", "api"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let c = r.checksByName
        XCTAssertEqual(c["restore.backup"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(c["recovery.verify.app-data"]?["status"] as? String, "critical", r.stdout)
        XCTAssertTrue((c["recovery.verify.app-data"]?["message"] as? String ?? "").contains("not in the backup"), r.stdout)
        let verdict = c["recovery"]?["message"] as? String ?? ""
        XCTAssertTrue(verdict.contains("did not verify: the writers (api) stay STOPPED"), verdict)
        XCTAssertNil(c["start.\(api)"], "no writer is started after a failed verification")
        XCTAssertEqual(DockerEngine.inspect(api, "{{.State.Running}}"), "false", "the writer stays stopped")
        XCTAssertEqual(DockerEngine.inspect(rogue, "{{.State.Running}}"), "true", "what was not named is not touched")
    }
}
