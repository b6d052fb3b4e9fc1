import Foundation
import OpshTestSupport
import XCTest

/// dr/objectives on real backups of a real redis-server and the Qdrant stand-in: each kind's
/// newest backup that verifies against its RPO (at the real time and, under libfaketime, hours
/// later), a damaged backup passed over for the one before it, and the timed restore drill.
final class DRObjectivesTests: XCTestCase {
    func checks(_ r: Run) -> [String: [String: Any]] {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let list = doc["checks"] as? [[String: Any]] else { XCTFail("not a report: \(r.stdout) \(r.stderr)"); return [:] }
        var out: [String: [String: Any]] = [:]
        for c in list { out[c["name"] as! String] = c }
        return out
    }
    func status(_ c: [String: Any]?) -> String { c?["status"] as? String ?? "missing" }
    func message(_ c: [String: Any]?) -> String { c?["message"] as? String ?? "" }

    func testRecoveryPointsAndTheDrill() throws {
        guard QdrantStandin.available else { throw XCTSkip("the Qdrant stand-in needs qdrant-edge-py (scripts/setup installs it)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime") else {
            return XCTFail("faketime is not installed (scripts/setup installs it)")
        }
        let work = Harness.tempDir("dr").path
        let state = Harness.tempDir("drstate").path
        let redis = try RedisServer(extraArguments: ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"])
        defer { redis.stop() }
        let q = try QdrantStandin()
        defer { q.stop() }
        let env = ["QDRANT_URL": q.url, "REDIS_URL": redis.url, "OPSH_STATE_DIR": state]
        _ = sh("(for i in $(seq 1 50); do echo \"SET user:$i u$i\"; done) | redis-cli -p \(redis.port) > /dev/null")
        let seed = Harness.run(["-e", """
            local c = require("opsh.qdrant").connect()
            assert(c:create_collection("docs", { vectors = { size = 4, distance = "Cosine" } }))
            local pts = {}
            for i = 1, 40 do pts[i] = { id = i, vector = { math.sin(i), math.cos(i), 1, 0.5 } } end
            assert(c:upsert("docs", pts))
            """], env: env)
        XCTAssertEqual(seed.status, 0, seed.stderr)
        _ = sh("mkdir -p \(work)/app/config \(work)/logs && echo 'a: 1' > \(work)/app/config/app.yml && echo 'error x' > \(work)/logs/api.log")
        func daily() {
            let r = Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", "\(work)/app/config",
                                 "--redis", "--redis_url", redis.url, "--qdrant_collections", "docs", "--no-retention"], env: env, timeout: 120)
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        }
        daily()
        sleep(1)
        daily()
        let backups = sh("ls -d \(work)/b/*-daily*").output.split(separator: "\n").map(String.init).sorted()
        XCTAssertEqual(backups.count, 2)
        // nothing has archived the logs yet
        let now = Harness.run(["--json", "run", "dr/objectives", "--dir", "\(work)/b"], env: env, timeout: 120)
        XCTAssertEqual(now.status, 2, now.stdout + now.stderr)
        var c = checks(now)
        XCTAssertEqual(status(c["dr.rpo.vector_db"]), "ok", message(c["dr.rpo.vector_db"]))
        XCTAssertTrue(message(c["dr.rpo.vector_db"]).contains("worst collection: docs"))
        XCTAssertEqual(status(c["dr.rpo.configuration"]), "ok")
        XCTAssertEqual(status(c["dr.rpo.cache"]), "ok")
        XCTAssertEqual(status(c["dr.rpo.logs"]), "critical")
        XCTAssertTrue(message(c["dr.rpo.configuration"]).contains(backups[1].split(separator: "/").last!), message(c["dr.rpo.configuration"]))

        let logs = Harness.run(["--yes", "run", "logs/archive", "--log_dir", "\(work)/logs", "--dir", "\(work)/b"], env: env, timeout: 60)
        XCTAssertEqual(logs.status, 0, logs.stdout + logs.stderr)

        // the newest backup damaged: it does not count, the one before it does
        let rdb = backups[1] + "/redis.rdb"
        _ = sh("printf 'X' | dd of=\(rdb) bs=1 seek=20 conv=notrunc 2>/dev/null")
        c = checks(Harness.run(["--json", "run", "dr/objectives", "--dir", "\(work)/b"], env: env, timeout: 120))
        XCTAssertEqual(status(c["dr.rpo.logs"]), "ok", message(c["dr.rpo.logs"]))
        XCTAssertEqual(status(c["dr.backup." + backups[1].split(separator: "/").last!]), "warning")
        XCTAssertTrue(message(c["dr.rpo.cache"]).contains(backups[0].split(separator: "/").last!), message(c["dr.rpo.cache"]))

        // two hours later: the vector database's and the logs' 1-hour RPO are missed, the rest holds
        let later = Harness.run(["-f", "+7200", Harness.binary.path, "--json", "run", "dr/objectives", "--dir", "\(work)/b"],
                                env: env.merging(["FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"]) { $1 },
                                executable: URL(fileURLWithPath: "/usr/bin/faketime"), timeout: 120)
        XCTAssertEqual(later.status, 2, later.stdout + later.stderr)
        c = checks(later)
        XCTAssertEqual(status(c["dr.rpo.vector_db"]), "critical")
        XCTAssertTrue(message(c["dr.rpo.vector_db"]).contains("objective MISSED"))
        XCTAssertEqual(status(c["dr.rpo.logs"]), "critical")
        XCTAssertEqual(status(c["dr.rpo.configuration"]), "ok")

        // the drill: the newest backup that verifies, restored and its data recovered, in scratch
        let drill = Harness.run(["--json", "run", "dr/objectives", "--dir", "\(work)/b", "--drill"], env: env, timeout: 180)
        c = checks(drill)
        XCTAssertEqual(status(c["dr.rto.drill"]), "ok", drill.stdout + drill.stderr)
        XCTAssertTrue(message(c["dr.rto.drill"]).hasPrefix("restored " + backups[0].split(separator: "/").last!), message(c["dr.rto.drill"]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state + "/dr-drill"), [], "scratch left behind")
        let cols = Harness.run(["-e", "print(table.concat(require('opsh.qdrant').connect():collections(), ','))"], env: env)
        XCTAssertEqual(cols.stdout, "docs\n", "a scratch collection was left behind")
    }

    func testObjectivesFromTheConfigurationAreChecked() throws {
        let dir = Harness.tempDir("drcfg")
        let bad = Harness.write("return { dr = { rpo = { vector_db = \"soon\" } } }", to: "config.lua", in: dir)
        let r = Harness.run(["--config", bad, "run", "dr/objectives", "--dir", dir.path], env: ["QDRANT_URL": "http://127.0.0.1:1"])
        XCTAssertEqual(r.status, 3, r.stdout)
        XCTAssertTrue((r.stdout + r.stderr).contains("dr.rpo.vector_db: not a duration: soon"), r.stdout + r.stderr)
        let unknown = Harness.write("return { dr = { rto = { lunch = \"1h\" } } }", to: "config2.lua", in: dir)
        let u = Harness.run(["--config", unknown, "run", "dr/objectives", "--dir", dir.path], env: ["QDRANT_URL": "http://127.0.0.1:1"])
        XCTAssertTrue((u.stdout + u.stderr).contains("dr.rto.lunch: unknown (known: critical, full, data)"), u.stdout + u.stderr)
        // objectives of one's own are used
        let mine = Harness.write("return { dr = { rpo = { configuration = \"2h\" } } }", to: "config3.lua", in: dir)
        let m = Harness.run(["--json", "--config", mine, "run", "dr/objectives", "--dir", dir.path], env: ["QDRANT_URL": "http://127.0.0.1:1"])
        XCTAssertTrue(message(checks(m)["dr.rpo.configuration"]).contains("RPO 2h"), m.stdout)
    }
}
