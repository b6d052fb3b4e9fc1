import Foundation
import OpshTestSupport
import XCTest

/// DragonflyDB cannot run here (docs/ARCHITECTURE.md §8). This is a stand-in that answers the handful of
/// commands the redis/ procedures send with the INFO fields DragonflyDB reports where they differ
/// from Redis (dragonfly_version, last_success_save, rdb_changes_since_last_success_save, no AOF
/// fields, eviction policy as a start flag) and refuses CONFIG SET maxmemory-policy as Dragonfly does.
/// Every command received is appended to `log`, so a test can prove what was (not) sent.
/// A python3 script on a free loopback port, stopped by its pid.
final class FakeDragonfly {
    let port: Int
    let dir: URL
    let process: Process
    var log: URL { dir.appendingPathComponent("commands.log") }

    static let script = #"""
import socket, sys, threading, time
port, logpath = int(sys.argv[1]), sys.argv[2]
now = int(time.time())
INFO = {
 "server": ["redis_version:6.2.11", "dragonfly_version:df-v1.14.0", "redis_mode:standalone", "uptime_in_seconds:3600"],
 "clients": ["connected_clients:3", "blocked_clients:0"],
 "memory": ["used_memory:104857600", "used_memory_peak:209715200", "maxmemory:1073741824", "maxmemory_policy:noeviction"],
 "persistence": ["loading:0", "saving:0", "last_success_save:%d" % (now - 120), "last_saved_file:/data/dump-summary.dfs",
                 "rdb_changes_since_last_success_save:10", "last_success_save_duration_sec:1"],
 "stats": ["keyspace_hits:10", "keyspace_misses:5", "evicted_keys:0", "expired_keys:0"],
 "replication": ["role:master", "connected_slaves:0"],
 "keyspace": ["db0:keys=2,expires=0,avg_ttl=0"],
}
CONFIG = {"snapshot_cron": "*/5 * * * *", "maxmemory": "1073741824"}
def bulk(s): b = s.encode(); return b"$%d\r\n%s\r\n" % (len(b), b)
def arr(items): return b"*%d\r\n" % len(items) + b"".join(items)
def reply(cmd):
    name = cmd[0].upper()
    if name == "PING": return b"+PONG\r\n"
    if name == "INFO":
        secs = [cmd[1].lower()] if len(cmd) > 1 and cmd[1].lower() in INFO else list(INFO)
        return bulk("".join("# %s\r\n%s\r\n\r\n" % (s.capitalize(), "\r\n".join(INFO[s])) for s in secs))
    if name == "CONFIG" and len(cmd) > 2 and cmd[1].upper() == "GET":
        k = cmd[2].lower()
        return arr([bulk(k), bulk(CONFIG[k])]) if k in CONFIG else arr([])
    if name == "CONFIG" and len(cmd) > 1 and cmd[1].upper() == "SET":
        return b"-ERR CONFIG SET failed (possibly related to argument '%s') - unknown option\r\n" % cmd[2].encode()
    if name == "SCAN": return arr([bulk("0"), arr([])])
    if name == "CLIENT": return b"+OK\r\n"
    return b"-ERR unknown command '%s'\r\n" % name.encode()
def serve(c):
    buf = b""
    with c:
        while True:
            d = c.recv(65536)
            if not d: return
            buf += d
            while buf.startswith(b"*") and b"\r\n" in buf:
                try:
                    n, rest = buf[1:].split(b"\r\n", 1); n = int(n); args = []
                    for _ in range(n):
                        ln, rest = rest[1:].split(b"\r\n", 1); ln = int(ln)
                        if len(rest) < ln + 2: raise ValueError
                        args.append(rest[:ln].decode()); rest = rest[ln + 2:]
                except ValueError:
                    break
                buf = rest
                with open(logpath, "a") as f: f.write(" ".join(args) + "\n")
                c.sendall(reply(args))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(16)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""#

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw XCTSkip("python3 is not installed") }
        dir = Harness.tempDir("dragonfly")
        port = RedisServer.freePort()
        let path = Harness.write(FakeDragonfly.script, to: "fake_dragonfly.py", in: dir)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [path, String(port), dir.appendingPathComponent("commands.log").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if RedisServer.accepts(port) { return }
            usleep(50_000)
        }
        stop()
        XCTFail("the fake DragonflyDB did not start on port \(port)")
    }

    var url: String { "redis://127.0.0.1:\(port)" }
    var commands: [String] { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { stop() }
}
