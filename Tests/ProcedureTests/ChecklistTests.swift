import Foundation
import OpshTestSupport
import XCTest

/// The guide's daily checklists (checklist/morning, midday, evening) and the procedures they
/// add: backup/status (read from the catalog, never a new backup), perf/embedding (the API's
/// /metrics), maintenance/temp-cleanup. Real redis-server, the Qdrant stand-in, real files; no
/// Docker engine at the configured address, so the service parts report that and the rest runs.
final class ChecklistTests: XCTestCase {
    let noDocker = "unix:///nonexistent/docker.sock"

    func checks(_ r: Run) -> [[String: Any]] {
        XCTAssertFalse(r.checks.isEmpty, "not a report: \(r.stdout) \(r.stderr)")
        return r.checks
    }

    func byName(_ r: Run) -> [String: [String: Any]] { r.checksByName }

    func sh(_ script: String) -> String { Shell.run(["sh", "-c", script]).stdout }

    /// A backup root with one daily backup of a small tree, made by backup/daily.
    func dailyBackup(_ work: String) {
        _ = sh("mkdir -p \(work)/conf && echo a > \(work)/conf/f")
        let b = Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", "\(work)/conf", "--no-retention"])
        XCTAssertEqual(b.status, 0, b.stdout + b.stderr)
    }

    /// Moves a backup into the past: its directory name and its manifest's time.
    func age(_ root: String, tier: String, to stamp: String, unix: Int) {
        _ = sh("""
        cd \(root) && old=$(ls -d *-\(tier) | head -1) && new=\(stamp)-\(tier) && mv $old $new && \
        python3 -c "import json;p='$new/manifest.json';m=json.load(open(p));m['name']='$new';m['created_unix']=\(unix);m['created']='x';json.dump(m,open(p,'w'))"
        """)
    }

    func testBackupStatusReadsTheCatalogAgeAndInterruptedRuns() {
        let work = Harness.tempDir("bstatus").path
        dailyBackup(work)
        let before = sh("ls \(work)/b")
        var r = Harness.run(["--json", "run", "backup/status", "--dir", "\(work)/b", "--tiers", "daily", "--verify"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue((byName(r)["backup.status.daily"]?["message"] as? String ?? "").contains("-daily, "), r.stdout)
        XCTAssertTrue(r.stdout.contains("verified (") , r.stdout)
        XCTAssertEqual(sh("ls \(work)/b"), before, "reading the status writes nothing")
        // a weekly tier with no backup at all
        r = Harness.run(["--json", "run", "backup/status", "--dir", "\(work)/b"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertEqual(byName(r)["backup.status.weekly"]?["status"] as? String, "critical")
        XCTAssertTrue(r.stdout.contains("no complete weekly backup"), r.stdout)
        // an interrupted run after the newest backup
        _ = sh("mkdir -p \(work)/b/20991231T000000Z-daily.partial")
        r = Harness.run(["--json", "run", "backup/status", "--dir", "\(work)/b", "--tiers", "daily"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("a later run was interrupted (20991231T000000Z-daily.partial)"), r.stdout)
        _ = sh("rm -rf \(work)/b/20991231T000000Z-daily.partial")
        // two days old: the last night's backup did not complete
        age("\(work)/b", tier: "daily", to: "20200101T000000Z", unix: Int(Date().timeIntervalSince1970) - 2 * 86400)
        r = Harness.run(["--json", "run", "backup/status", "--dir", "\(work)/b", "--tiers", "daily"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("older than 1d2h"), r.stdout)
        r = Harness.run(["--json", "run", "backup/status", "--dir", "\(work)/b", "--tiers", "daily", "--max_age", "daily=3d"])
        XCTAssertEqual(r.status, 0, r.stdout)
        // a damaged backup does not verify
        _ = sh("cd \(work)/b/*-daily && f=$(ls *.tar.gz | head -1) && printf x >> $f")
        r = Harness.run(["--json", "run", "backup/status", "--dir", "\(work)/b", "--tiers", "daily", "--max_age", "daily=3d", "--verify"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("it does NOT verify"), r.stdout)
    }

    func testMorningComposesItsPartsAndTakesNoBackup() throws {
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        let work = Harness.tempDir("morning").path
        dailyBackup(work)
        let before = sh("ls \(work)/b")
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "TASK_QUEUE_REDIS_URL": redis.url + "/1",
                   "DOCKER_HOST": noDocker, "BACKUP_DIR": "\(work)/b"]
        let r = Harness.run(["--json", "run", "checklist/morning", "--skip", "health"], env: env, timeout: 120)
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)   // the containers' logs cannot be read (no engine): UNKNOWN
        let names = checks(r).map { $0["name"] as! String }
        let c = byName(r)
        XCTAssertEqual(c["backup.status.daily"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(sh("ls \(work)/b"), before, "the morning checklist takes no backup")
        // the log files and the journal through logs/scan (none here at the guide's /var/log/ai-docs: said so)
        XCTAssertNotNil(c["logs.errors"], r.stdout)
        XCTAssertTrue((c["logs.input"]?["message"] as? String ?? "").contains("no file matches this pattern"), r.stdout)
        XCTAssertNotNil(names.first { $0.hasPrefix("system.capacity") }, "the trends part runs system/capacity: \(names)")
        XCTAssertNotNil(names.first { $0.hasPrefix("cache.") }, "\(names)")
        XCTAssertTrue(checks(r).contains { ($0["message"] as? String ?? "").contains("/nonexistent/docker.sock") }, "the log review says why it cannot read")
        // in the checklist's order: logs, backups, cache, trends (system/capacity)
        func first(_ p: String) -> Int { names.firstIndex { $0.hasPrefix(p) } ?? -1 }
        XCTAssertLessThan(first("logs."), first("backup.status"))
        XCTAssertLessThan(first("backup.status"), first("cache."))
        XCTAssertLessThan(first("cache."), first("system.capacity"))
    }

    func testMiddayReadsEmbeddingMetricsFromTheAPI() throws {
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        let seed = qdrant.seed("documents", points: 20)
        XCTAssertEqual(seed.status, 0, seed.stderr)
        // the API's /metrics: a histogram and a counter of embedding generation
        let site = Harness.tempDir("api")
        _ = Harness.write("""
        # TYPE embedding_generation_seconds histogram
        embedding_generation_seconds_bucket{le="0.1"} 3
        embedding_generation_seconds_bucket{le="+Inf"} 4
        embedding_generation_seconds_sum 0.6
        embedding_generation_seconds_count 4
        # TYPE embedding_errors_total counter
        embedding_errors_total 2
        http_requests_total 99
        """, to: "metrics", in: site)
        let api = try StaticSite(directory: site)
        defer { api.stop() }
        let port = api.port
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "TASK_QUEUE_REDIS_URL": redis.url + "/1"]
        // where no API answers: UNKNOWN, and why
        let nowhere = Harness.write("return { api_url = 'http://127.0.0.1:\(RedisServer.freePort())' }", to: "config.lua")
        var r = Harness.run(["--json", "--config", nowhere, "run", "checklist/midday"], env: env, timeout: 120)
        var c = byName(r)
        XCTAssertEqual(c["embedding"]?["status"] as? String, "unknown", r.stdout)
        XCTAssertTrue((c["embedding"]?["message"] as? String ?? "").contains("cannot be read here"), r.stdout)
        let config = Harness.write("return { api_url = 'http://127.0.0.1:\(port)' }", to: "config.lua")
        r = Harness.run(["--json", "--config", config, "run", "checklist/midday"], env: env, timeout: 120)
        c = byName(r)
        XCTAssertEqual(c["embedding.embedding_generation_seconds"]?["message"] as? String, "4 observations, mean 150.0 ms", r.stdout)
        XCTAssertEqual(c["embedding.embedding_errors_total"]?["message"] as? String, "2", r.stdout)
        XCTAssertNil(c["embedding.http_requests_total"])
        // on its own, with --url and another name filter
        let alone = Harness.run(["--json", "run", "perf/embedding", "--url", "http://127.0.0.1:\(port)", "--match", "http_requests"])
        XCTAssertEqual(alone.status, 0, alone.stdout + alone.stderr)
        XCTAssertEqual(byName(alone)["embedding.http_requests_total"]?["message"] as? String, "99", alone.stdout)
        let names = checks(r).map { $0["name"] as! String }
        for p in ["sessions.", "queue.", "qdrant.search.", "embedding."] {
            XCTAssertNotNil(names.first { $0.hasPrefix(p) }, "\(p) missing: \(names)")
        }
        func first(_ p: String) -> Int { names.firstIndex { $0.hasPrefix(p) } ?? -1 }
        XCTAssertLessThan(first("queue."), first("qdrant.search."))
        XCTAssertLessThan(first("qdrant.search."), first("embedding."))
    }

    func testEveningCleansOldTempFilesAndSendsTheDailyReport() throws {
        let redis = try RedisServer()
        let qdrant = try QdrantStandin()
        let hook = try HTTPTestServer()
        defer { hook.stop() }
        let work = Harness.tempDir("evening").path
        dailyBackup(work)
        _ = sh("""
        mkdir -p \(work)/tmp/sub \(work)/logs && echo old > \(work)/tmp/sub/old.bin && touch -d '10 days ago' \(work)/tmp/sub/old.bin && \
        echo new > \(work)/tmp/new.bin && echo line > \(work)/logs/app.log
        """)
        let config = Harness.write("""
        return { temp_dirs = { '\(work)/tmp' }, slack_webhook_url = '\(hook.url)/record/slack',
                 prometheus_url = 'http://127.0.0.1:1', backup_dir = '\(work)/b' }
        """, to: "config.lua")
        let env = ["QDRANT_URL": qdrant.url, "REDIS_URL": redis.url, "TASK_QUEUE_REDIS_URL": redis.url + "/1", "DOCKER_HOST": noDocker]
        // nothing configured: maintenance/temp-cleanup deletes nothing and says so
        let bare = Harness.run(["--yes", "run", "maintenance/temp-cleanup"])
        XCTAssertEqual(bare.status, 0, bare.stdout + bare.stderr)
        XCTAssertTrue(bare.stdout.contains("no temporary directories configured (temp_dirs, or --dirs): nothing cleaned"), bare.stdout)
        // a dry run deletes nothing and sends nothing
        var r = Harness.run(["--json", "--dry-run", "--config", config, "run", "checklist/evening", "--skip", "health"], env: env, timeout: 120)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(work)/tmp/sub/old.bin"), r.stdout)
        XCTAssertTrue(hook.received.isEmpty)
        r = Harness.run(["--json", "--yes", "--config", config, "run", "checklist/evening", "--skip", "health"], env: env, timeout: 120)
        let c = byName(r)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/tmp/sub/old.bin"), r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(work)/tmp/new.bin"), "a recent file stays")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(work)/tmp/sub"), "directories stay")
        XCTAssertTrue((c["temp.\(work)/tmp"]?["message"] as? String ?? "").hasPrefix("deleted 1 file(s) older than 7d"), r.stdout)
        // the agent has not run here: its history is missing, a warning
        XCTAssertTrue((c["schedule.history"]?["message"] as? String ?? "").contains("the agent has not run here"), r.stdout)
        XCTAssertEqual(c["report"]?["status"] as? String, "ok", r.stdout)
        XCTAssertTrue((c["report"]?["message"] as? String ?? "").hasPrefix("daily status report sent ("), r.stdout)
        let sent = hook.received
        XCTAssertEqual(sent.count, 1, "\(sent)")
        let text = ((try? JSONSerialization.jsonObject(with: Data((sent.first?["body"] ?? "").utf8)) as? [String: Any])?["text"] as? String) ?? ""
        XCTAssertTrue(text.contains("Daily status report "), text)
        XCTAssertTrue(text.contains("Backups: CRITICAL") && text.contains("[OK] backup.status.daily: newest "), text)
        XCTAssertTrue(text.contains("no complete weekly backup"), text)
        XCTAssertTrue(text.contains("Scheduled tasks: WARNING"), text)
        XCTAssertTrue(text.contains("Incidents (CRITICAL now): "), text)
        XCTAssertTrue(text.contains("Cleanup: "), text)
        // the order of the guide: cleanup first, the report last
        let names = checks(r).map { $0["name"] as! String }
        XCTAssertEqual(names.first.map { $0.hasPrefix("temp.") }, true, "\(names)")
        XCTAssertEqual(names.last, "report")
    }
}
