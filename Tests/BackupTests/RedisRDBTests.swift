import Foundation
import OpshTestSupport
import XCTest

/// RDB snapshots taken by replication from a real redis-server, in both framings, then loaded
/// by a throwaway redis-server whose DBSIZE and values must match.
final class RedisRDBTests: XCTestCase {
    func takeAndLoad(diskless: Bool, password: String? = nil) throws {
        var args = ["--repl-diskless-sync", diskless ? "yes" : "no", "--repl-diskless-sync-delay", "0"]
        if let password { args += ["--requirepass", password] }
        let redis = try RedisServer(extraArguments: args)
        defer { redis.stop() }
        let auth = password.map { "-a \($0) --no-auth-warning" } ?? ""
        // 20,000 keys of several types, one large value
        _ = sh("""
        (for i in $(seq 1 20000); do echo "SET key:$i value-$i"; done; echo "HSET h a 1 b 2"; echo "RPUSH l x y z"; \
         echo "SET big $(head -c 300000 /dev/urandom | base64 -w0)") | redis-cli -p \(redis.port) \(auth) > /dev/null
        """)
        let url = password.map { "redis://:\($0)@127.0.0.1:\(redis.port)" } ?? redis.url
        let root = Harness.tempDir("rdb-backups").path
        let r = Harness.run([Harness.write("""
        local backup = require "opsh.backup"
        local w = assert(backup.begin{root = '\(root)', tier = "daily"})
        local it = assert(w:add_redis_rdb("redis.rdb", '\(url)'))
        print(it.framing, it.bytes)
        print(assert(w:commit()).path)
        """, to: "rdb.lua", in: Harness.tempDir("lua"))])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix(diskless ? "eof\t" : "length\t") ?? false, r.stdout)
        let dir = lines.last ?? ""
        XCTAssertEqual(sh("cd '\(dir)' && sha256sum -c --quiet SHA256SUMS && echo ok").output, "ok\n")
        XCTAssertTrue(sh("redis-check-rdb '\(dir)/redis.rdb'").output.contains("RDB looks OK"))
        // load it in a throwaway server: same DBSIZE and values
        let loadDir = Harness.tempDir("rdb-load")
        _ = sh("cp '\(dir)/redis.rdb' '\(loadDir.path)/dump.rdb'")
        let copy = try RedisServer(extraArguments: ["--dir", loadDir.path, "--dbfilename", "dump.rdb"])
        defer { copy.stop() }
        XCTAssertEqual(sh("redis-cli -p \(copy.port) DBSIZE").output, "20003\n")
        XCTAssertEqual(sh("redis-cli -p \(copy.port) GET key:12345").output, "value-12345\n")
        XCTAssertEqual(sh("redis-cli -p \(copy.port) GET big | sha256sum").output, sh("redis-cli -p \(redis.port) \(auth) GET big | sha256sum").output)
    }

    func testDisklessEOFFraming() throws { try takeAndLoad(diskless: true) }
    func testDiskBasedLengthFraming() throws { try takeAndLoad(diskless: false) }
    func testWithPassword() throws { try takeAndLoad(diskless: true, password: "s3cret-pw") }

    func testRefusalAbortsTheBackup() throws {
        let root = Harness.tempDir("rdb-refused").path
        let r = Harness.run([Harness.write("""
        local backup = require "opsh.backup"
        local w = assert(backup.begin{root = '\(root)', tier = "daily"})
        local ok, err = w:add_redis_rdb("redis.rdb", "redis://127.0.0.1:1")
        print(ok, err.code)
        print(#backup.list('\(root)'))
        """, to: "rdb.lua", in: Harness.tempDir("lua"))])
        XCTAssertEqual(r.stdout, "nil\tredis\n0\n", r.stderr)
    }
}
