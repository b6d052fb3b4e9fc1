import Foundation
import OpshTestSupport
import XCTest

/// examples/restart-loop.lua on the real engine: a container of the test's own compose project
/// that dies four times is found with its exit code and last log line; another project's
/// container is not looked at.
final class RestartLoopExampleTests: XCTestCase {
    func testALoopingContainerIsFoundAndOthersProjectsAreNot() throws {
        try DockerEngine.require()
        let project = "opsh-test-\(getpid())-loop"
        let looping = DockerEngine.name("looping")
        let other = DockerEngine.name("other")
        defer { DockerEngine.cleanup(containers: [looping, other]) }
        let run = DockerEngine.docker(["run", "-d", "--network", "host", "--name", looping, "--label", "com.docker.compose.project=\(project)",
                                       "--label", "com.docker.compose.service=worker", DockerEngine.image, "sh", "-c", "echo dying now; exit 3"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(DockerEngine.docker(["wait", looping]).status, 0)
        for _ in 0..<3 {
            XCTAssertEqual(DockerEngine.docker(["start", looping]).status, 0)
            XCTAssertEqual(DockerEngine.docker(["wait", looping]).status, 0)
        }
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--network", "host", "--name", other, "--label", "com.docker.compose.project=someone-else",
                                            DockerEngine.image, "sh", "-c", "exit 1"]).status, 0)
        XCTAssertEqual(DockerEngine.docker(["wait", other]).status, 0)

        let example = Harness.packageRoot.appendingPathComponent("examples/restart-loop.lua").path
        let r = Harness.run(["--json", "run", example, "--project", project, "--window", "10m"], env: ["DOCKER_HOST": "unix://" + DockerEngine.socket])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let checks = doc["checks"] as! [[String: Any]]
        let found = try XCTUnwrap(checks.first { $0["name"] as? String == "container." + looping }, "\(checks)")
        XCTAssertEqual(found["status"] as? String, "critical")
        XCTAssertEqual(((found["metrics"] as? [String: Any])?["deaths"] as? NSNumber)?.intValue, 4)
        let message = found["message"] as? String ?? ""
        XCTAssertTrue(message.contains("exit codes 3,3,3,3"), message)
        XCTAssertTrue(message.contains("dying now"), message)
        XCTAssertFalse(checks.contains { ($0["name"] as? String ?? "").contains(other) }, "another project's container was looked at")
        XCTAssertEqual(((checks.last?["metrics"] as? [String: Any])?["looping"] as? NSNumber)?.intValue, 1)
    }
}
