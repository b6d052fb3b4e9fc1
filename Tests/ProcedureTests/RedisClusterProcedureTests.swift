import Foundation
import OpshTestSupport
import XCTest

/// redis/cluster and the guide's Redis procedures against a real six-node Redis Cluster
/// (3 primaries, 3 replicas), driven through the built binary.
final class RedisClusterProcedureTests: XCTestCase {
    var cluster: RedisCluster!
    var home: URL!

    override func setUpWithError() throws {
        home = Harness.tempDir("home")
        cluster = try RedisCluster()
    }
    override func tearDown() { cluster?.stop() }

    var luaDir: String { Harness.packageRoot.appendingPathComponent("lua").path }

    func opsh(_ name: String, _ args: [String] = [], url: String? = nil) -> Run {
        Harness.run(["--json", "--path", luaDir, "run", name, "--url", url ?? cluster.seedList] + args,
                    env: ["HOME": home.path], timeout: 120)
    }

    func checks(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return [:]
        }
        var out: [String: String] = [:]
        for c in obj["checks"] as? [[String: Any]] ?? [] {
            out[c["name"] as? String ?? "?"] = (c["status"] as? String ?? "?") + ": " + (c["message"] as? String ?? "")
        }
        return out
    }

    func testClusterOKThenWarningAfterFailoverThenOKOnceTheNodeRejoins() throws {
        var r = opsh("redis/cluster")
        var c = checks(r)
        XCTAssertEqual(r.status, 0, "\(c)")
        XCTAssertTrue(c["redis.cluster.slots"]?.hasPrefix("ok: all 16384 slots served") == true, "\(c)")
        XCTAssertEqual(c.keys.filter { $0.hasPrefix("redis.cluster.node.") }.count, 3)

        // a primary killed: once its replica took over, the cluster serves every slot again,
        // but the old primary is a failed node and the new primary has no replica
        let slot0 = try XCTUnwrap(cluster.primaryPort(slot: 0, askPort: cluster.ports[0]))
        let replica = cluster.ports.first { p in p != slot0 && cluster.cli(p, ["ROLE"]).contains("\(slot0)") }!
        cluster.nodes.first { $0.port == slot0 }!.kill9()
        var promoted = false
        for _ in 0..<300 where !promoted {
            promoted = cluster.role(replica) == "master"
                && cluster.ports.filter { $0 != slot0 }.allSatisfy { cluster.clusterInfo($0, "cluster_state") == "ok" }
                && cluster.cli(replica, ["CLUSTER", "NODES"]).contains("master,fail")
            if !promoted { usleep(100_000) }
        }
        XCTAssertTrue(promoted, "the replica on \(replica) was not promoted")
        r = opsh("redis/cluster")
        c = checks(r)
        XCTAssertEqual(r.status, 1, "\(c)")
        XCTAssertTrue(c["redis.cluster.failing"]?.hasPrefix("warning: failed (serving no slot): 127.0.0.1:\(slot0)") == true, "\(c)")
        XCTAssertTrue(c["redis.cluster.replicas"]?.hasPrefix("warning: primaries without a replica") == true, "\(c)")
        XCTAssertTrue(c["redis.cluster.replicas"]?.contains("127.0.0.1:\(replica)") == true, "\(c)")
        XCTAssertTrue(c["redis.cluster.slots"]?.hasPrefix("ok") == true, "\(c)")

        // the old primary comes back: it rejoins as the new primary's replica
        try cluster.restart(slot0)
        try cluster.waitHealthy()
        XCTAssertEqual(cluster.role(slot0), "slave")
        // the other nodes learn of the rejoined replica by gossip, a moment after it is healthy:
        // the report turns OK once they all have (a run read it a moment too early)
        for _ in 0..<50 {
            r = opsh("redis/cluster")
            if r.status == 0 { break }
            usleep(200_000)
        }
        c = checks(r)
        XCTAssertEqual(r.status, 0, "\(c)")
    }

    func testUncoveredSlotsAreCritical() throws {
        let owner = try XCTUnwrap(cluster.primaryPort(slot: 100, askPort: cluster.ports[0]))
        XCTAssertEqual(cluster.cli(owner, ["CLUSTER", "DELSLOTSRANGE", "100", "199"]), "OK")
        // every node learns it once the owner's config spreads; the view used is the first seed's
        var c: [String: String] = [:]
        for _ in 0..<100 {
            c = checks(opsh("redis/cluster", url: "127.0.0.1:\(owner)"))
            if c["redis.cluster.slots"]?.hasPrefix("critical") == true { break }
            usleep(100_000)
        }
        XCTAssertEqual(c["redis.cluster.slots"], "critical: 16284 of 16384 slots served; no node serves 100-199")
    }

    /// The guide's Redis procedures with redis_url naming the cluster's seeds: the read-only ones
    /// work unchanged; those whose atomic batches span hash slots say why they cannot.
    func testGuideProceduresOnTheCluster() throws {
        for i in 1...20 { cluster.cli(cluster.ports[0], ["SET", "session:\(i)", "s", "EX", "600"], follow: true) }
        for i in 1...10 { cluster.cli(cluster.ports[0], ["SET", "cache:\(i)", "c"], follow: true) }
        var r = opsh("redis/health")
        var c = checks(r)
        XCTAssertTrue(c["redis.server"]?.contains("cluster mode") == true, "\(c)")
        XCTAssertTrue(c["redis.keyspace"]?.hasPrefix("ok: 30 keys") == true, "\(c)")
        XCTAssertTrue(c["redis.ping"]?.contains("PONG") == true, "\(c)")

        r = opsh("redis/sessions", ["--window", "0"])
        c = checks(r)
        XCTAssertEqual(c["sessions.count"], "ok: 20 keys match session:*", "\(c)")

        r = opsh("redis/cache")
        c = checks(r)
        XCTAssertTrue(c["cache.keys"]?.hasPrefix("ok: 10 keys match cache:*") == true, "\(c)")

        r = Harness.run(["--json", "--yes", "--path", luaDir, "run", "redis/sessions-cleanup", "--url", cluster.seedList],
                        env: ["HOME": home.path], timeout: 120)
        c = checks(r)
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(c["sessions.cleanup"]?.contains("CROSSSLOT") == true, "\(c)")

        r = opsh("queue/status")
        c = checks(r)
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(c["queue.redis"]?.contains("ARQ keeps a job in arq:queue") == true, "\(c)")
        // nothing was deleted: the keys on every primary, counted with redis-cli
        let keys = cluster.ports.filter { cluster.role($0) == "master" }.reduce(0) { $0 + (Int(cluster.cli($1, ["DBSIZE"])) ?? 0) }
        XCTAssertEqual(keys, 30)
    }
}
