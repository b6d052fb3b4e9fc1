import Foundation
import XCTest

/// The real Docker engine for the tests: started by scripts/dockerd when none answers, with the
/// base image made by `scripts/dockerd image`. Where an engine truly cannot start, `require()`
/// says so loudly on stderr and throws XCTSkip: those tests count as skipped, never as passed.
/// Containers are made with unique names (prefix `opsh-test-<pid>-`) and removed by `cleanup`.
public enum DockerEngine {
    public static let socket = "/var/run/docker.sock"
    public static let image = "opsh-base:2"
    static var checked: String?   // nil: not yet; "": fine; else the reason it is not available
    static var counter = 0

    public static func require() throws {
        if checked == nil { checked = prepare() }
        if let why = checked, !why.isEmpty {
            FileHandle.standardError.write("\n*** DOCKER TESTS SKIPPED: \(why) ***\n\n".data(using: .utf8)!)
            throw XCTSkip("no Docker engine: \(why)")
        }
    }

    static func prepare() -> String {
        let script = Harness.packageRoot.appendingPathComponent("scripts/dockerd").path
        let start = Shell.run([script, "start"], timeout: 1800)
        if start.status != 0 { return "scripts/dockerd start failed: \(start.stderr.suffix(600))" }
        let img = Shell.run([script, "image"], timeout: 1800)
        if img.status != 0 { return "scripts/dockerd image failed: \(img.stderr.suffix(600))" }
        return ""
    }

    /// A fresh container name, unique to this test process.
    public static func name(_ hint: String) -> String {
        counter += 1
        return "opsh-test-\(getpid())-\(hint)-\(counter)"
    }

    /// Runs the docker CLI (for setting up and checking from the outside; opsh never uses it).
    @discardableResult
    public static func docker(_ args: [String]) -> Run { Shell.run(["docker"] + args) }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    public static func inspect(_ name: String, _ format: String) -> String {
        docker(["inspect", "-f", format, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A running container's environment as a process inside it sees it ("NAME=value" lines).
    public static func environment(_ name: String) -> [String] {
        docker(["exec", name, "env"]).stdout.split(separator: "\n").map(String.init)
    }

    /// Removes the test's containers and volumes by their exact names.
    public static func cleanup(containers: [String], volumes: [String] = []) {
        if !containers.isEmpty { docker(["rm", "-f"] + containers) }
        if !volumes.isEmpty { docker(["volume", "rm", "-f"] + volumes) }
    }

    /// Whether a container of that exact name exists.
    public static func exists(_ name: String) -> Bool { docker(["container", "inspect", name]).status == 0 }
}
