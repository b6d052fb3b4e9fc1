import Foundation
import OpshTestSupport
import XCTest

/// The redis/ procedures against a real redis-server, driven through the built binary.
/// Scripts are taken from the working tree (--path <repo>/lua), so a test always runs the
/// procedure as it is in the repository; testBuiltinsListed checks the embedded copies.
final class RedisProcedureTests: XCTestCase {
    var redis: RedisServer!
    var home: URL!

    static let procedures = ["redis/health", "redis/sessions", "redis/sessions-cleanup", "redis/cache",
                             "redis/cache-optimize", "redis/api-access"]

    override func setUpWithError() throws {
        home = Harness.tempDir("home")
    }

    override func tearDown() {
        redis?.stop()
        redis = nil
    }

    func start(_ extra: [String] = []) throws {
        redis = try RedisServer(extraArguments: extra)
    }

    // MARK: helpers

    var luaDir: String { Harness.packageRoot.appendingPathComponent("lua").path }

    /// opsh [flags] run NAME args, against the test server unless url is given.
    @discardableResult
    func opsh(_ flags: [String], _ name: String, _ args: [String] = [], url: String? = nil, stdin: String? = nil) -> Run {
        let u = url ?? redis.url
        return Harness.run(flags + ["--path", luaDir, "run", name, "--url", u] + args, stdin: stdin,
                           env: ["HOME": home.path], timeout: 120)
    }

    /// --json report parsed; fails the test when stdout is not the report.
    func json(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return [:]
        }
        XCTAssertEqual(obj["schema"] as? String, "opsh.report/v1", file: file, line: line)
        return obj
    }

    func check(_ rep: [String: Any], _ name: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        let checks = rep["checks"] as? [[String: Any]] ?? []
        guard let c = checks.first(where: { $0["name"] as? String == name }) else {
            XCTFail("no check \(name) in \(checks.map { $0["name"] ?? "?" })", file: file, line: line)
            return [:]
        }
        return c
    }

    func metric(_ c: [String: Any], _ name: String) -> Double? {
        (c["metrics"] as? [String: Any])?[name].flatMap { ($0 as? NSNumber)?.doubleValue }
    }

    /// redis-cli against the test server: one command per line on stdin; stdout lines.
    @discardableResult
    func cli(_ args: [String], stdin: String? = nil) -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        p.arguments = ["-h", "127.0.0.1", "-p", String(redis.port)] + args
        let out = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = inp
        try! p.run()
        let box = DataBox()
        let g = DispatchGroup()
        g.enter(); DispatchQueue.global().async { box.data = out.fileHandleForReading.readDataToEndOfFile(); g.leave() }
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inp.fileHandleForWriting.close()
        g.wait()
        p.waitUntilExit()
        return String(decoding: box.data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func commands(_ lines: [String]) { cli([], stdin: lines.joined(separator: "\n") + "\n") }
    func dbsize() -> Int { Int(cli(["DBSIZE"]).first ?? "") ?? -1 }
    func ttl(_ key: String) -> Int { Int(cli(["TTL", key]).first ?? "") ?? -99 }
    func exists(_ key: String) -> Bool { cli(["EXISTS", key]).first == "1" }

    func sessions(noTTL: Int, withTTL: Int, prefix: String = "session:") {
        var lines: [String] = []
        for i in 0..<noTTL { lines.append("SET \(prefix)n\(i) v") }
        for i in 0..<withTTL { lines.append("SET \(prefix)t\(i) v EX 3600") }
        commands(lines)
    }

    func writeConfig(_ text: String) -> String { Harness.write(text, to: "config.lua", in: home) }

    /// A custom script that loads a procedure from lua/ and runs it with a hook around opsh.redis
    /// (the hook code sees `redis`, `real_connect`, `url`, `opsh`), inside a task beside `writer`.
    func wrapper(_ proc: String, hook: String, writer: String = "return nil") -> String {
        let path = Harness.packageRoot.appendingPathComponent("lua/\(proc).lua").path
        let text = """
        local opsh = require "opsh"
        local redis = require "opsh.redis"
        local real_connect = redis.connect
        local proc = dofile(\(luaString(path)))
        \(hook)
        local function writer(url) \(writer) end
        return {
          description = "test wrapper around \(proc)", categories = { "safe" }, args = proc.args,
          run = function(args, ctx)
            opsh.all { function() proc.run(args, ctx) end, function() writer(args.url) end }
          end,
        }
        """
        return Harness.write(text, to: "wrap.lua")
    }

    func luaString(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

    func runFile(_ flags: [String], _ path: String, _ args: [String]) -> Run {
        Harness.run(flags + ["run", path, "--url", redis.url] + args, env: ["HOME": home.path], timeout: 120)
    }

    // MARK: metadata and catalog

    func testBuiltinsListedAndHelp() throws {
        let list = Harness.run(["list", "redis"], env: ["HOME": Harness.tempDir("h").path])
        XCTAssertEqual(list.status, 0, list.stderr)
        for p in Self.procedures {
            XCTAssertTrue(list.stdout.contains(p), "\(p) not in the built-in list:\n\(list.stdout)")
        }
        XCTAssertFalse(list.stdout.lowercased().contains("error"), list.stdout)
        let kinds = ["redis/health": "safe", "redis/sessions": "safe", "redis/sessions-cleanup": "destructive",
                     "redis/cache": "safe", "redis/cache-optimize": "destructive", "redis/api-access": "safe"]
        for p in Self.procedures {
            let h = Harness.run(["--path", luaDir, "run", p, "--help"])
            XCTAssertEqual(h.status, 0, "\(p): \(h.stderr)")
            XCTAssertTrue(h.stdout.contains("categories:") && h.stdout.contains(kinds[p]!), "\(p): \(h.stdout)")
            XCTAssertTrue(h.stdout.contains("guide:"), "\(p) names no guide section")
            XCTAssertTrue(h.stdout.contains("--url <string>"), "\(p): \(h.stdout)")
        }
    }

    // MARK: faults shared by every procedure

    func testServerDownIsCriticalNotAScriptError() throws {
        let port = RedisServer.freePort()
        redis = nil
        for p in Self.procedures {
            let r = Harness.run(["--json", "--yes", "--path", luaDir, "run", p, "--url", "redis://127.0.0.1:\(port)"],
                                env: ["HOME": home.path])
            XCTAssertEqual(r.status, 2, "\(p): \(r.stdout) \(r.stderr)")
            let rep = json(r)
            XCTAssertTrue(rep["error"] is NSNull, "\(p) failed with a script error: \(rep["error"] ?? "")")
            let checks = rep["checks"] as? [[String: Any]] ?? []
            XCTAssertEqual(checks.first?["status"] as? String, "critical", p)
            XCTAssertTrue((checks.first?["message"] as? String ?? "").contains("not reachable"), "\(p): \(checks)")
        }
    }

    func testWrongPasswordIsCriticalAndNotPrinted() throws {
        try start(["--requirepass", "right-secret"])
        for p in Self.procedures {
            let r = opsh(["--json", "--yes"], p, url: "redis://:wrong-secret@127.0.0.1:\(redis.port)")
            XCTAssertEqual(r.status, 2, "\(p): \(r.stdout) \(r.stderr)")
            let rep = json(r)
            XCTAssertTrue(rep["error"] is NSNull, "\(p): \(rep["error"] ?? "")")
            let msg = ((rep["checks"] as? [[String: Any]])?.first?["message"] as? String) ?? ""
            XCTAssertTrue(msg.contains("authentication failed"), "\(p): \(msg)")
            XCTAssertFalse(r.stdout.contains("wrong-secret") || r.stderr.contains("wrong-secret"), "\(p) printed the password")
        }
        // and the right password works
        let ok = opsh(["--json"], "redis/health", url: "redis://:right-secret@127.0.0.1:\(redis.port)")
        XCTAssertEqual(check(json(ok), "redis.ping")["status"] as? String, "ok")
        XCTAssertFalse(ok.stdout.contains("right-secret"))
    }

    // MARK: redis/health

    func testHealthHappyPath() throws {
        try start(["--save", "3600 1", "--maxmemory", "200mb", "--maxmemory-policy", "allkeys-lru"])
        commands(["SET a 1", "SET b 2 EX 100", "SELECT 2", "SET c 3"])
        let r = opsh(["--json"], "redis/health", ["--latency_warn_ms", "5000", "--latency_crit_ms", "10000"])
        let rep = json(r)
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertEqual(metric(check(rep, "redis.ping"), "up"), 1)
        XCTAssertNotNil(metric(check(rep, "redis.ping"), "latency_ms"))
        let mem = check(rep, "redis.memory")
        XCTAssertEqual(metric(mem, "maxmemory_bytes"), 200 * 1024 * 1024)
        XCTAssertNotNil(metric(mem, "used_percent"))
        XCTAssertTrue((mem["message"] as? String ?? "").contains("allkeys-lru"))
        XCTAssertEqual(metric(check(rep, "redis.keyspace.db0"), "keys"), 2)
        XCTAssertEqual(metric(check(rep, "redis.keyspace.db0"), "expires"), 1)
        XCTAssertEqual(metric(check(rep, "redis.keyspace.db2"), "keys"), 1)
        XCTAssertEqual(metric(check(rep, "redis.keyspace"), "keys"), 3)
        XCTAssertEqual(check(rep, "redis.persistence.rdb")["status"] as? String, "ok")
        XCTAssertEqual(check(rep, "redis.persistence.aof")["message"] as? String, "AOF off")
        XCTAssertTrue((check(rep, "redis.replication")["message"] as? String ?? "").contains("role master"))
        XCTAssertNotNil(metric(check(rep, "redis.clients"), "connected"))
        XCTAssertEqual(metric(check(rep, "redis.server"), "dragonfly"), 0)
        // text report too
        let t = opsh([], "redis/health")
        XCTAssertEqual(t.status, 0)
        XCTAssertTrue(t.stdout.contains("redis.ping") && t.stdout.contains("PONG"), t.stdout)
    }

    func testHealthThresholdsFromConfigAndArgs() throws {
        try start(["--save", "3600 1", "--maxmemory", "100mb"])
        let cfg = writeConfig("return { thresholds = { redis_memory_warn = 0.01, redis_memory_crit = 99 } }")
        let r = opsh(["--json", "--config", cfg], "redis/health")
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertEqual(check(json(r), "redis.memory")["status"] as? String, "warning")
        // a command-line argument wins over the configuration
        let r2 = opsh(["--json", "--config", cfg], "redis/health", ["--memory-warn", "95"])
        XCTAssertEqual(check(json(r2), "redis.memory")["status"] as? String, "ok", r2.stdout)
        // crit from config
        let cfg2 = writeConfig("return { thresholds = { redis_memory_warn = 0.001, redis_memory_crit = 0.002 } }")
        let r3 = opsh(["--json", "--config", cfg2], "redis/health")
        XCTAssertEqual(r3.status, 2)
        XCTAssertEqual(check(json(r3), "redis.memory")["status"] as? String, "critical")
        // --url defaults to the configured redis_url
        let cfg3 = writeConfig("return { redis_url = \"\(redis.url)\" }")
        let r4 = Harness.run(["--json", "--config", cfg3, "--path", luaDir, "run", "redis/health"], env: ["HOME": home.path])
        XCTAssertEqual(check(json(r4), "redis.ping")["status"] as? String, "ok", r4.stdout)
    }

    func testHealthWarnsWithoutPersistenceAndReportsAOF() throws {
        try start() // --save "" --appendonly no
        let r = opsh(["--json"], "redis/health")
        XCTAssertEqual(r.status, 1, r.stdout)
        let c = check(json(r), "redis.persistence.rdb")
        XCTAssertEqual(c["status"] as? String, "warning")
        XCTAssertTrue((c["message"] as? String ?? "").contains("no snapshots and no AOF"))
        redis.stop()
        try start(["--appendonly", "yes"])
        let r2 = opsh(["--json"], "redis/health")
        let rep = json(r2)
        XCTAssertEqual(check(rep, "redis.persistence.rdb")["status"] as? String, "ok", r2.stdout)
        XCTAssertEqual(metric(check(rep, "redis.persistence.aof"), "aof_enabled"), 1)
    }

    func testHealthReplicaWithLinkDownIsCritical() throws {
        try start(["--save", "3600 1"])
        let dead = RedisServer.freePort()
        cli(["REPLICAOF", "127.0.0.1", String(dead)])
        let r = opsh(["--json"], "redis/health")
        XCTAssertEqual(r.status, 2, r.stdout)
        let c = check(json(r), "redis.replication")
        XCTAssertEqual(c["status"] as? String, "critical")
        XCTAssertTrue((c["message"] as? String ?? "").contains("role replica"), "\(c)")
    }

    // MARK: redis/sessions

    func testSessionsCountsAndNoTTL() throws {
        try start()
        sessions(noTTL: 120, withTTL: 30)
        commands(["SET other:1 x", "SET sessionx 1"])
        let r = opsh(["--json"], "redis/sessions", ["--window", "0", "--count", "10"])
        let rep = json(r)
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertEqual(metric(check(rep, "sessions.count"), "sessions"), 150)
        let nt = check(rep, "sessions.no_ttl")
        XCTAssertEqual(metric(nt, "without_ttl"), 120)
        XCTAssertEqual(nt["status"] as? String, "warning")
        XCTAssertEqual(dbsize(), 152, "the report changed data")
        let ok = opsh(["--json"], "redis/sessions", ["--window", "0", "--no-ttl-warn", "0"])
        XCTAssertEqual(ok.status, 0)
    }

    /// The writer task creates 4 sessions and deletes 2 during the window; the sampled diff sees exactly that.
    func testSessionRatesBySampling() throws {
        try start()
        sessions(noTTL: 10, withTTL: 10)
        let writer = """
          opsh.sleep(0.5)
          local w = assert(real_connect(url))
          for i = 1, 4 do assert(w:set("session:new" .. i, "v")) end
          assert(w:del("session:n1", "session:t1"))
          w:close()
        """
        let path = wrapper("redis/sessions", hook: "", writer: writer)
        let r = runFile(["--json"], path, ["--window", "3", "--no-ttl-warn", "0"])
        let c = check(json(r), "sessions.rate")
        XCTAssertEqual(metric(c, "created"), 4, r.stdout + r.stderr)
        XCTAssertEqual(metric(c, "deleted"), 2)
        XCTAssertEqual(metric(c, "net"), 2)
        XCTAssertTrue((c["message"] as? String ?? "").contains("sampled"))
    }

    /// Keyspace notifications: enabled for the window only, the previous setting restored.
    func testSessionRatesByNotificationsRestoresSetting() throws {
        try start(["--notify-keyspace-events", "Ex"])
        sessions(noTTL: 5, withTTL: 0)
        let writer = """
          opsh.sleep(0.7)
          local w = assert(real_connect(url))
          for i = 1, 3 do assert(w:set("session:new" .. i, "v")) end
          assert(w:set("session:new1", "again"))     -- an update is not a creation
          assert(w:set("other:1", "v"))              -- not a session
          assert(w:del("session:n1", "session:n2"))
          w:close()
        """
        let path = wrapper("redis/sessions", hook: "", writer: writer)
        let r = runFile(["--json"], path, ["--window", "3", "--use-notifications", "--no-ttl-warn", "0"])
        let c = check(json(r), "sessions.rate")
        XCTAssertEqual(c["status"] as? String, "ok", r.stdout)
        XCTAssertEqual(metric(c, "created"), 3, r.stdout)
        XCTAssertEqual(metric(c, "deleted"), 2)
        let flags = cli(["CONFIG", "GET", "notify-keyspace-events"])
        XCTAssertEqual(Set(flags.last ?? ""), Set("Ex"), "notify-keyspace-events not restored: \(flags)")
        // under --dry-run the CONFIG SET is refused: the script samples instead and changes nothing
        let d = opsh(["--json", "--dry-run"], "redis/sessions", ["--window", "0.2", "--use-notifications"])
        XCTAssertTrue((check(json(d), "sessions.rate")["message"] as? String ?? "").contains("sampled"), d.stdout)
        XCTAssertEqual(Set(cli(["CONFIG", "GET", "notify-keyspace-events"]).last ?? ""), Set("Ex"))
    }

    // MARK: redis/sessions-cleanup

    func testCleanupDeletesOnlySessionsWithoutTTL() throws {
        try start()
        sessions(noTTL: 250, withTTL: 50)
        commands(["SET user:x 1", "SET cache:1 1", "SET other:session:1 1"])
        let r = opsh(["--yes", "--json"], "redis/sessions-cleanup", ["--batch", "7", "--pipeline", "3", "--count", "20"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = check(json(r), "sessions.cleanup")
        XCTAssertEqual(metric(c, "deleted"), 250)
        XCTAssertEqual(metric(c, "scanned"), 300)
        XCTAssertGreaterThanOrEqual(metric(c, "batches") ?? 0, 36) // 300 keys in batches of at most 7
        XCTAssertEqual(dbsize(), 53)
        XCTAssertTrue(exists("session:t0") && exists("user:x") && exists("other:session:1"))
        XCTAssertFalse(exists("session:n0"))
        // a second run finds nothing to do
        let again = opsh(["--yes", "--json"], "redis/sessions-cleanup")
        XCTAssertEqual(metric(check(json(again), "sessions.cleanup"), "deleted"), 0)
    }

    func testCleanupDryRunDeletesNothing() throws {
        try start()
        sessions(noTTL: 40, withTTL: 10)
        let r = opsh(["--json", "--dry-run"], "redis/sessions-cleanup", ["--batch", "9", "--sample", "3"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let rep = json(r)
        XCTAssertEqual(rep["dry_run"] as? Bool, true)
        let c = check(rep, "sessions.cleanup")
        XCTAssertEqual(metric(c, "would_delete"), 40)
        XCTAssertTrue((c["message"] as? String ?? "").contains("nothing deleted"))
        XCTAssertEqual(dbsize(), 50)
    }

    /// A session that SCAN returned without a TTL, refreshed by the application before the batch's
    /// EVAL runs, survives: the EVAL re-checks TTL == -1 per key. The hook wraps the connection the
    /// procedure uses: it records that SCAN handed out the key and, just before the batch goes to the
    /// server, gives it a TTL from another connection (as the application refreshing it would).
    func testRefreshedSessionSurvivesCleanup() throws {
        try start()
        sessions(noTTL: 60, withTTL: 0)
        let hook = """
        local target, seen, refreshed = "session:n17", false, false
        redis.connect = function(u)
          local c, e = real_connect(u)
          if not c then return c, e end
          local proxy = setmetatable({}, { __index = function(_, k)
            local f = c[k]
            if type(f) ~= "function" then return f end
            return function(_, ...) return f(c, ...) end
          end, __close = function() c:close() end })
          function proxy:scan(opts)
            local it = c:scan(opts)
            return function() local k = it(); if k == target then seen = true end; return k end
          end
          function proxy:call(cmd, ...)
            local res, e = c:call(cmd, ...)
            if cmd == "SCAN" and type(res) == "table" then
              for _, k in ipairs(res[2]) do if k == target then seen = true end end
            end
            return res, e
          end
          function proxy:pipeline(fn)
            if seen and not refreshed then
              local app = assert(real_connect(u))
              assert(app:call("EXPIRE", target, 600))
              app:close()
              refreshed = true
            end
            return c:pipeline(fn)
          end
          return proxy
        end
        """
        let path = wrapper("redis/sessions-cleanup", hook: hook)
        let r = runFile(["--yes", "--json"], path, ["--batch", "100"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = check(json(r), "sessions.cleanup")
        XCTAssertEqual(metric(c, "scanned"), 60)
        XCTAssertEqual(metric(c, "deleted"), 59, r.stdout)
        XCTAssertTrue(exists("session:n17"), "the refreshed session was deleted")
        XCTAssertGreaterThan(ttl("session:n17"), 0)
        XCTAssertEqual(dbsize(), 1)
    }

    func testCleanupRejectsOversizedBatch() throws {
        try start()
        sessions(noTTL: 3, withTTL: 0)
        let r = opsh(["--yes"], "redis/sessions-cleanup", ["--batch", "100000"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue((r.stdout + r.stderr).contains("--batch must be between 1 and 1000"), r.stdout + r.stderr)
        XCTAssertEqual(dbsize(), 3)
    }

    // MARK: redis/cache and redis/cache-optimize

    func cacheKeys(_ n: Int, prefix: String = "cache:") {
        let value = String(repeating: "x", count: 1000)
        commands((0..<n).map { "SET \(prefix)\($0) \(value)" })
    }

    func testCacheReport() throws {
        try start()
        cacheKeys(40)
        commands(["SET session:1 s", "GET cache:1", "GET nope"])
        let r = opsh(["--json"], "redis/cache", ["--threshold", "1k", "--sample", "10"])
        let rep = json(r)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertEqual(check(rep, "cache.memory")["status"] as? String, "warning")
        let k = check(rep, "cache.keys")
        XCTAssertEqual(metric(k, "keys"), 40)
        XCTAssertEqual(metric(k, "sampled"), 10)
        XCTAssertGreaterThan(metric(k, "estimated_bytes") ?? 0, 40 * 1000)
        XCTAssertNotNil(metric(check(rep, "cache.hits"), "hit_rate_percent"))
        let p = check(rep, "cache.protected")
        XCTAssertTrue((p["message"] as? String ?? "").contains("session:*"), "\(p)")
        // the configured pattern and threshold are used when no argument is given
        let cfg = writeConfig("return { cache_key_pattern = \"emb:*\", thresholds = { redis_cache_max_memory = \"100gb\" } }")
        cacheKeys(5, prefix: "emb:")
        let r2 = opsh(["--json", "--config", cfg], "redis/cache")
        let rep2 = json(r2)
        XCTAssertEqual(metric(check(rep2, "cache.keys"), "keys"), 5)
        XCTAssertEqual(check(rep2, "cache.memory")["status"] as? String, "ok")
        XCTAssertEqual(dbsize(), 46)
    }

    func testCacheOptimizeRefusesDatabaseWithProtectedKeys() throws {
        try start()
        cacheKeys(30)
        for key in ["session:abc", "user:alice", "apikey:0123", "arq:queue"] {
            cli(["SET", key, "v"])
            let r = opsh(["--json", "--yes"], "redis/cache-optimize", ["--force"])
            XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
            let c = check(json(r), "cache.optimize")
            XCTAssertEqual(c["status"] as? String, "critical")
            XCTAssertTrue((c["message"] as? String ?? "").contains("REFUSED"), "\(c)")
            XCTAssertTrue((c["message"] as? String ?? "").contains(key), "\(c)")
            XCTAssertEqual(dbsize(), 31, "something was deleted with \(key) present")
            cli(["DEL", key])
        }
        // the configured task queue name is protected too
        let cfg = writeConfig("return { task_queue_name = \"jobs\" }")
        cli(["SET", "jobs:1", "v"])
        let r = opsh(["--json", "--yes", "--config", cfg], "redis/cache-optimize", ["--force"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertEqual(dbsize(), 31)
    }

    func testCacheOptimizeDeletesOnlyThePatternInBatches() throws {
        try start()
        cacheKeys(100)
        commands(["SET other:1 v", "SET cachex 1"])
        let r = opsh(["--json", "--yes"], "redis/cache-optimize", ["--threshold", "1kb", "--batch", "7"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = check(json(r), "cache.optimize")
        XCTAssertEqual(metric(c, "deleted"), 100)
        XCTAssertGreaterThanOrEqual(metric(c, "batches") ?? 0, 15)
        XCTAssertEqual(dbsize(), 2)
        XCTAssertTrue(exists("other:1") && exists("cachex"))
    }

    func testCacheOptimizeBelowThresholdDeletesNothing() throws {
        try start()
        cacheKeys(10)
        let r = opsh(["--json", "--yes"], "redis/cache-optimize") // default threshold 1gb
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue((check(json(r), "cache.optimize")["message"] as? String ?? "").contains("within normal limits"))
        XCTAssertEqual(dbsize(), 10)
    }

    func testCacheOptimizeDryRunAndConfirmation() throws {
        try start()
        cacheKeys(25)
        let d = opsh(["--json", "--dry-run"], "redis/cache-optimize", ["--force", "--set-policy", "allkeys-lru"])
        XCTAssertEqual(d.status, 0, d.stdout + d.stderr)
        let rep = json(d)
        XCTAssertEqual(metric(check(rep, "cache.optimize"), "would_delete"), 25)
        XCTAssertTrue((check(rep, "cache.policy")["message"] as? String ?? "").contains("would set"))
        XCTAssertEqual(dbsize(), 25)
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory-policy"]).last, "noeviction")
        // destructive: without --yes and without a terminal it does not run
        let n = opsh([], "redis/cache-optimize", ["--force"])
        XCTAssertEqual(n.status, 3)
        XCTAssertTrue(n.stderr.contains("--yes"), n.stderr)
        XCTAssertEqual(dbsize(), 25)
    }

    func testCacheOptimizeSetsTheMemoryLimitBeforeThePolicy() throws {
        try start()
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory"]).last, "0")
        // under --dry-run nothing is sent
        let d = opsh(["--json", "--dry-run"], "redis/cache-optimize", ["--set-maxmemory", "64mb", "--set-policy", "allkeys-lru"])
        XCTAssertEqual(d.status, 0, d.stdout + d.stderr)
        XCTAssertTrue((check(json(d), "cache.maxmemory")["message"] as? String ?? "").contains("would set maxmemory 64.0 MiB (now no limit)"))
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory"]).last, "0")
        // set: the limit first, so the policy is not reported as inert
        let r = opsh(["--json", "--yes"], "redis/cache-optimize", ["--set-maxmemory", "64mb", "--set-policy", "allkeys-lru"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let rep = json(r)
        XCTAssertTrue((check(rep, "cache.maxmemory")["message"] as? String ?? "").contains("no limit -> 64.0 MiB"))
        XCTAssertEqual(check(rep, "cache.policy")["status"] as? String, "ok")
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory"]).last, "67108864")
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory-policy"]).last, "allkeys-lru")
        // a size that is not one is refused by name, and nothing changes
        let bad = opsh(["--yes"], "redis/cache-optimize", ["--set-maxmemory", "lots"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("--set_maxmemory: not a size: lots"), bad.stdout + bad.stderr)
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory"]).last, "67108864")
    }

    func testCacheOptimizeSetsPolicy() throws {
        try start(["--maxmemory", "100mb"])
        let r = opsh(["--json", "--yes"], "redis/cache-optimize", ["--set-policy", "allkeys-lru"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue((check(json(r), "cache.policy")["message"] as? String ?? "").contains("noeviction -> allkeys-lru"))
        XCTAssertEqual(cli(["CONFIG", "GET", "maxmemory-policy"]).last, "allkeys-lru")
        let bad = opsh([], "redis/cache-optimize", ["--set-policy", "lru-please"])
        XCTAssertEqual(bad.status, 3)
        XCTAssertTrue(bad.stderr.contains("must be one of"), bad.stderr)
    }

    // MARK: redis/api-access

    func testApiAccess() throws {
        try start()
        commands(["SET api_access:alice 5000", "SET api_access:bob 12", "SET api_access:eve 250000",
                  "SET api_access:carol 1001", "SET api_access:odd abc", "HSET api_access:hash f 1", "SET other 99999"])
        let r = opsh(["--json"], "redis/api-access")
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let rep = json(r)
        let s = check(rep, "api_access")
        XCTAssertEqual(metric(s, "counters"), 6)
        XCTAssertEqual(metric(s, "above"), 3)
        XCTAssertTrue((s["message"] as? String ?? "").contains("api_access:eve=250000, api_access:alice=5000, api_access:carol=1001"), "\(s)")
        XCTAssertEqual(metric(check(rep, "api_access.eve"), "count"), 250000)
        XCTAssertEqual(check(rep, "api_access.not_numeric")["status"] as? String, "warning")
        // a crit threshold, and the threshold from config
        let c = opsh(["--json"], "redis/api-access", ["--crit", "100000"])
        XCTAssertEqual(c.status, 2)
        XCTAssertEqual(check(json(c), "api_access.eve")["status"] as? String, "critical")
        let cfg = writeConfig("return { thresholds = { api_access_warn = 1000000 } }")
        let q = opsh(["--json", "--config", cfg], "redis/api-access")
        XCTAssertEqual(metric(check(json(q), "api_access"), "above"), 0, q.stdout)
        cli(["DEL", "api_access:odd"])
        let t = opsh(["--json"], "redis/api-access", ["--threshold", "10", "--top", "2"])
        let m = check(json(t), "api_access")["message"] as? String ?? ""
        XCTAssertTrue(m.contains("(and 2 more)"), m)
    }
}

/// DragonflyDB paths, against a stand-in (FakeDragonfly): DragonflyDB itself cannot run here.
final class DragonflyProcedureTests: XCTestCase {
    func testHealthAndPolicyOnDragonfly() throws {
        let df = try FakeDragonfly()
        defer { df.stop() }
        let lua = Harness.packageRoot.appendingPathComponent("lua").path
        let home = Harness.tempDir("home")
        // the latency limits are out of the way: a loaded machine must not decide this test
        let h = Harness.run(["--json", "--path", lua, "run", "redis/health", "--url", df.url, "--latency_warn_ms", "5000", "--latency_crit_ms", "10000"], env: ["HOME": home.path])
        guard let rep = try? JSONSerialization.jsonObject(with: Data(h.stdout.utf8)) as? [String: Any] else {
            return XCTFail("not JSON: \(h.stdout) \(h.stderr)")
        }
        XCTAssertTrue(rep["error"] is NSNull, "\(rep["error"] ?? "")")
        let checks = Dictionary(uniqueKeysWithValues: (rep["checks"] as? [[String: Any]] ?? []).map { ($0["name"] as! String, $0) })
        func msg(_ n: String) -> String { checks[n]?["message"] as? String ?? "<no \(n)>" }
        XCTAssertTrue(msg("redis.server").contains("DragonflyDB df-v1.14.0"), msg("redis.server"))
        XCTAssertTrue(msg("redis.persistence.rdb").contains("snapshot (.dfs) last save 2m"), msg("redis.persistence.rdb"))
        XCTAssertTrue(msg("redis.persistence.rdb").contains("cron */5"), msg("redis.persistence.rdb"))
        XCTAssertEqual(checks["redis.persistence.rdb"]?["status"] as? String, "ok")
        XCTAssertTrue(msg("redis.persistence.aof").contains("DragonflyDB has no AOF"))
        XCTAssertTrue(msg("redis.memory").contains("--cache_mode"), msg("redis.memory"))
        XCTAssertTrue(msg("redis.memory").contains("9.8% of maxmemory") || msg("redis.memory").contains("10.0% of maxmemory"), msg("redis.memory"))
        XCTAssertEqual(h.status, 0, h.stdout)

        let c = Harness.run(["--json", "--yes", "--path", lua, "run", "redis/cache-optimize", "--url", df.url, "--set-policy", "allkeys-lru"],
                            env: ["HOME": home.path])
        XCTAssertEqual(c.status, 1, c.stdout + c.stderr)
        XCTAssertTrue(c.stdout.contains("DragonflyDB has no maxmemory-policy in CONFIG SET"), c.stdout)
        XCTAssertFalse(df.commands.contains { $0.uppercased().hasPrefix("CONFIG SET") }, "CONFIG SET was sent: \(df.commands)")
        XCTAssertFalse(df.commands.contains { $0.uppercased().hasPrefix("FLUSH") })
    }
}
