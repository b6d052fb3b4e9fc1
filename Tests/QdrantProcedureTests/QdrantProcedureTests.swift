import Foundation
import OpshTestSupport
import XCTest

/// The Qdrant procedures (lua/qdrant, lua/perf, lua/incident) run as an operator runs them,
/// against the Qdrant-compatible server, a real Prometheus and a local webhook receiver.
final class QdrantProcedureTests: XCTestCase {
    func run(_ args: [String], _ s: QdrantStandin, env: [String: String] = [:]) -> Run {
        var e = ["QDRANT_URL": s.url]
        for (k, v) in env { e[k] = v }
        return Harness.run(args, env: e, timeout: 120)
    }

    func lua(_ script: String, _ s: QdrantStandin) -> String {
        let r = Harness.run(["-e", script], env: ["QDRANT_URL": s.url], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout
    }

    func seed(_ s: QdrantStandin, points: Int = 300) {
        _ = lua(QdrantClientTests.seed.replacingOccurrences(of: "for i = 1, 200 do", with: "for i = 1, \(points) do"), s)
    }

    func checks(_ r: Run) throws -> [String: [String: Any]] {
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        var out: [String: [String: Any]] = [:]
        for c in doc["checks"] as! [[String: Any]] { out[c["name"] as! String] = c }
        return out
    }

    func testHealthReportsProbesAndFailsWhenDown() throws {
        let s = try QdrantStandin()
        seed(s)
        let r = run(["--json", "run", "qdrant/health", "--latency_warn_ms", "5000", "--latency_crit_ms", "10000"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = try checks(r)
        for probe in ["healthz", "livez", "readyz"] {
            XCTAssertEqual(c["qdrant.\(probe)"]?["status"] as? String, "ok")
            XCTAssertNotNil((c["qdrant.\(probe)"]?["metrics"] as? [String: Any])?["latency_ms"])
        }
        XCTAssertEqual(c["qdrant.version"]?["message"] as? String, "qdrant - vector search engine 1.19.0")
        XCTAssertEqual(c["qdrant.collections"]?["message"] as? String, "1 collection, all green")
        s.stop()
        let down = run(["run", "qdrant/health"], s)
        XCTAssertEqual(down.status, 2, down.stdout)
        XCTAssertTrue(down.stdout.contains("[CRIT]           qdrant.readyz: no answer: GET \(s.url)/readyz: Couldn't connect to server"), down.stdout)
    }

    func testCollectionsReport() throws {
        let s = try QdrantStandin()
        seed(s)
        _ = lua("""
            local q = require("opsh.qdrant").connect()
            assert(q:create_collection("empty", { vectors = { size = 8, distance = "Dot" }, optimizers_config = { indexing_threshold = 0 } }))
            """, s)
        let r = run(["--json", "run", "qdrant/collections"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = try checks(r)
        let docs = c["qdrant.collection.docs"]!
        let m = docs["metrics"] as! [String: Any]
        XCTAssertEqual(m["points"] as? Int, 300)
        XCTAssertEqual(m["vectors"] as? Int, 300)
        XCTAssertEqual(m["segments"] as? Int, 1)
        XCTAssertTrue((docs["message"] as! String).hasPrefix("green; 300 points, 300 vectors ("), docs["message"] as! String)
        XCTAssertTrue((c["qdrant.collection.empty"]!["message"] as! String).contains("indexing disabled (indexing_threshold 0)"))
        XCTAssertEqual((c["qdrant.collections"]!["metrics"] as! [String: Any])["points"] as? Int, 300)
        let missing = run(["run", "qdrant/collections", "--collection", "nope"], s)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stdout.contains("HTTP 404: Not found: Collection `nope` doesn't exist!"), missing.stdout)
    }

    func testWeeklyOptimizeChangesTheServerAndWaitsForGreen() throws {
        let s = try QdrantStandin()
        seed(s, points: 2000)
        let read = """
            local info = require("opsh.qdrant").connect():collection("docs")
            local o = info.config.optimizer_config
            local ps = {}
            for k, v in pairs(info.payload_schema) do ps[#ps + 1] = k .. "=" .. v.data_type end
            table.sort(ps)
            print(info.status, o.deleted_threshold, o.vacuum_min_vector_number, o.indexing_threshold, table.concat(ps, ","), info.indexed_vectors_count)
            """
        XCTAssertEqual(lua(read, s), "green\t0.2\t1000\t10000\t\t0\n")
        // --dry-run changes nothing
        let dry = run(["--dry-run", "run", "qdrant/optimize", "--deleted_threshold", "0.1", "--indexing_threshold", "10", "--index", "city:keyword,n:integer"], s)
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would set deleted_threshold 0.2 -> 0.1, indexing_threshold 10000 -> 10; would create index city (keyword); would create index n (integer)"), dry.stdout)
        XCTAssertEqual(lua(read, s), "green\t0.2\t1000\t10000\t\t0\n")
        // a value out of the spec's range is refused before anything is sent
        let bad = run(["run", "qdrant/optimize", "--deleted_threshold", "3", "--vacuum_min_vector_number", "100"], s)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stdout.contains("optimizers_config.deleted_threshold: must be at most 1, got 3"), bad.stdout)
        XCTAssertEqual(lua(read, s), "green\t0.2\t1000\t10000\t\t0\n")
        // the real run: thresholds and indexes on the server, and green again (2000 x 4-d vectors = 31 KB > 10 KB: indexed)
        let r = run(["run", "qdrant/optimize", "--deleted_threshold", "0.1", "--vacuum_min_vector_number", "100",
                     "--indexing_threshold", "10", "--index", "city:keyword,n:integer"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("green after"), r.stdout)
        XCTAssertEqual(lua(read, s), "green\t0.1\t100\t10\tcity=keyword,n=integer\t2000\n")
        // a second run has nothing to change
        let again = run(["run", "qdrant/optimize", "--deleted_threshold", "0.1", "--index", "city:keyword"], s)
        XCTAssertTrue(again.stdout.contains("index city (keyword) exists; green after"), again.stdout)
    }

    func testSearchPerformanceReadsQdrantsMetricsAndUpdatesHNSW() throws {
        let s = try QdrantStandin()
        seed(s)
        _ = lua("local q = require('opsh.qdrant').connect(); for i = 1, 20 do assert(q:query('docs', { query = { 1, 0, 0, 1 }, limit = 5 })) end", s)
        let r = run(["--json", "run", "qdrant/search-performance", "--collection", "docs", "--probes", "3", "--hnsw_ef", "32"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = try checks(r)
        let m = c["qdrant.search.metrics"]!["metrics"] as! [String: Any]
        XCTAssertEqual(m["queries"] as? Double, 20)
        XCTAssertGreaterThan(m["p95_ms"] as! Double, 0)
        XCTAssertLessThanOrEqual(m["p95_ms"] as! Double, m["max_ms"] as! Double)
        XCTAssertTrue((c["qdrant.search.probe"]!["message"] as! String).hasPrefix("3 probe queries with hnsw_ef=32: median"))
        XCTAssertNil(c["qdrant.search.hnsw"])
        let dry = run(["--dry-run", "run", "qdrant/search-performance", "--collection", "docs", "--probes", "0", "--m", "24", "--ef_construct", "200"], s)
        XCTAssertTrue(dry.stdout.contains("would set m 16 -> 24, ef_construct 100 -> 200"), dry.stdout)
        XCTAssertEqual(lua("local h = require('opsh.qdrant').connect():collection('docs').config.hnsw_config print(h.m, h.ef_construct)", s), "16\t100\n")
        let set = run(["run", "qdrant/search-performance", "--collection", "docs", "--probes", "0", "--m", "24", "--ef_construct", "200"], s)
        XCTAssertEqual(set.status, 0, set.stdout)
        XCTAssertEqual(lua("local h = require('opsh.qdrant').connect():collection('docs').config.hnsw_config print(h.m, h.ef_construct)", s), "24\t200\n")
    }

    func testSnapshotCreateListDownloadPrune() throws {
        let s = try QdrantStandin()
        seed(s)
        let dir = Harness.tempDir("qsnap")
        let made = run(["--json", "run", "qdrant/snapshot", "--download", dir.path], s)
        XCTAssertEqual(made.status, 0, made.stdout + made.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(files[0].hasPrefix("docs-") && files[0].hasSuffix(".snapshot"))
        // the file is what the server holds, byte for byte
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent(files[0])),
                       try Data(contentsOf: s.snapshots.appendingPathComponent("docs/\(files[0])")))
        sleep(1)   // snapshot names have one-second resolution
        XCTAssertEqual(run(["run", "qdrant/snapshot"], s).status, 0)
        sleep(1)
        XCTAssertEqual(run(["run", "qdrant/snapshot", "--full"], s).status, 0)
        let list = run(["--json", "run", "qdrant/snapshots"], s)
        XCTAssertEqual(list.status, 0, list.stdout)
        let c = try checks(list)
        XCTAssertEqual((c["qdrant.snapshots.docs"]!["metrics"] as! [String: Any])["count"] as? Int, 2)
        XCTAssertEqual((c["qdrant.snapshots.full"]!["metrics"] as! [String: Any])["count"] as? Int, 1)
        let old = run(["run", "qdrant/snapshots", "--max_age", "0s"], s)
        XCTAssertEqual(old.status, 1, old.stdout)
        let dl = run(["run", "qdrant/snapshot-download", "--full", "--dir", dir.path + "/full"], s)
        XCTAssertEqual(dl.status, 0, dl.stdout)
        XCTAssertTrue(dl.stdout.contains("matches Qdrant's checksum"))
        // prune: destructive, so it needs --yes; the newest is kept
        let refused = run(["run", "qdrant/snapshot-prune", "--keep", "1"], s)
        XCTAssertNotEqual(refused.status, 0)
        let pruned = run(["--yes", "run", "qdrant/snapshot-prune", "--keep", "1"], s)
        XCTAssertEqual(pruned.status, 0, pruned.stdout)
        XCTAssertTrue(pruned.stdout.contains("deleted 1 ("), pruned.stdout)
        let left = try FileManager.default.contentsOfDirectory(atPath: s.snapshots.appendingPathComponent("docs").path).sorted()
        XCTAssertEqual(left.count, 2, "one snapshot and its .checksum: \(left)")
        XCTAssertFalse(left.contains(files[0]), "the older snapshot is the one deleted")
        XCTAssertEqual(run(["--yes", "run", "qdrant/snapshot-prune", "--keep", "0"], s).status, 3)
    }

    func testSnapshotRestoreFromTheServerAndFromAFile() throws {
        let s = try QdrantStandin()
        seed(s)
        let dir = Harness.tempDir("qrestore")
        XCTAssertEqual(run(["run", "qdrant/snapshot", "--download", dir.path], s).status, 0)
        let file = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path).first)
        let count = "print(require('opsh.qdrant').connect():count('docs'))"
        _ = lua("assert(require('opsh.qdrant').connect():delete_points('docs', { points = { 1, 2, 3, 4, 5 } }))", s)
        XCTAssertEqual(lua(count, s), "295\n")
        // destructive: refused without --yes; exactly one source
        XCTAssertNotEqual(run(["run", "qdrant/snapshot-restore", "--collection", "docs", "--name", "latest"], s).status, 0)
        XCTAssertEqual(run(["--yes", "run", "qdrant/snapshot-restore", "--collection", "docs"], s).status, 3)
        let dry = run(["--dry-run", "--yes", "run", "qdrant/snapshot-restore", "--collection", "docs", "--name", "latest"], s)
        XCTAssertTrue(dry.stdout.contains("would restore docs from \(s.url)/collections/docs/snapshots/"), dry.stdout)
        XCTAssertEqual(lua(count, s), "295\n")
        // from the server's own newest snapshot
        let r = run(["--yes", "run", "qdrant/snapshot-restore", "--collection", "docs", "--name", "latest"], s)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("295 points before, 300 after; green"), r.stdout)
        XCTAssertEqual(lua(count, s), "300\n")
        // from the file on this host, into a collection that does not exist yet
        let f = run(["--yes", "run", "qdrant/snapshot-restore", "--collection", "copy", "--file", dir.appendingPathComponent(file).path], s)
        XCTAssertEqual(f.status, 0, f.stdout + f.stderr)
        XCTAssertTrue(f.stdout.contains("no collection points before, 300 after"), f.stdout)
        // a wrong checksum is refused by Qdrant and changes nothing
        let bad = run(["--yes", "run", "qdrant/snapshot-restore", "--collection", "copy", "--file", dir.appendingPathComponent(file).path,
                       "--checksum", String(repeating: "0", count: 64)], s)
        XCTAssertEqual(bad.status, 2, bad.stdout)
        XCTAssertEqual(lua("print(require('opsh.qdrant').connect():count('copy'))", s), "300\n")
    }

    func testIncidentNotification() throws {
        let receiver = try HTTPTestServer()
        defer { receiver.stop() }
        let s = try QdrantStandin()
        let r = run(["--json", "run", "incident/notify", "--severity", "p1", "--description", "Qdrant is down"], s,
                    env: ["SLACK_WEBHOOK_URL": receiver.url + "/record/slack"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let got = receiver.received
        XCTAssertEqual(got.count, 1)
        let body = try JSONSerialization.jsonObject(with: Data(got[0]["body"]!.utf8)) as! [String: Any]
        XCTAssertEqual(body["text"] as? String, ":rotating_light: INCIDENT ALERT - CRITICAL")
        let text = (((body["blocks"] as! [[String: Any]])[0])["text"] as! [String: Any])["text"] as! String
        let id = try XCTUnwrap(text.range(of: #"INC-\d{8}-\d{6}-[0-9a-f]{4}"#, options: .regularExpression).map { String(text[$0]) })
        XCTAssertTrue(text.contains("*Severity:* CRITICAL\n*Description:* Qdrant is down\n*Time:* "), text)
        XCTAssertTrue(r.stdout.contains(id), "the report names the incident id")
        // retries through two failures; a 404 is not retried and is CRITICAL
        let flaky = run(["run", "incident/notify", "--severity", "HIGH", "--description", "x", "--webhook", receiver.url + "/flaky/2"], s)
        XCTAssertEqual(flaky.status, 0, flaky.stdout)
        XCTAssertTrue(flaky.stdout.contains("(HIGH) delivered after 3 attempts"), flaky.stdout)
        let gone = run(["run", "incident/notify", "--severity", "P3", "--description", "x", "--webhook", receiver.url + "/status/404"], s)
        XCTAssertEqual(gone.status, 2, gone.stdout)
        XCTAssertTrue(gone.stdout.contains("HTTP 404"), gone.stdout)
        XCTAssertEqual(run(["run", "incident/notify", "--severity", "P9", "--description", "x"], s).status, 3)
    }
}
