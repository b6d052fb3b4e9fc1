import Foundation
import OpshTestSupport
import XCTest

/// services/update-images and opsh.docker's pull and recreate on the real engine. No registry
/// is reachable here: the pull is reported as failed and the image already present is used, so
/// the test moves the image's tag locally (a committed image), as `docker load` would.
final class ImageUpdateTests: XCTestCase {
    var containers: [String] = []
    var images: [String] = []
    var volumes: [String] = []
    let project = "opshupd\(getpid())"

    override func setUpWithError() throws { try DockerEngine.require() }

    override func tearDown() {
        DockerEngine.cleanup(containers: containers, volumes: volumes)
        if !images.isEmpty { DockerEngine.docker(["rmi", "-f"] + images) }
    }

    func inspect(_ name: String, _ format: String) -> String {
        DockerEngine.docker(["inspect", "-f", format, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A service container on `tag` (the base image), healthy while /healthy exists, with a named volume.
    func service(_ svc: String, tag: String) -> String {
        XCTAssertEqual(DockerEngine.docker(["tag", DockerEngine.image, tag]).status, 0)
        images.append(tag)
        let n = DockerEngine.name(svc), vol = "opsh-test-\(getpid())-\(svc)-data"
        containers.append(n)
        volumes.append(vol)
        XCTAssertEqual(DockerEngine.docker(["run", "-d", "--name", n, "--label", "com.docker.compose.project=\(project)",
                                            "--label", "com.docker.compose.service=\(svc)", "-v", "\(vol):/data", "--memory", "64m",
                                            "--health-cmd", "test -f /healthy", "--health-interval", "1s", "--health-retries", "1",
                                            tag, "sh", "-c", "touch /healthy; echo kept > /data/f; trap 'exit 0' TERM; while true; do sleep 1; done"]).status, 0)
        return n
    }

    /// Moves `tag` to a new image made from the base: `script` run in it, committed.
    func moveTag(_ tag: String, _ script: String) -> String {
        let maker = DockerEngine.name("maker")
        containers.append(maker)
        XCTAssertEqual(DockerEngine.docker(["run", "--name", maker, DockerEngine.image, "sh", "-c", script]).status, 0)
        let id = DockerEngine.docker(["commit", maker, tag]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        images.append(id)
        return id
    }

    func testANewImageIsRecreatedFromTheContainersOwnDefinition() {
        let tag = "opshtest-img-\(getpid()):latest"
        let web = service("web", tag: tag)
        let oldImage = inspect(web, "{{.Image}}")
        func update() -> Run {
            Harness.run(["run", "services/update-images", "--services", "web", "--project", project, "--timeout", "2",
                         "--health_timeout", "30"], timeout: 180)
        }
        // the same image: nothing to do; the pull is reported, not hidden
        var r = update()
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("not pulled, the image present is used"), r.stdout)
        XCTAssertTrue(r.stdout.contains("runs the newest \(tag) already"), r.stdout)
        XCTAssertEqual(inspect(web, "{{.Image}}"), oldImage)
        // a newer image under the same tag: recreated, same name, labels, mounts and limits
        let newImage = moveTag(tag, "echo v2 > /version")
        XCTAssertTrue(newImage.hasPrefix("sha256:"), newImage)
        // a dry run changes nothing
        r = Harness.run(["--dry-run", "run", "services/update-images", "--services", "web", "--project", project, "--no-pull"], timeout: 120)
        XCTAssertTrue(r.stdout.contains("would recreate \(web) on \(tag)"), r.stdout)
        XCTAssertEqual(inspect(web, "{{.Image}}"), oldImage)
        r = update()
        XCTAssertTrue(r.stdout.contains("update.\(web): recreated on \(tag)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("healthy"), r.stdout)
        XCTAssertEqual(inspect(web, "{{.Image}}"), newImage)
        XCTAssertEqual(inspect(web, "{{.State.Running}} {{index .Config.Labels \"com.docker.compose.service\"}} {{.HostConfig.Memory}}"),
                       "true web 67108864")
        XCTAssertEqual(inspect(web, "{{index .Config.Labels \"opsh.created\"}}"), "", "a recreated service container is still the service's, not opsh's to prune")
        XCTAssertEqual(DockerEngine.docker(["exec", web, "cat", "/data/f", "/version"]).stdout, "kept\nv2\n", "the volume and the new image")
        let left = DockerEngine.docker(["ps", "-a", "--filter", "label=com.docker.compose.project=\(project)", "--format", "{{.Names}}"]).stdout
        XCTAssertEqual(left, web + "\n", "the old container is gone")
    }

    func testAnUnhealthyNewImageIsRolledBack() {
        let tag = "opshtest-img-bad-\(getpid()):latest"
        let web = service("api", tag: tag)
        let oldImage = inspect(web, "{{.Image}}"), oldID = inspect(web, "{{.Id}}")
        // the new image: /healthy is a link into a directory that does not exist, so the
        // service's own command cannot create it and the health check fails
        _ = moveTag(tag, "ln -s /nonexistent/dir/healthy /healthy")
        let r = Harness.run(["run", "services/update-images", "--services", "api", "--project", project, "--no-pull", "--timeout", "2",
                             "--health_timeout", "8"], timeout: 180)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("not updated: \(web):"), r.stdout)
        XCTAssertTrue(r.stdout.contains("the old container was put back"), r.stdout)
        XCTAssertEqual(inspect(web, "{{.Id}}"), oldID, "the old container, under its own name")
        XCTAssertEqual(inspect(web, "{{.Image}} {{.State.Running}}"), "\(oldImage) true")
        let left = DockerEngine.docker(["ps", "-a", "--filter", "label=com.docker.compose.project=\(project)", "--format", "{{.Names}}"]).stdout
        XCTAssertEqual(left, web + "\n", "the failed new container is removed")
    }
}
