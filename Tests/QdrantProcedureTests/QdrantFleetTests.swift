import Foundation
import OpshTestSupport
import XCTest

/// `opsh run --target GROUP` with a group of Qdrant nodes (two stand-ins): per-member procedures,
/// and qdrant/snapshot taking every node's collections, per shard, into one backup.
final class QdrantFleetTests: XCTestCase {
    func config(_ nodes: [(String, String)], in home: URL) -> String {
        let members = nodes.map { "\($0.0) = \"\($0.1)\"" }.joined(separator: ", ")
        return Harness.write("return { targets = { prod = { qdrant = { \(members) } } } }", to: "config.lua", in: home)
    }

    func testHealthPerNodeWithTheWorstExitCode() throws {
        let q1 = try QdrantStandin(), q2 = try QdrantStandin()
        defer { q1.stop(); q2.stop() }
        let home = Harness.tempDir("home")
        let dead = RedisServer.freePort()
        let conf = config([("q1", q1.url), ("q2", q2.url), ("q3", "http://127.0.0.1:\(dead)")], in: home)
        let r = Harness.run(["--config", conf, "--json", "run", "--target", "prod", "qdrant/health"], env: ["HOME": home.path], timeout: 120)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        XCTAssertEqual(obj["area"] as? String, "qdrant")
        XCTAssertEqual(obj["exit_code"] as? Int, 2, r.stdout)
        let members = obj["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.map { $0["member"] as? String }, ["q1", "q2", "q3"])
        let statuses = members.map { (($0["report"] as? [String: Any])?["status"] as? String) ?? "?" }
        XCTAssertEqual(statuses, ["ok", "ok", "critical"])
    }

    func testSnapshotEveryNodeAndShardIntoOneBackup() throws {
        let q1 = try QdrantStandin(), q2 = try QdrantStandin()
        defer { q1.stop(); q2.stop() }
        XCTAssertEqual(q1.seed("docs", points: 30).status, 0)
        XCTAssertEqual(q2.seed("docs", points: 20).status, 0)
        XCTAssertEqual(q2.seed("faq", points: 5).status, 0)
        let home = Harness.tempDir("home")
        let root = Harness.tempDir("backups")
        let conf = config([("q1", q1.url), ("q2", q2.url)], in: home)

        // without --backup the group has no one place to go
        var r = Harness.run(["--config", conf, "run", "--target", "prod", "qdrant/snapshot"], env: ["HOME": home.path], timeout: 120)
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("give --backup ROOT"), r.stdout)

        r = Harness.run(["--config", conf, "run", "--target", "prod", "qdrant/snapshot", "--backup", root.path],
                        env: ["HOME": home.path], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("3 snapshots of 2 nodes in"), r.stdout)
        let backups = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix("-qdrant") }
        XCTAssertEqual(backups.count, 1, "one backup for the whole group")
        let dir = root.appendingPathComponent(backups[0])
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as? [String: Any])
        let items = manifest["items"] as? [[String: Any]] ?? []
        let named = items.map { "\($0["node"] ?? "?") \($0["collection"] ?? "?") \($0["shard"] ?? "?")" }
        XCTAssertEqual(named, ["q1 docs 0", "q2 docs 0", "q2 faq 0"])
        XCTAssertEqual(items.map { $0["url"] as? String }, [q1.url, q2.url, q2.url])
        for item in items {
            // each file is what Qdrant's checksum said, and is a shard snapshot of that node
            let file = dir.appendingPathComponent(item["file"] as! String).path
            let sum = sh("sha256sum '\(file)' | cut -d' ' -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(sum, item["checksum"] as? String)
            XCTAssertEqual(sum, item["sha256"] as? String)
            XCTAssertTrue((item["snapshot"] as? String ?? "").hasPrefix("\(item["collection"]!)-shard-0-"), "\(item)")
        }
        XCTAssertEqual(sh("cd '\(dir.path)' && sha256sum -c --quiet SHA256SUMS").status, 0)
        // taken into the backup, the snapshots are deleted from the nodes
        let left = Harness.run(["-e", "print(#assert(require('opsh.qdrant').connect():shard_snapshots('docs', 0)))"],
                               env: ["QDRANT_URL": q1.url])
        XCTAssertEqual(left.stdout, "0\n", left.stderr)

        // a node that fails leaves no backup at all
        q2.stop()
        r = Harness.run(["--config", conf, "run", "--target", "prod", "qdrant/snapshot", "--backup", root.path],
                        env: ["HOME": home.path], timeout: 120)
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("not every snapshot was taken: no backup written"), r.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.contains("-qdrant") }.count, 1)
    }
}
