import Foundation
import OpshTestSupport
import XCTest

/// opsh.qdrant against the Qdrant-compatible server on Qdrant's own engine, faults included.
final class QdrantClientTests: XCTestCase {
    func opsh(_ script: String, _ server: QdrantStandin, flags: [String] = [], env: [String: String] = [:]) -> Run {
        var e = ["QDRANT_URL": server.url]
        for (k, v) in env { e[k] = v }
        return Harness.run(flags + ["-e", script], env: e, timeout: 120)
    }

    static let seed = """
        local qdrant = require "opsh.qdrant"
        local q = qdrant.connect()
        assert(q:create_collection("docs", { vectors = { size = 4, distance = "Cosine" } }))
        local pts = {}
        for i = 1, 200 do
          pts[i] = { id = i, vector = { math.sin(i), math.cos(i), math.sin(2 * i), 1 }, payload = { city = i % 2 == 0 and "Berlin" or "Paris", n = i } }
        end
        assert(q:upsert("docs", pts))
        """

    func testCollectionsPointsAndSettingsRoundTrip() throws {
        let s = try QdrantStandin()
        let r = opsh(Self.seed + """
            print(q:health().ok, q:ready().ok, q:live().message, q:version().version)
            print(table.concat(assert(q:collections()), ","), q:exists("docs"), q:exists("nope"))
            print(q:count("docs"), q:count("docs", { filter = { must = { { key = "city", match = { value = "Berlin" } } } } }))
            local found = assert(q:query("docs", { query = { math.sin(7), math.cos(7), math.sin(14), 1 }, limit = 3, with_payload = true }))
            print(#found, found[1].id, found[1].payload.n)
            local page, nxt = assert(q:scroll("docs", { limit = 50 }))
            print(#page, nxt)
            local n = 0; for _ in q:each_point("docs", { limit = 64 }) do n = n + 1 end; print("each", n)
            print(assert(q:update_collection("docs", { hnsw_config = { m = 32, ef_construct = 200 }, optimizers_config = { indexing_threshold = 1 } })))
            print(assert(q:create_index("docs", "city", "keyword")).status)
            local info = assert(q:wait_green("docs", { timeout = 60 }))
            print(info.status, info.config.hnsw_config.m, info.config.hnsw_config.ef_construct, info.config.optimizer_config.indexing_threshold, info.payload_schema.city.data_type)
            print(assert(q:create_alias("latest", "docs")), q:aliases()[1].alias_name, q:aliases("docs")[1].collection_name)
            print(assert(q:delete_points("docs", { points = { 1, 2, 3 } })).status, q:count("docs"))
            print(q:cluster().status, q:collection_cluster("docs").local_shards[1].points_count)
            local m = assert(q:metrics()); print(m.collections_total[1].value, m.app_info[1].labels.name)
            print(type(assert(q:telemetry()).id))
            print(assert(q:delete_alias("latest")), assert(q:delete_collection("docs")), q:exists("docs"))
            """, s)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            true\ttrue\thealthz check passed\t1.19.0
            docs\ttrue\tfalse
            200\t100
            3\t7\t7
            50\t51
            each\t200
            true
            completed
            green\t32\t200\t1\tkeyword
            true\tlatest\tdocs
            completed\t197
            disabled\t197
            1.0\tqdrant
            string
            true\ttrue\tfalse

            """)
    }

    func testBodiesAreCheckedAgainstTheSpecBeforeSending() throws {
        let s = try QdrantStandin()
        let r = opsh(Self.seed + """
            local ok, err = q:update_collection("docs", { hnsw_config = { ef = 128, m = 64 } })
            print(ok, err.code, err.schema, err.errors[1])
            print(q:collection("docs").config.hnsw_config.m)
            ok, err = q:create_collection("bad", { vectors = { size = 4, distance = "cosine" } })
            print(ok, err.errors[1], q:exists("bad"))
            ok, err = q:request("POST", "/collections/docs/optimize")
            print(ok, err.code, err.message)
            """, s)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            nil\tinvalid_request\tUpdateCollection\thnsw_config.ef: unknown field (HnswConfigDiff has ef_construct, full_scan_threshold, inline_storage, m, max_indexing_threads, memory, on_disk, payload_m)
            16
            nil\tvectors.distance: "cosine" is not one of Cosine, Euclid, Dot, Manhattan\tfalse
            nil\tinvalid_request\tPOST /collections/docs/optimize is not a route of Qdrant 1.19.0

            """)
    }

    func testErrorsCarryQdrantsStatusAndText() throws {
        let s = try QdrantStandin()
        let r = opsh(Self.seed + """
            local ok, err = q:collection("missing")
            print(ok, err.code, err.status, err.error)
            ok, err = q:create_collection("docs", { vectors = { size = 4, distance = "Cosine" } })
            print(err.status, err.error)
            ok, err = q:upsert("docs", { { id = 1, vector = { 1, 2, 3 } } })
            print(err.status, err.error)
            print(tostring(err))
            """, s)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            nil\tqdrant\t404\tNot found: Collection `missing` doesn't exist!
            409\tWrong input: Collection `docs` already exists!
            400\tWrong input: Vector dimension error: expected dim: 4, got 3
            Qdrant PUT /collections/docs/points: HTTP 400: Wrong input: Vector dimension error: expected dim: 4, got 3

            """)
    }

    func testServerErrorsDownAndTimeouts() throws {
        // a server that answers every request with Qdrant's 500 envelope
        let dir = Harness.tempDir("q500")
        let port = RedisServer.freePort()
        let script = Harness.write("""
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            class H(BaseHTTPRequestHandler):
                def log_message(self, *a): pass
                def do_GET(self):
                    body = b'{"status":{"error":"Service internal error: disk failure"},"time":0.0}'
                    self.send_response(500); self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
            ThreadingHTTPServer(("127.0.0.1", \(port)), H).serve_forever()
            """, to: "q500.py", in: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script]
        try p.run()
        defer { kill(p.processIdentifier, SIGTERM); p.waitUntilExit() }
        var waited = 0
        while !RedisServer.accepts(port) && waited < 100 { usleep(50_000); waited += 1 }
        let slow = try QdrantStandin(["--delay-ms", "3000"])
        let r = Harness.run(["-e", """
            local qdrant = require "opsh.qdrant"
            local ok, err = qdrant.connect { url = "http://127.0.0.1:\(port)" }:collections()
            print(ok, err.code, err.status, err.error)
            ok, err = qdrant.connect { url = "http://127.0.0.1:\(RedisServer.freePort())" }:collections()
            print(ok, err.code)
            local t = require("opsh.time").monotonic()
            ok, err = qdrant.connect { url = "\(slow.url)", timeout = 0.5 }:request("GET", "/collections", { retries = 0 })
            print(ok, err.code, require("opsh.time").monotonic() - t < 2.5)
            local h = qdrant.connect { url = "\(slow.url)", timeout = 0.5 }:health()
            print(h)
            """], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\tqdrant\t500\tService internal error: disk failure\nnil\tconnect\nnil\ttimeout\ttrue\nnil\n")
    }

    func testDryRunSendsReadsAndRefusesChanges() throws {
        let s = try QdrantStandin()
        XCTAssertEqual(opsh(Self.seed, s).status, 0)
        let r = opsh("""
            local q = require("opsh.qdrant").connect()
            print(q:count("docs"), #assert(q:query("docs", { query = { 1, 0, 0, 1 }, limit = 2 })))
            local ch = assert(q:update_collection("docs", { hnsw_config = { m = 48 } }))
            print(ch.dry_run, ch.would)
            print(q:delete_collection("docs").dry_run, q:create_snapshot("docs").dry_run)
            print(q:collection("docs").config.hnsw_config.m, q:exists("docs"), #q:snapshots("docs"))
            """, s, flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "200\t2\ntrue\tPATCH \(s.url)/collections/docs (24 bytes)\ntrue\ttrue\n16\ttrue\t0\n")
        XCTAssertTrue(r.stderr.contains("would: PATCH \(s.url)/collections/docs"), r.stderr)
    }

    func testSnapshotsDownloadUploadAndRecoverByURL() throws {
        let s = try QdrantStandin()
        let dir = Harness.tempDir("snaps")
        let r = opsh(Self.seed + """
            local before = assert(q:query("docs", { query = { 0.3, 0.1, 0.9, 1 }, limit = 10 }))
            local snap = assert(q:create_snapshot("docs"))
            local list = assert(q:snapshots("docs"))
            print(#list, list[1].name == snap.name, #snap.checksum)
            local d = assert(q:download_snapshot("docs", snap.name, "\(dir.path)/docs.snapshot"))
            print(d.sha256 == snap.checksum, d.bytes == snap.size, require("opsh.crypto").sha256_file("\(dir.path)/docs.snapshot") == snap.checksum)
            assert(q:delete_collection("docs"))
            print(assert(q:recover_snapshot("docs", { file = "\(dir.path)/docs.snapshot" })))
            local after = assert(q:query("docs", { query = { 0.3, 0.1, 0.9, 1 }, limit = 10 }))
            local same = #after == #before
            for i = 1, #before do same = same and before[i].id == after[i].id end
            print(q:count("docs"), same)
            -- by URL: Qdrant downloads the snapshot from itself
            assert(q:delete_collection("docs"))
            print(assert(q:recover_snapshot("docs", { location = "\(s.url)/collections/other/snapshots/x" })) == nil)
            """, s)
        XCTAssertEqual(r.status, 1, "the last recover from a missing URL must fail: \(r.stdout) \(r.stderr)")
        XCTAssertTrue(r.stdout.hasPrefix("1\ttrue\t64\ntrue\ttrue\ttrue\ntrue\n200\ttrue\n"), r.stdout + r.stderr)
        // recovery from a URL that serves the snapshot, and a file:// outside the snapshots directory
        let r2 = opsh(Self.seed + """
            local snap = assert(q:create_snapshot("docs"))
            local url = "\(s.url)/collections/docs/snapshots/" .. snap.name
            assert(q:create_collection("copy", { vectors = { size = 4, distance = "Cosine" } }))
            print(assert(q:recover_snapshot("copy", { location = url, checksum = snap.checksum })), q:count("copy"))
            local ok, err = q:recover_snapshot("copy", { location = "file:///etc/passwd" })
            print(ok, err.status, err.error:match("^Forbidden") ~= nil)
            ok, err = q:recover_snapshot("copy", { location = url, checksum = string.rep("0", 64) })
            print(ok, err.status, q:count("copy"))
            """, s)
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertEqual(r2.stdout, "true\t200\nnil\t403\ttrue\nnil\t400\t200\n")
    }

    func testChecksumMismatchAndTruncatedDownloadsLeaveNoFile() throws {
        let s = try QdrantStandin()
        let dir = Harness.tempDir("bad-downloads")
        let made = opsh(Self.seed + "print(assert(q:create_snapshot('docs')).name)", s)
        XCTAssertEqual(made.status, 0, made.stderr)
        let name = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // one flipped byte in the archive on the server: its .checksum no longer fits
        let file = s.snapshots.appendingPathComponent("docs/\(name)")
        let h = try FileHandle(forUpdating: file)
        try h.seek(toOffset: 700)
        let b = try h.read(upToCount: 1)!
        try h.seek(toOffset: 700)
        try h.write(contentsOf: Data([b[0] ^ 0xff]))
        try h.close()
        let r = opsh("""
            local q = require("opsh.qdrant").connect()
            local ok, err = q:download_snapshot("docs", "\(name)", "\(dir.path)/docs.snapshot")
            print(ok, err.code, err.message:match("checksum mismatch") ~= nil)
            """, s)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "nil\tchecksum\ttrue\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "nothing may be left that looks like a download")

        let cut = try QdrantStandin(["--truncate-downloads"])
        let r2 = opsh(Self.seed + """
            local snap = assert(q:create_snapshot("docs"))
            local ok, err = q:download_snapshot("docs", snap.name, "\(dir.path)/cut.snapshot", { timeout = 20 })
            print(ok, err.code)
            """, cut)
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertEqual(r2.stdout.hasPrefix("nil\t"), true, r2.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testFullSnapshotsApiKeyAndMetricsPrefix() throws {
        let s = try QdrantStandin(["--api-key", "s3cret", "--metrics-prefix", "qdrant_"])
        let dir = Harness.tempDir("full")
        let r = opsh(Self.seed + """
            local full = assert(q:create_full_snapshot())
            print(full.name:match("^full%-snapshot%-") ~= nil, #assert(q:full_snapshots()))
            local d = assert(q:download_full_snapshot(full.name, "\(dir.path)/full.snapshot"))
            print(d.sha256 == full.checksum)
            print(assert(q:delete_full_snapshot(full.name)), #q:full_snapshots())
            local m = assert(q:metrics())
            print(m.collections_total[1].value, m.qdrant_collections_total, m.type.collections_total)
            local anon = require("opsh.qdrant").connect { api_key = false }
            print(anon:health().ok)
            local ok, err = anon:collections()
            print(ok, err.status, err.error)
            """, s, env: ["QDRANT_API_KEY": "s3cret", "QDRANT_METRICS_PREFIX": "qdrant_"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\t1\ntrue\ntrue\t0\n1.0\tnil\tgauge\ntrue\nnil\t401\tMust provide an API key or an Authorization bearer token\n")
    }
}
