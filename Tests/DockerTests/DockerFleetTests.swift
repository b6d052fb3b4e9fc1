import Foundation
import OpshTestSupport
import XCTest

/// `opsh run --target GROUP` with docker members: each member's host given to the procedure
/// (services/status --host), one report per member, the worst exit code.
final class DockerFleetTests: XCTestCase {
    func testServicesStatusPerDockerHost() throws {
        try DockerEngine.require()
        let home = Harness.tempDir("home")
        let project = "opshfleet\(getpid())"
        let conf = Harness.write("""
            return { targets = { hosts = { docker = { here = "unix:///var/run/docker.sock", gone = "unix:///tmp/opsh-fleet-no-daemon.sock" } } } }
            """, to: "config.lua", in: home)
        let r = Harness.run(["--config", conf, "--json", "run", "--target", "hosts", "services/status",
                             "--services", "fleet-probe", "--project", project], env: ["HOME": home.path], timeout: 120)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        XCTAssertEqual(obj["area"] as? String, "docker")
        XCTAssertEqual(obj["exit_code"] as? Int, 2)
        let members = obj["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.map { $0["member"] as? String }, ["gone", "here"])
        func checks(_ m: [String: Any]) -> [String: String] {
            var out: [String: String] = [:]
            for c in ((m["report"] as? [String: Any])?["checks"] as? [[String: Any]]) ?? [] {
                out[c["name"] as? String ?? "?"] = c["message"] as? String ?? ""
            }
            return out
        }
        // the engine that answers was asked for the service's containers; the other was not reachable
        let here = checks(members[1]), gone = checks(members[0])
        XCTAssertEqual(here["service.fleet-probe"], "no container for service fleet-probe", "\(here)")
        XCTAssertNil(here["docker"], "\(here)")
        XCTAssertTrue(gone["docker"]?.contains("nothing answers at unix:///tmp/opsh-fleet-no-daemon.sock") ?? false, "\(gone)")
    }
}
