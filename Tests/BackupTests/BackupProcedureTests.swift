import Foundation
import OpshTestSupport
import XCTest

/// lua/backup, lua/logs/archive and lua/config/version run as an operator runs them, against a
/// real redis-server and the Qdrant stand-in; the results are compared byte for byte.
final class BackupProcedureTests: XCTestCase {
    func checks(_ r: Run) -> [String: [String: Any]] {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let list = doc["checks"] as? [[String: Any]] else { XCTFail("not a report: \(r.stdout) \(r.stderr)"); return [:] }
        var out: [String: [String: Any]] = [:]
        for c in list { out[c["name"] as! String] = c }
        return out
    }

    func tree(_ root: String) -> String {
        sh("cd '\(root)' && find . -printf '%p %y %m %s %l\\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum").output
    }

    func testDailyBackupThenPointInTimeRecovery() throws {
        let work = Harness.tempDir("daily").path
        let redis = try RedisServer(extraArguments: ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"])
        defer { redis.stop() }
        _ = sh("(for i in $(seq 1 500); do echo \"SET user:$i name-$i\"; done) | redis-cli -p \(redis.port) > /dev/null")
        let qdrantAvailable = QdrantStandin.available
        let q = qdrantAvailable ? try QdrantStandin() : nil
        defer { q?.stop() }
        if let q {
            let seed = Harness.run(["-e", """
            local qdrant = require "opsh.qdrant"
            local c = qdrant.connect()
            assert(c:create_collection("docs", { vectors = { size = 4, distance = "Cosine" } }))
            local pts = {}
            for i = 1, 300 do pts[i] = { id = i, vector = { math.sin(i), math.cos(i), 1, 0.5 }, payload = { n = i } } end
            assert(c:upsert("docs", pts))
            """], env: ["QDRANT_URL": q.url])
            XCTAssertEqual(seed.status, 0, seed.stderr)
        }
        _ = sh("""
        mkdir -p \(work)/app/config/sub \(work)/app/data && echo 'a: 1' > \(work)/app/config/app.yml && echo nested > \(work)/app/config/sub/x
        echo 'QDRANT_URL=http://x' > \(work)/app/.env && chmod 644 \(work)/app/.env
        head -c 200000 /dev/urandom > \(work)/app/data/state.bin
        """)
        let original = tree("\(work)/app")
        var args = ["--yes", "--json", "run", "backup/daily", "--dir", "\(work)/backups", "--config_dirs", "\(work)/app/config",
                    "--env_file", "\(work)/app/.env", "--app_data", "\(work)/app/data", "--redis", "--redis_url", redis.url]
        if qdrantAvailable { args += ["--qdrant_collections", "docs"] }
        let env = ["QDRANT_URL": q?.url ?? "http://127.0.0.1:1"]
        let r = Harness.run(args, env: env, timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = checks(r)
        XCTAssertEqual(c["backup"]?["status"] as? String, "ok", "\(c)")
        XCTAssertEqual(c["backup.retention"]?["status"] as? String, "ok")
        let dir = sh("ls -d \(work)/backups/*-daily").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(sh("cd \(dir) && sha256sum -c --quiet SHA256SUMS && echo ok").output, "ok\n")
        XCTAssertEqual(sh("stat -c %a \(dir)/env").output, "600\n", "the .env copy is 0600")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/redis.rdb"))
        if qdrantAvailable {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/qdrant-docs.snapshot"))
            // the snapshot made for the backup is not left on the server
            let left = Harness.run(["-e", "print(#assert(require('opsh.qdrant').connect():snapshots('docs')))"], env: env)
            XCTAssertEqual(left.stdout, "0\n", left.stderr)
        }
        // verify at the data depth: the Qdrant snapshot recovered into a scratch collection
        let v = Harness.run(["--json", "run", "backup/verify", "--dir", "\(work)/backups", "--depth", "data"], env: env, timeout: 120)
        let vc = checks(v)
        XCTAssertEqual(vc["backup.verify"]?["status"] as? String, "ok", v.stdout)
        // the RDB loaded by a throwaway redis-server: the 500 keys of backup time
        XCTAssertEqual(vc["backup.verify.redis"]?["status"] as? String, "ok", v.stdout)
        XCTAssertTrue((vc["backup.verify.redis"]?["message"] as? String ?? "").contains("500 keys"), v.stdout)
        XCTAssertEqual(sh("ls -A \(work)/backups | grep -c verify").output, "0\n", "the scratch directory is removed")
        if qdrantAvailable {
            XCTAssertEqual(vc["backup.verify.qdrant"]?["status"] as? String, "ok", v.stdout)
            XCTAssertTrue((vc["backup.verify.qdrant"]?["message"] as? String ?? "").contains("300 points"), v.stdout)
        }
        // damage everything, then recover from the date
        _ = sh("rm -rf \(work)/app/config/sub && echo changed > \(work)/app/config/app.yml && echo junk > \(work)/app/data/extra && echo X=1 > \(work)/app/.env")
        if qdrantAvailable {
            _ = Harness.run(["-e", "assert(require('opsh.qdrant').connect():delete_points('docs', {points = {1, 2, 3}}))"], env: env)
        }
        let redisDir = "\(work)/redis-restore"
        _ = sh("mkdir -p \(redisDir)/appendonlydir && echo old > \(redisDir)/appendonlydir/x.aof")
        // --dry-run first: nothing changes
        let before = tree("\(work)/app")
        let dry = Harness.run(["--dry-run", "--json", "run", "backup/restore", "--dir", "\(work)/backups", "--date", "now", "--redis_dir", redisDir], env: env, timeout: 120)
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
        XCTAssertEqual(tree("\(work)/app"), before)
        XCTAssertTrue(dry.stdout.contains("would restore onto"), dry.stdout)
        let rr = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", "\(work)/backups", "--date", "now", "--redis_dir", redisDir], env: env, timeout: 120)
        XCTAssertEqual(rr.status, 1, rr.stdout + rr.stderr)   // WARNING: the AOF directory was moved aside
        let rc = checks(rr)
        XCTAssertEqual(rc["restore.redis.aof"]?["status"] as? String, "warning", rr.stdout)
        XCTAssertEqual(rc["restore.redis.rdb"]?["status"] as? String, "ok", rr.stdout)
        XCTAssertEqual(tree("\(work)/app"), original, "trees and .env back byte for byte")
        XCTAssertEqual(sh("ls \(redisDir)").output.split(separator: "\n").filter { $0.hasPrefix("appendonlydir.before-restore-") }.count, 1)
        // the restored RDB loads: the same 500 keys
        let loaded = try RedisServer(extraArguments: ["--dir", redisDir, "--dbfilename", "dump.rdb"])
        defer { loaded.stop() }
        XCTAssertEqual(sh("redis-cli -p \(loaded.port) DBSIZE").output, "500\n")
        if qdrantAvailable {
            XCTAssertEqual(rc["restore.health.qdrant"]?["status"] as? String, "ok", rr.stdout)
            let n = Harness.run(["-e", "print(require('opsh.qdrant').connect():count('docs'))"], env: env)
            XCTAssertEqual(n.stdout, "300\n", n.stderr)
        }
    }

    /// The emergency backup takes every source now, with zstd, verifies it, and deletes nothing:
    /// not the older backups of any tier, not what is not a backup, however many there are.
    func testEmergencyBackupTakesEverythingAndDeletesNothing() throws {
        let work = Harness.tempDir("emergency").path
        let redis = try RedisServer(extraArguments: ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"])
        defer { redis.stop() }
        _ = sh("(for i in $(seq 1 200); do echo \"SET session:$i s-$i\"; done) | redis-cli -p \(redis.port) > /dev/null")
        _ = sh("""
        mkdir -p \(work)/app/config \(work)/app/data \(work)/backups/manual-copy && echo 'a: 1' > \(work)/app/config/app.yml
        echo 'REDIS_URL=redis://x' > \(work)/app/.env && head -c 100000 /dev/urandom > \(work)/app/data/state.bin
        echo mine > \(work)/backups/notes.txt && echo keep > \(work)/backups/manual-copy/f
        """)
        // eight older daily backups: far more than any retention would keep
        for _ in 0..<8 {
            let d = Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/backups", "--config_dirs", "\(work)/app/config", "--no-retention"])
            XCTAssertEqual(d.status, 0, d.stdout + d.stderr)
        }
        let before = tree("\(work)/backups")
        let r = Harness.run(["--yes", "--json", "run", "backup/emergency", "--dir", "\(work)/backups", "--config_dirs", "\(work)/app/config",
                             "--env_file", "\(work)/app/.env", "--app_data", "\(work)/app/data", "--redis", "--redis_url", redis.url,
                             "--reason", "disk failing on node 2"], env: ["QDRANT_URL": "http://127.0.0.1:1"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(checks(r)["backup"]?["status"] as? String, "ok", r.stdout)
        let made = sh("ls -d \(work)/backups/*-emergency").output.split(separator: "\n").map(String.init)
        XCTAssertEqual(made.count, 1, sh("ls -la \(work)/backups").output)
        let dir = made[0]
        XCTAssertEqual(sh("cd \(dir) && sha256sum -c --quiet SHA256SUMS && echo ok").output, "ok\n")
        XCTAssertEqual(sh("ls \(dir) | grep -c 'tar.zst$'").output, "2\n", sh("ls \(dir)").output)   // zstd: config and app data
        XCTAssertEqual(sh("stat -c %a \(dir)/env").output, "600\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/redis.rdb"))
        let manifest = try String(contentsOfFile: "\(dir)/manifest.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("disk failing on node 2"), manifest)
        // nothing that was there changed or went away
        let after = tree("\(work)/backups")
        // (the root directory's own line changes with its new entry)
        let kept = before.split(separator: "\n").filter { !$0.hasPrefix(". d ") && !after.contains($0) }
        XCTAssertEqual(kept, [], "entries changed or removed by the emergency backup")
        XCTAssertEqual(sh("ls -d \(work)/backups/*-daily* | wc -l").output, "8\n")
        // the default recovery never picks the emergency backup; asked for by tier, it is there
        let dry = Harness.run(["--dry-run", "--json", "run", "backup/restore", "--dir", "\(work)/backups", "--date", "now", "--to", "\(work)/out"])
        let chosen = checks(dry)["restore.backup"]?["message"] as? String ?? ""
        XCTAssertTrue(chosen.range(of: #"^\d{8}T\d{6}Z-daily(-\d+)? "#, options: .regularExpression) != nil, chosen)
        let asked = Harness.run(["--dry-run", "--json", "run", "backup/restore", "--dir", "\(work)/backups", "--tier", "emergency", "--to", "\(work)/out"])
        XCTAssertTrue(asked.stdout.contains(dir.split(separator: "/").last.map(String.init) ?? "?"), asked.stdout)
    }

    func testRecoveryPicksTheNewestBackupAtOrBeforeTheDate() {
        let work = Harness.tempDir("pitr").path
        _ = sh("mkdir -p \(work)/src && echo v1 > \(work)/src/f")
        for tier in ["daily", "weekly"] {
            let r = Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", "\(work)/src", "--tier", tier, "--no-retention"])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            _ = sh("echo v2 > \(work)/src/f")
            sleep(1)
        }
        // rename the first backup into the past (its manifest's time too)
        _ = sh("""
        cd \(work)/b && old=$(ls -d *-daily) && new=20200101T000000Z-daily && mv $old $new && \
        python3 -c "import json;p='$new/manifest.json';m=json.load(open(p));m['name']='$new';m['created_unix']=1577836800;json.dump(m,open(p,'w'))"
        """)
        let r = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", "\(work)/b", "--date", "2020-01-01", "--to", "\(work)/out"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("20200101T000000Z-daily"), r.stdout)
        XCTAssertEqual(sh("cat \(work)/out/config-src/f").output, "v1\n")
        let none = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", "\(work)/b", "--date", "2019-12-31", "--to", "\(work)/out2"])
        XCTAssertEqual(none.status, 2, none.stdout)
        XCTAssertTrue(none.stdout.contains("no complete backup"), none.stdout)
    }

    /// A tree named by a relative path goes back where it was, whatever the restore's current
    /// directory; an emergency backup taken after it is not the default choice.
    func testRelativeSourceGoesBackToItsOwnPlaceNotTheRestoresDirectory() {
        let work = Harness.tempDir("relative").path
        _ = sh("mkdir -p \(work)/app/conf \(work)/elsewhere && echo v1 > \(work)/app/conf/f")
        let app = URL(fileURLWithPath: "\(work)/app"), elsewhere = URL(fileURLWithPath: "\(work)/elsewhere")
        let b = Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", "conf", "--no-retention"], cwd: app)
        XCTAssertEqual(b.status, 0, b.stdout + b.stderr)
        _ = sh("echo damaged > \(work)/app/conf/f")
        sleep(1)
        let e = Harness.run(["--yes", "run", "backup/emergency", "--dir", "\(work)/b", "--config_dirs", "conf"], cwd: app)
        XCTAssertEqual(e.status, 0, e.stdout + e.stderr)
        let r = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", "\(work)/b"], cwd: elsewhere)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("-daily (daily"), r.stdout)
        XCTAssertTrue(r.stdout.contains("not the newer emergency backup"), r.stdout)
        XCTAssertEqual(sh("cat \(work)/app/conf/f").output, "v1\n", "restored to the directory it was taken from")
        XCTAssertEqual(sh("ls -A \(work)/elsewhere").output, "", "nothing restored relative to the restore's directory")
    }

    func testLogArchivingWithRetention() {
        let work = Harness.tempDir("logs").path
        _ = sh("""
        mkdir -p \(work)/log && echo new > \(work)/log/app.log && echo old > \(work)/log/old.log && echo keep > \(work)/log/notes.txt
        touch -d '40 days ago' \(work)/log/old.log \(work)/log/notes.txt
        mkdir -p \(work)/b/logs/20200102T000000Z-logs && echo '{}' > \(work)/b/logs/20200102T000000Z-logs/manifest.json
        """)
        let r = Harness.run(["--yes", "--json", "run", "logs/archive", "--log_dir", "\(work)/log", "--dir", "\(work)/b"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(sh("ls \(work)/log").output, "app.log\nnotes.txt\n", "only *.log older than 30 days deleted")
        let arch = sh("ls -d \(work)/b/logs/*-logs | grep -v 20200102").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(sh("tar -tzf \(arch)/logs.tar.gz | sort").output, "./\napp.log\nnotes.txt\nold.log\n")
        XCTAssertEqual(sh("cat \(work)/b/logs/20200102T000000Z-logs/manifest.json").output, "{}\n", "not opsh's: left alone")
        // a real archive from 2020 (its manifest's time too) is past the 30 days: deleted by the next run
        _ = sh("""
        cd \(work)/b/logs && new=20200101T000000Z-logs && cp -a \(arch) $new && \
        python3 -c "import json;p='$new/manifest.json';m=json.load(open(p));m['name']='$new';m['created_unix']=1577836800;json.dump(m,open(p,'w'))"
        """)
        let again = Harness.run(["--yes", "--json", "run", "logs/archive", "--log_dir", "\(work)/log", "--dir", "\(work)/b"])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/b/logs/20200101T000000Z-logs"), "older than the logs tier's 30 days")
        XCTAssertTrue(FileManager.default.fileExists(atPath: arch), "within 30 days")
        XCTAssertEqual(sh("cat \(work)/b/logs/20200102T000000Z-logs/manifest.json").output, "{}\n", "not opsh's: left alone")
    }

    func testConfigVersionWritesMetadata() {
        let work = Harness.tempDir("cfg").path
        _ = sh("mkdir -p \(work)/config && echo 'x: 1' > \(work)/config/a.yml && echo 'services: {}' > \(work)/docker-compose.yml && echo 'K=v' > \(work)/.env")
        let r = Harness.run(["--json", "run", "config/version", "--config_dir", "\(work)/config", "--compose_file", "\(work)/docker-compose.yml",
                             "--env_file", "\(work)/.env", "--dir", "\(work)/b", "--description", "before the TLS change"], env: ["USER": "alice"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let dir = sh("ls -d \(work)/b/config/*-config").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let meta = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/metadata.json")))) as? [String: Any]
        XCTAssertEqual(meta?["operator"] as? String, "alice")
        XCTAssertEqual(meta?["description"] as? String, "before the TLS change")
        XCTAssertNotNil(meta?["version"] as? String)
        XCTAssertNotNil(meta?["timestamp"] as? String)
        XCTAssertEqual(sh("stat -c %a \(dir)/env; cat \(dir)/env").output, "600\nK=v\n")
        XCTAssertEqual(sh("cd \(dir) && sha256sum -c --quiet SHA256SUMS && echo ok").output, "ok\n")
    }

    func testConfigValidateYAMLEnvAndConnectivity() throws {
        let work = Harness.tempDir("validate").path
        let redis = try RedisServer()
        defer { redis.stop() }
        _ = sh("""
        mkdir -p \(work)/config
        printf 'server:\\n  port: 80\\n  hosts: [a, b]\\n' > \(work)/config/good.yml
        printf 'a: 1\\n  b: 2\\n' > \(work)/config/bad.yaml
        printf 'QDRANT_URL=http://127.0.0.1:1\\nREDIS_URL=\(redis.url)\\nOPENAI_API_KEY=\\n# EMBEDDING_MODEL=x\\n' > \(work)/.env
        """)
        let r = Harness.run(["--json", "run", "config/validate", "--config_dir", "\(work)/config", "--env_file", "\(work)/.env"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let c = checks(r)
        let yamlMsg = c["config.yaml"]?["message"] as? String ?? ""
        XCTAssertTrue(yamlMsg.contains("bad.yaml: line 2, column 4: mapping values are not allowed"), yamlMsg)
        XCTAssertFalse(yamlMsg.contains("good.yml"), yamlMsg)
        XCTAssertEqual(c["config.env"]?["message"] as? String, "missing required variables in \(work)/.env: OPENAI_API_KEY, EMBEDDING_MODEL")
        XCTAssertEqual(c["config.connectivity.redis"]?["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(c["config.connectivity.qdrant"]?["status"] as? String, "critical", r.stdout)
        // all fixed: OK
        _ = sh("rm \(work)/config/bad.yaml && printf 'QDRANT_URL=http://127.0.0.1:1\\nREDIS_URL=\(redis.url)\\nOPENAI_API_KEY=sk-x\\nEMBEDDING_MODEL=m\\n' > \(work)/.env")
        let ok = Harness.run(["--json", "run", "config/validate", "--config_dir", "\(work)/config", "--env_file", "\(work)/.env", "--no-connectivity"])
        XCTAssertEqual(ok.status, 0, ok.stdout)
    }

    /// --dry-run: the procedures say what they would do and write nothing at all.
    func testDryRunWritesNothing() {
        let work = Harness.tempDir("dry").path
        _ = sh("mkdir -p \(work)/src && echo x > \(work)/src/f")
        for args in [["run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", "\(work)/src", "--no-redis"],
                     ["run", "backup/retention", "--dir", "\(work)/b"],
                     ["run", "config/version", "--config_dir", "\(work)/src", "--dir", "\(work)/b"],
                     ["run", "logs/archive", "--log_dir", "\(work)/src", "--dir", "\(work)/b"]] {
            let r = Harness.run(["--dry-run", "--yes"] + args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stdout) \(r.stderr)")
            // what they would do is in the report (the dry-run channel), not on stderr
            if args[1] != "backup/retention" { XCTAssertTrue(r.stdout.contains("\n  would: "), "\(args): \(r.stdout)") }
            XCTAssertFalse(r.stderr.contains("would: "), "\(args): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/b"), "\(args) wrote something")
        }
        XCTAssertEqual(sh("ls \(work)/src").output, "f\n")
    }
}
