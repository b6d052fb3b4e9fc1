import Foundation
import OpshTestSupport
import XCTest

/// Which containers a service action reaches when no compose_project is configured: those of the
/// project started from the configured compose file, never another project's; with several
/// projects and no compose file to tell them apart, nothing at all. And services/autoscale
/// --metric load, which follows the guide's auto-tuning (high host load: fewer workers).
final class ComposeScopeTests: XCTestCase {
    var containers: [String] = []
    let service = "scope\(getpid())"

    override func setUpWithError() throws { try DockerEngine.require() }

    override func tearDown() {
        // autoscale's copies are named after the first container
        let copies = containers.flatMap { c in (2...4).map { "\(c)-\($0)" } }.filter(DockerEngine.exists)
        DockerEngine.cleanup(containers: containers + copies)
    }

    /// A container of `project` for the test's service, labelled as docker-compose labels it.
    func container(project: String, composeFile: String) -> String {
        let n = DockerEngine.name(project)
        containers.append(n)
        let r = DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(project)",
                                     "--label", "com.docker.compose.service=\(service)",
                                     "--label", "com.docker.compose.project.config_files=\(composeFile)",
                                     "--label", "com.docker.compose.container-number=1",
                                     DockerEngine.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return n
    }

    func startedAt(_ n: String) -> String { DockerEngine.docker(["inspect", "-f", "{{.State.StartedAt}}", n]).stdout }
    func running(_ n: String) -> String { DockerEngine.docker(["inspect", "-f", "{{.State.Running}}", n]).stdout }

    func config(composeFile: String) -> String {
        Harness.write("return { compose_file = '\(composeFile)', services = { '\(service)' } }", to: "config.lua", in: Harness.tempDir("cfg"))
    }

    func testActionsReachOnlyTheComposeFilesProject() throws {
        let mineDir = Harness.tempDir("mine"), theirsDir = Harness.tempDir("theirs")
        let mineFile = Harness.write("services:\n  \(service):\n    image: x\n", to: "docker-compose.yml", in: mineDir)
        let theirsFile = Harness.write("services:\n  \(service):\n    image: x\n", to: "docker-compose.yml", in: theirsDir)
        let mine = container(project: "opshmine\(getpid())", composeFile: mineFile)
        let theirs = container(project: "opshtheirs\(getpid())", composeFile: theirsFile)
        let theirsStarted = startedAt(theirs), mineStarted = startedAt(mine)
        let cfg = config(composeFile: mineFile)

        var r = Harness.run(["--config", cfg, "run", "services/restart", "--timeout", "5"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains(mine), r.stdout)
        XCTAssertFalse(r.stdout.contains(theirs), r.stdout)
        XCTAssertNotEqual(startedAt(mine), mineStarted, "the compose file's project is restarted")
        XCTAssertEqual(startedAt(theirs), theirsStarted, "another project's container is untouched")

        r = Harness.run(["--config", cfg, "run", "services/stop", "--timeout", "5"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(running(mine), "false\n")
        XCTAssertEqual(running(theirs), "true\n", "another project's container still runs")
        XCTAssertEqual(startedAt(theirs), theirsStarted)

        // the compose file found from the current directory, as docker-compose finds it
        r = Harness.run(["run", "services/start", "--service", service], cwd: mineDir, timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(running(mine), "true\n")
        XCTAssertEqual(startedAt(theirs), theirsStarted)
    }

    func testSeveralProjectsAndNoComposeFileIsRefused() throws {
        let a = container(project: "opsha\(getpid())", composeFile: "/nowhere/a/docker-compose.yml")
        let b = container(project: "opshb\(getpid())", composeFile: "/nowhere/b/docker-compose.yml")
        let before = [startedAt(a), startedAt(b)]
        let cfg = config(composeFile: Harness.tempDir("none").path + "/docker-compose.yml")
        for action in ["services/restart", "services/stop"] {
            let r = Harness.run(["--config", cfg, "run", action, "--timeout", "5"], timeout: 120)
            XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("containers of several compose projects run here"), r.stdout)
            XCTAssertTrue(r.stdout.contains("opsha\(getpid())") && r.stdout.contains("opshb\(getpid())"), r.stdout)
        }
        XCTAssertEqual([startedAt(a), startedAt(b)], before, "nothing was restarted")
        XCTAssertEqual([running(a), running(b)], ["true\n", "true\n"], "nothing was stopped")
        // --project says which: then it acts
        let r = Harness.run(["--config", cfg, "run", "services/restart", "--project", "opsha\(getpid())", "--timeout", "5"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertNotEqual(startedAt(a), before[0])
        XCTAssertEqual(startedAt(b), before[1])
    }

    /// The guide's auto-tuning: load per CPU above 0.8 scales the workers DOWN to one, below 0.3
    /// back UP to three (the opposite of --metric cpu and queue), and the report says why.
    func testAutoscaleByLoadFollowsTheGuidesDirection() throws {
        let dir = Harness.tempDir("load")
        let file = Harness.write("services: {}\n", to: "docker-compose.yml", in: dir)
        let project = "opshload\(getpid())"
        let first = container(project: project, composeFile: file)
        func scale(_ value: String) -> Run {
            Harness.run(["run", "services/autoscale", "--service", service, "--project", project, "--metric", "load",
                         "--value", value, "--timeout", "5"], timeout: 120)
        }
        var r = scale("10")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("load = 10.0: scaled \(service) from 1 to 3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("low load more"), r.stdout)
        XCTAssertTrue(DockerEngine.exists("\(first)-3"))
        r = scale("95")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("load = 95.0: scaled \(service) from 3 to 1"), r.stdout)
        XCTAssertFalse(DockerEngine.exists("\(first)-2"))
        XCTAssertEqual(running(first), "true\n", "the service's own container stays")
    }
}
