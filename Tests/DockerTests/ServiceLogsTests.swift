import Foundation
import OpshTestSupport
import XCTest

/// services/logs without a service (the guide's `docker-compose logs -f --tail=100`): every
/// container of the compose project, never another project's, interleaved by the engine's
/// timestamps; and perf/metrics' containers part, which reads the same project. The two services
/// write in turns (each waits for the other's file in a shared directory), so the order of their
/// lines is known without any timing.
final class ServiceLogsTests: XCTestCase {
    var containers: [String] = []
    let project = "opshlogs\(getpid())"

    override func setUpWithError() throws { try DockerEngine.require() }
    override func tearDown() { DockerEngine.cleanup(containers: containers) }

    func container(project: String, service: String, shared: URL, script: String) -> String {
        let n = DockerEngine.name(service)
        containers.append(n)
        let r = DockerEngine.docker(["run", "-d", "--name", n, "-v", "\(shared.path):/s",
                                     "--label", "com.docker.compose.project=\(project)",
                                     "--label", "com.docker.compose.service=\(service)",
                                     "--label", "com.docker.compose.container-number=1",
                                     DockerEngine.image, "sh", "-c", script + "; trap 'exit 0' TERM; while true; do sleep 1; done"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return n
    }

    func waitFor(_ file: URL) {
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: file.path) { usleep(100_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(file.lastPathComponent) never appeared")
    }

    func testEveryServiceOfTheProjectInterleavedByTimeAndNoOtherProjects() throws {
        let shared = Harness.tempDir("turns")
        // wait for a file, then write a line and (a moment later, once the engine has it) a file
        let wait = { (f: String) in "while [ ! -f /s/\(f) ]; do sleep 0.1; done" }
        let alpha = container(project: project, service: "alpha", shared: shared, script:
            "echo first-a; sleep 0.5; touch /s/a1; \(wait("b1")); echo second-a; sleep 0.3; echo warn-a >&2; sleep 0.5; touch /s/a2")
        let beta = container(project: project, service: "beta", shared: shared, script:
            "\(wait("a1")); echo first-b; sleep 0.5; touch /s/b1; \(wait("a2")); echo second-b; sleep 0.5; touch /s/b2; \(wait("late")); echo late-b")
        let foreign = container(project: "opshother\(getpid())", service: "alpha", shared: shared, script: "echo foreign-line")
        waitFor(shared.appendingPathComponent("b2"))

        var r = Harness.run(["run", "services/logs", "--project", project], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let expected = ["alpha | first-a", "beta | first-b", "alpha | second-a", "alpha ! warn-a", "beta | second-b"]
        let got = r.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("alpha ") || $0.hasPrefix("beta ") }
        XCTAssertEqual(got, expected, r.stdout)
        XCTAssertFalse(r.stdout.contains("foreign-line"), "another project's container: \(r.stdout)")
        XCTAssertFalse(r.stdout.contains(foreign), r.stdout)
        XCTAssertTrue(r.stdout.contains("logs.\(alpha): 3 line(s)") && r.stdout.contains("logs.\(beta): 2 line(s)"), r.stdout)

        r = Harness.run(["run", "services/logs", "--project", project, "--grep", "SECOND", "--timestamps"], timeout: 120)
        let kept = r.stdout.split(separator: "\n").filter { $0.hasPrefix("alpha ") || $0.hasPrefix("beta ") }
        XCTAssertEqual(kept.count, 2, r.stdout)
        XCTAssertTrue(kept.first?.hasPrefix("alpha | 20") == true && kept.first?.hasSuffix("Z second-a") == true, r.stdout)

        // follow: the last line of each, then what comes while it follows, nothing twice
        let (p, out, _) = Harness.start(["run", "services/logs", "--project", project, "--tail", "1", "--follow", "--duration", "6"])
        usleep(1_500_000)
        FileManager.default.createFile(atPath: shared.appendingPathComponent("late").path, contents: Data())
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertEqual(text.components(separatedBy: "beta | second-b\n").count - 1, 1, text)
        XCTAssertTrue(text.contains("beta | late-b\n"), text)
        XCTAssertFalse(text.contains("foreign-line"), text)

        // perf/metrics reads the same project's containers and no other
        r = Harness.run(["--json", "run", "perf/metrics", "--project", project, "--skip", "qdrant,redis,api,access,host", "--interval", "0.2"], timeout: 120)
        let c = r.checksByName
        XCTAssertTrue((c["containers.\(alpha)"]?["message"] as? String ?? "").hasPrefix("CPU "), r.stdout)
        XCTAssertNotNil(c["containers.\(beta)"], r.stdout)
        XCTAssertNil(c["containers.\(foreign)"], r.stdout)
    }
}
