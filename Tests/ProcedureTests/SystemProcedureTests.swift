import Foundation
import Glibc
import OpshTestSupport
import XCTest

/// system/resources, system/capacity, system/top and system/connectivity through the built
/// binary, on this machine, with processes, sockets and a history file of the test's own.
final class SystemProcedureTests: XCTestCase {
    func checks(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [String: [String: Any]] {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let list = doc["checks"] as? [[String: Any]] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return [:]
        }
        return Dictionary(list.map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// A JSON number as a Double (JSONSerialization gives Int for whole numbers here).
    func num(_ v: Any?) -> Double { (v as? Double) ?? (v as? Int).map(Double.init) ?? .nan }

    func status(_ c: [String: [String: Any]], _ name: String) -> String? { c[name]?["status"] as? String }
    func metrics(_ c: [String: [String: Any]], _ name: String) -> [String: Any] { c[name]?["metrics"] as? [String: Any] ?? [:] }

    /// The history file the runs share (each run otherwise has a fresh HOME).
    func stateDir() -> String { Harness.tempDir("state").path }

    func sqlite(_ db: String, _ sql: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [db, sql]
        return Shell.capture(p, input: "", timeout: 30).stdout
    }

    func testResourcesReportsEveryDiskCPUAndProcessesAndRecordsHistory() throws {
        let state = stateDir()
        let r = Harness.run(["--json", "run", "system/resources", "--cpu_warn", "101", "--cpu_crit", "101", "--memory_warn", "101", "--memory_crit", "101", "--disk_warn", "101", "--disk_crit", "101",
                             "--load_warn", "1000", "--load_crit", "1000", "--interval", "0.1"], env: ["OPSH_STATE_DIR": state])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = checks(r)
        for name in ["system.cpu", "system.memory", "system.swap", "system.load", "system.disk./", "system.processes"] {
            XCTAssertEqual(status(c, name), "ok", "\(name): \(c[name] ?? [:])")
        }
        // every disk, no pseudo filesystem: /dev/shm (tmpfs) and /proc are mounted here and not checked
        XCTAssertNil(c["system.disk./dev/shm"])
        XCTAssertNil(c["system.disk./proc"])
        let cpu = metrics(c, "system.cpu")
        XCTAssert((0...100).contains(num(cpu["busy_percent"])))
        XCTAssertGreaterThanOrEqual(cpu["cores"] as? Int ?? 0, 1)
        let procs = metrics(c, "system.processes")
        XCTAssertEqual(procs["listed"] as? Int, 10)
        XCTAssertGreaterThan(procs["top_memory_rss_bytes"] as? Int ?? 0, 0)
        // the history got this run's sample and the checks' statuses
        let db = state + "/history.db"
        XCTAssertTrue(FileManager.default.fileExists(atPath: db))
        let rows = sqlite(db, "SELECT metric FROM samples WHERE kind = 'resources' ORDER BY metric")
        for m in ["cpu.busy_percent", "disk./.used_percent", "load.load1", "memory.used_percent"] {
            XCTAssertTrue(rows.contains(m + "\n"), rows)
        }
        XCTAssertEqual(sqlite(db, "SELECT value FROM samples WHERE metric = 'check.system.memory'"), "0.0\n")
        // a second run adds a second sample; --dry-run and --no_history add none
        Harness.run(["run", "system/resources", "--interval", "0.05"], env: ["OPSH_STATE_DIR": state])
        let dry = Harness.run(["--dry-run", "run", "system/resources", "--interval", "0.05"], env: ["OPSH_STATE_DIR": state])
        XCTAssertTrue(dry.stdout.contains("would: record"), dry.stdout)
        Harness.run(["run", "system/resources", "--interval", "0.05", "--no_history"], env: ["OPSH_STATE_DIR": state])
        XCTAssertEqual(sqlite(db, "SELECT count(*) FROM samples WHERE metric = 'memory.used_percent'"), "2\n")
        // a dry run with no history yet leaves no file behind and warns of nothing
        let fresh = stateDir()
        let dry2 = Harness.run(["--json", "--dry-run", "run", "system/resources", "--interval", "0.05"], env: ["OPSH_STATE_DIR": fresh])
        XCTAssertNil(checks(dry2)["system.history"], dry2.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh + "/history.db"))
    }

    /// The configuration's thresholds are honoured (the old procedure's argument defaults hid
    /// them), in opsh's names and in the guide's; the guide's defaults apply otherwise.
    func testResourcesHonoursTheConfiguredThresholds() throws {
        let cfg = Harness.write("return { thresholds = { system_memory_warn = 0, disk_critical = 0 } }", to: "config.lua")
        let r = Harness.run(["--json", "--config", cfg, "run", "system/resources", "--interval", "0.05", "--no_history",
                             "--cpu_warn", "101", "--load_warn", "1000", "--load_crit", "1000"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        let c = checks(r)
        XCTAssertEqual(status(c, "system.memory"), "warning")
        XCTAssertEqual(status(c, "system.disk./"), "critical")
        // an argument beats the configuration
        let r2 = Harness.run(["--json", "--config", cfg, "run", "system/resources", "--interval", "0.05", "--no_history",
                              "--memory_warn", "101", "--disk_crit", "101", "--disk_warn", "101", "--cpu_warn", "101",
                              "--load_warn", "1000", "--load_crit", "1000"])
        let c2 = checks(r2)
        XCTAssertEqual(status(c2, "system.memory"), "ok", r2.stdout)
        XCTAssertEqual(status(c2, "system.disk./"), "ok", r2.stdout)
        // the guide's defaults: memory 75/90 (not 85/95), shown in --help
        let help = Harness.run(["run", "system/resources", "--help"])
        XCTAssertTrue(help.stdout.contains("memory used % (of MemTotal, by MemAvailable) for WARNING (default 75)"), help.stdout)
        XCTAssertTrue(help.stdout.contains("Writes one history sample per run"), help.stdout)
    }

    func testTopListsAProcessThisTestStarted() throws {
        let busy = Process()
        busy.executableURL = URL(fileURLWithPath: "/bin/sh")
        busy.arguments = ["-c", "while :; do :; done"]
        try busy.run()
        defer { busy.terminate(); busy.waitUntilExit() }
        let r = Harness.run(["--json", "run", "system/top", "--top", "10", "--interval", "0.5"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = checks(r)
        let cpu = (1...10).compactMap { c["system.top.cpu.\($0)"] }
        XCTAssertEqual(cpu.count, 10)
        let mine = try XCTUnwrap(cpu.first { ($0["metrics"] as! [String: Any])["pid"] as? Int == Int(busy.processIdentifier) }, r.stdout)
        let m = mine["metrics"] as? [String: Any] ?? [:]
        XCTAssertTrue((mine["message"] as! String).hasSuffix(": /bin/sh -c while :; do :; done"), "\(mine)")
        XCTAssertGreaterThan(num(m["cpu_percent"]), 10)
        let mem = (1...10).compactMap { c["system.top.memory.\($0)"]?["metrics"] as? [String: Any] }
        XCTAssertEqual(mem.count, 10)
        XCTAssertEqual(mem.map { $0["rss_bytes"] as? Int ?? 0 }, mem.map { $0["rss_bytes"] as? Int ?? 0 }.sorted(by: >))
        // a per-process limit turns a row into a warning
        let w = Harness.run(["--json", "run", "system/top", "--sort", "memory", "--top", "1", "--memory_warn", "0"])
        XCTAssertEqual(w.status, 1, w.stdout)
        XCTAssertNil(checks(w)["system.top.cpu.1"])
        XCTAssertEqual(Harness.run(["run", "system/top", "--sort", "disk"]).status, 3)
    }

    func testConnectivityFindsTheListenerResolvesAndTellsRefusedFromOpen() throws {
        let (fd, port) = HostileServer.listenOnLoopback()
        defer { close(fd) }
        let closedPort = RedisServer.freePort()
        let r = Harness.run(["--json", "--set", "redis_url=redis://localhost:\(port)",
                             "--set", "qdrant_url=http://127.0.0.1:\(closedPort)", "--set", "task_queue_redis_url=redis://localhost:\(port)/1",
                             "run", "system/connectivity", "--port", String(port), "--timeout", "2"])
        let c = checks(r)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertEqual(status(c, "system.dns.redis"), "ok")
        let dns = c["system.dns.redis"]?["message"] as? String ?? ""
        XCTAssertTrue(dns.hasPrefix("localhost resolves to ") && (dns.contains("127.0.0.1") || dns.contains("::1")), dns)
        XCTAssertEqual(status(c, "system.tcp.redis"), "ok", "\(c["system.tcp.redis"] ?? [:])")
        XCTAssertTrue((c["system.tcp.redis"]?["message"] as? String ?? "").contains("accepts connections (127.0.0.1, "), "\(c["system.tcp.redis"] ?? [:])")
        XCTAssertEqual(status(c, "system.tcp.qdrant"), "critical")
        XCTAssertEqual(metrics(c, "system.tcp.qdrant")["refused"] as? Bool, true)
        XCTAssertTrue((c["system.tcp.qdrant"]?["message"] as! String).contains("refuses connections"))
        // the test's own socket is listed, owned by this process
        XCTAssertEqual(status(c, "system.port.\(port)"), "ok")
        XCTAssertEqual(metrics(c, "system.port.\(port)")["pid"] as? Int, Int(getpid()))
        XCTAssertEqual(status(c, "system.port.\(closedPort)"), "critical")
        XCTAssertTrue((c["system.listening"]?["message"] as? String ?? "").contains("127.0.0.1:\(port)"))
        // a name that does not resolve is told apart from a port that refuses
        let r2 = Harness.run(["--json", "run", "system/connectivity",
                              "--endpoint", "nowhere=opsh-no-such-host.invalid:1", "--timeout", "3"])
        XCTAssertEqual(status(checks(r2), "system.dns.nowhere"), "critical", r2.stdout)
        XCTAssertNil(checks(r2)["system.tcp.nowhere"])
    }

    /// Thirty days of samples on a simulated calendar: disk / grows 1 point a day up to 70% today,
    /// so it is full in 30 days; memory grows 0.5 a day to 80%, reaching 90 in 20 days; CPU is
    /// flat. Written through opsh.history with explicit times, read back by system/capacity.
    func testCapacityFitsTheHistoryAndCountsTheDaysLeft() throws {
        let state = stateDir()
        let backfill = Harness.write("""
        local history = require "opsh.history"
        local now = os.time()
        for day = 30, 0, -1 do
          local t = now - day * 86400
          assert(history.record("resources", {
            ["disk./.used_percent"] = 70 - day, ["memory.used_percent"] = 80 - day * 0.5, ["cpu.busy_percent"] = 20 + (day % 2),
          }, t))
        end
        print(#history.samples { metric = "disk./.used_percent", since = "40d" })
        """, to: "backfill.lua")
        let b = Harness.run([backfill], env: ["OPSH_STATE_DIR": state])
        XCTAssertEqual(b.stdout, "31\n", b.stderr)
        let r = Harness.run(["--json", "run", "system/capacity", "--since", "40d", "--days_warn", "25"], env: ["OPSH_STATE_DIR": state])
        let c = checks(r)
        let disk = metrics(c, "system.capacity.disk./")
        XCTAssertEqual(num(disk["days_left"]), 30, accuracy: 0.01, "\(c)")
        XCTAssertEqual(num(disk["per_day"]), 1, accuracy: 1e-6)
        XCTAssertEqual(disk["samples"] as? Int, 31)
        XCTAssertEqual(status(c, "system.capacity.disk./"), "ok")
        let mem = metrics(c, "system.capacity.memory")
        XCTAssertEqual(num(mem["days_left"]), 20, accuracy: 0.01)
        XCTAssertEqual(status(c, "system.capacity.memory"), "warning")
        XCTAssertTrue((c["system.capacity.memory"]?["message"] as! String).contains("90% (critical) in 20 days"), "\(c["system.capacity.memory"]!)")
        XCTAssertEqual(status(c, "system.capacity.cpu"), "ok")
        XCTAssertNil(metrics(c, "system.capacity.cpu")["days_left"])
        // other disks have no history: unknown, and so the run
        XCTAssertEqual(r.status, c.values.contains { $0["status"] as? String == "unknown" } ? 3 : 1)
        // a shorter window sees fewer samples; a window with none is unknown
        // (about 30 days left, a little more the later it runs: a warning limit of 31, not the
        // default 30, so the seconds between the backfill and this run cannot decide it)
        let r2 = Harness.run(["--json", "run", "system/capacity", "--since", "3d", "--min_samples", "3", "--days_warn", "31"], env: ["OPSH_STATE_DIR": state])
        XCTAssertEqual(metrics(checks(r2), "system.capacity.disk./")["samples"] as? Int, 3, r2.stdout)
        XCTAssertEqual(status(checks(r2), "system.capacity.disk./"), "warning")    // about 30 days left: within 31
        let fresh = Harness.run(["--json", "run", "system/capacity"], env: ["OPSH_STATE_DIR": stateDir()])
        XCTAssertEqual(fresh.status, 3)
        XCTAssertEqual(status(checks(fresh), "system.capacity.memory"), "unknown")
    }

    /// The same trends from Prometheus: ten days of node_exporter's metrics backfilled with
    /// promtool into a real Prometheus, read by system/capacity with range queries because the
    /// configuration names a Prometheus URL. Disk / grows 1 point a day to 70%, memory 0.5 a day
    /// to 80%, CPU is 20% busy throughout.
    func testCapacityReadsNodeExporterMetricsFromPrometheus() throws {
        let dir = Harness.tempDir("prom-capacity")
        let end = Int(Date().timeIntervalSince1970) - 60
        let start = end - 10 * 86400
        let times = Array(stride(from: start, through: end, by: 120))
        func daysBefore(_ t: Int) -> Double { Double(end - t) / 86400 }
        var lines: [String] = []
        let fs = "device=\"/dev/vda\",fstype=\"ext4\",instance=\"db1:9100\",job=\"node\",mountpoint=\"/\""
        let node = "instance=\"db1:9100\",job=\"node\""
        func gauge(_ name: String, _ labels: String, _ value: (Int) -> Double) {
            lines.append("# TYPE \(name) gauge")
            for t in times { lines.append("\(name){\(labels)} \(value(t)) \(t)") }
        }
        let size = 100e9, total = 16e9
        gauge("node_filesystem_size_bytes", fs) { _ in size }
        gauge("node_filesystem_free_bytes", fs) { size * (1 - (70 - daysBefore($0)) / 100) }
        gauge("node_filesystem_avail_bytes", fs) { size * (1 - (70 - daysBefore($0)) / 100) }
        gauge("node_memory_MemTotal_bytes", node) { _ in total }
        gauge("node_memory_MemAvailable_bytes", node) { total * (1 - (80 - daysBefore($0) * 0.5) / 100) }
        lines.append("# TYPE node_cpu_seconds counter")
        for (mode, share) in [("idle", 0.8), ("user", 0.2)] {
            for t in times { lines.append("node_cpu_seconds_total{cpu=\"0\",\(node),mode=\"\(mode)\"} \(Double(t - start) * share) \(t)") }
        }
        lines.append("# EOF")
        let data = dir.appendingPathComponent("data")
        try PrometheusServer.backfill(lines.joined(separator: "\n") + "\n", into: data)
        let prom = try PrometheusServer(config: "global: {scrape_interval: 15s}\n", data: data)
        defer { prom.stop() }
        XCTAssertTrue(prom.waitFor("node_memory_MemTotal_bytes", at: end), "the backfilled blocks were not loaded")

        let r = Harness.run(["--json", "run", "system/capacity", "--since", "10d", "--step", "1h"],
                            env: ["PROMETHEUS_URL": prom.url, "OPSH_STATE_DIR": stateDir()])
        let c = checks(r)
        let disk = metrics(c, "system.capacity.disk./")
        XCTAssertEqual(disk["prometheus"] as? Bool, true, "\(c)")
        XCTAssertEqual(num(disk["per_day"]), 1, accuracy: 0.01)
        XCTAssertEqual(num(disk["days_left"]), 30, accuracy: 0.2)
        XCTAssertGreaterThan(disk["samples"] as? Int ?? 0, 200)
        let mem = metrics(c, "system.capacity.memory")
        XCTAssertEqual(num(mem["days_left"]), 20, accuracy: 0.2, "\(c["system.capacity.memory"] ?? [:])")
        XCTAssertEqual(status(c, "system.capacity.memory"), "warning")
        let cpu = metrics(c, "system.capacity.cpu")
        XCTAssertEqual(num(cpu["latest"]), 20, accuracy: 0.5, "\(c["system.capacity.cpu"] ?? [:])")
        XCTAssertNil(cpu["days_left"])
        // history_source = "store" reads opsh's own file instead, which is empty here
        let own = Harness.run(["--json", "--set", "history_source=store", "run", "system/capacity", "--since", "10d"],
                              env: ["PROMETHEUS_URL": prom.url, "OPSH_STATE_DIR": stateDir()])
        XCTAssertEqual(status(checks(own), "system.capacity.memory"), "unknown")
    }
}
