import Foundation
import OpshTestSupport
import RESP
import XCTest
@testable import Agent
import Schedule

/// The agent's pieces through the built binary, as an operator uses them: two agents on one
/// Redis with one killed mid-job, the daily check's view of the scheduled runs, one-shot jobs
/// from procedures.
final class AgentProcessTests: XCTestCase {
    func log(_ admin: RESPSession) -> [String] {
        guard case .array(let items?)? = try? admin.command(["LRANGE", "t:log", "0", "-1"]) else { return [] }
        return items.compactMap { if case .bulkString(let b?) = $0 { return String(decoding: b, as: UTF8.self) }; return nil }
    }

    func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = Harness.binary
        p.arguments = args
        p.environment = Harness.environment()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Agent A freezes mid-job (SIGSTOP: its lock is no longer renewed, as in a long pause),
    /// agent B takes the job over once the lock expired, A's job process (still running)
    /// makes its shared write with the old token and Redis refuses it, then A is killed by pid.
    func testTwoAgentsOneKilledMidJobTheOtherTakesOverAndTheStaleWriteIsRefused() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let dir = Harness.tempDir("two-agents")
        let history = dir.path + "/agent.db"
        let config = Harness.write("""
            return { redis_url = "\(redis.url)", agent_history_db = "\(history)", agent_default_jobs = false, agent_lock_ttl = 2,
              agent_jobs = { fenced = { procedure = "\(Procedures.fenced)", schedule = "*/5 * * * *", timeout = 120 } } }
            """, to: "config.lua", in: dir)
        let admin = try RESPSession.connect(url: redis.url)
        defer { admin.close() }
        // agent A runs the job: its process holds token 1 and waits for t:go before writing
        let a = try start(["--config", config, "agent", "run-now", "fenced"])
        XCTAssertTrue(waitUntil("A's job started") { log(admin).contains("1:started") }, "\(log(admin))")
        // agent B is refused while A holds the lock
        let refused = Harness.run(["--config", config, "agent", "run-now", "fenced"])
        XCTAssertEqual(refused.status, 3)
        XCTAssertTrue(refused.stdout.contains("skipped"), refused.stdout)
        XCTAssertTrue(refused.stderr.contains("running elsewhere (lock held by"), refused.stderr)
        // A freezes: no more renewals, its lock expires
        kill(a.processIdentifier, SIGSTOP)
        XCTAssertTrue(waitUntil("A's lock expired") { (try? admin.command(["EXISTS", JobLock.lockKey("fenced")])) == .integer(0) })
        // B takes the job over with token 2
        let b = Process()
        b.executableURL = Harness.binary
        b.arguments = ["--config", config, "agent", "run-now", "fenced"]
        b.environment = Harness.environment()
        let out = Pipe()
        b.standardOutput = out
        b.standardError = FileHandle.nullDevice
        try b.run()
        XCTAssertTrue(waitUntil("B's job started") { log(admin).contains("2:started") }, "\(log(admin))")
        _ = try admin.command(["SET", "t:go", "1"])
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        b.waitUntilExit()
        XCTAssertEqual(b.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("fencing token 2"), text)
        // A's job wrote with the stale token: refused by Redis; B's write stands
        XCTAssertTrue(waitUntil("A's job wrote") { log(admin).contains("1:stale_token") }, "\(log(admin))")
        XCTAssertTrue(log(admin).contains("2:ok"), "\(log(admin))")
        XCTAssertEqual(try admin.command(["GET", "t:fenced"]), .bulkString(Array("2".utf8)))
        XCTAssertEqual(try admin.command(["HGET", JobLock.prefix + "last:fenced", "token"]), .bulkString(Array("2".utf8)))
        // A is killed by pid, mid-job as far as it knows
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        XCTAssertEqual(a.terminationReason, .uncaughtSignal)
        // the history: A's run abandoned when B took the lock, B's refusal, B's run
        let runs = try RunHistory(path: history).runs(job: "fenced")
        XCTAssertEqual(runs.map(\.status), [.ok, .skipped, .abandoned], runs.map { "\($0.id) \($0.status) \($0.message ?? "")" }.joined(separator: "\n"))
        XCTAssertEqual(runs[0].fenceToken, 2)
        XCTAssertEqual(runs[2].fenceToken, 1)
        XCTAssertTrue(runs[2].message?.contains("took the job over") == true, runs[2].message ?? "")
    }

    func testDailyCheckWarnsForJobsThatDidNotRunOrFailedInTheirLastWindow() throws {
        let dir = Harness.tempDir("scheduled")
        let history = dir.path + "/agent.db"
        // a minute of the hour at least 10 minutes past: its last run is due 10 to 70 minutes ago
        let now = Int64(Date().timeIntervalSince1970)
        let minute = (Int(now / 60 % 60) + 50) % 60
        let cron = "\(minute) * * * *"
        let config = Harness.write("""
            return { agent_history_db = "\(history)", agent_default_jobs = false,
              agent_jobs = { good = { procedure = "x", schedule = "\(cron)" }, failing = { procedure = "x", schedule = "\(cron)" },
                             absent = { procedure = "x", schedule = "\(cron)" }, off = { procedure = "x", schedule = "\(cron)", enabled = false } } }
            """, to: "config.lua", in: dir)
        let due = ScheduledRunCheck.lastDue(try JobSchedule(parsing: cron), zone: .utc, now: now)!
        let h = try RunHistory(path: history)
        try h.insert(RunRecord(job: "good", procedure: "x", agent: "a", trigger: "schedule", scheduledAt: due, startedAt: Double(due),
                               finishedAt: Double(due + 5), status: .ok, exitCode: 0))
        try h.insert(RunRecord(job: "failing", procedure: "x", agent: "a", trigger: "schedule", scheduledAt: due, startedAt: Double(due),
                               finishedAt: Double(due + 5), status: .critical, exitCode: 2, message: "opsh: disk full"))
        for r in [Harness.run(["--json", "--config", config, "run", "agent/scheduled"]),
                  Harness.run(["--json", "--config", config, "run", "daily/check", "--skip", "services,qdrant,redis,logs,queue,system"])] {
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            var checks: [String: (String, String)] = [:]
            for c in doc["checks"] as! [[String: Any]] { checks[c["name"] as! String] = (c["status"] as! String, c["message"] as! String) }
            XCTAssertEqual(checks["schedule.good"]?.0, "ok", "\(checks)")
            XCTAssertEqual(checks["schedule.failing"]?.0, "warning")
            XCTAssertTrue(checks["schedule.failing"]?.1.contains("ended critical: opsh: disk full") == true, "\(checks)")
            XCTAssertEqual(checks["schedule.absent"]?.0, "warning")
            XCTAssertTrue(checks["schedule.absent"]?.1.contains("did not run at") == true, "\(checks)")
            XCTAssertNil(checks["schedule.off"], "a disabled job is not checked")
        }
        // no agent history at all: a warning that says so
        let none = Harness.run(["--json", "--set", "agent_history_db=\(dir.path)/none.db", "run", "agent/scheduled"])
        XCTAssertEqual(none.status, 1, none.stdout + none.stderr)
        XCTAssertTrue(none.stdout.contains("no agent history at"), none.stdout)
    }

    func testProceduresScheduleOneShotJobsAndTheCLIShowsTheHistory() throws {
        let dir = Harness.tempDir("oneshot")
        let history = dir.path + "/agent.db"
        let env = ["OPSH_AGENT_HISTORY_DB": history]
        let r = Harness.run(["-e", #"local a = require "opsh.agent"; print(a.at(3600, "pool/scale", {"--action", "review"}))"#], env: env)
        XCTAssertEqual(r.stdout, "1\n", r.stderr)
        let pending = try RunHistory(path: history).oneShots()
        XCTAssertEqual(pending.count, 1)
        XCTAssertEqual(pending[0].procedure, "pool/scale")
        XCTAssertEqual(pending[0].arguments, ["--action", "review"])
        XCTAssertEqual(Double(pending[0].dueAt), Date().timeIntervalSince1970 + 3600, accuracy: 120)
        // under --dry-run nothing is scheduled
        let dry = Harness.run(["--dry-run", "-e", #"local a = require "opsh.agent"; a.at(60, "x")"#], env: env)
        XCTAssertTrue(dry.stderr.contains("would: schedule x"), dry.stderr)
        XCTAssertEqual(try RunHistory(path: history).oneShots().count, 1)
        // the history through the CLI
        _ = try RunHistory(path: history).insert(RunRecord(job: "backup-daily", procedure: "backup/daily", agent: "a", trigger: "schedule",
                                                        scheduledAt: 1, startedAt: 1_796_256_000, finishedAt: 1_796_256_060, status: .warning, exitCode: 1))
        let shown = Harness.run(["agent", "history"], env: env)
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("backup-daily") && shown.stdout.contains("warning") && shown.stdout.contains("2026-12-03T00:00:00Z"), shown.stdout)
        let json = Harness.run(["agent", "history", "backup-daily", "--json"], env: env)
        let rows = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(rows.first?["status"] as? String, "warning")
        XCTAssertEqual(rows.first?["exit_code"] as? Int, 1)
        let jobs = Harness.run(["agent", "jobs", "--json"], env: env)
        let list = try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(list.map { $0["name"] as! String },
                       ["backup-daily", "qdrant-snapshot", "daily-check", "log-cleanup", "weekly-maintenance", "monthly-maintenance",
                        "quarterly-maintenance"])
        XCTAssertEqual((list.first?["last_run"] as? [String: Any])?["status"] as? String, "warning")
    }

    /// The agent writes a CPU sample every agent_cpu_sample_interval seconds into state_dir/cpu
    /// (two generations), and system/resources on the same host with the same configuration
    /// measures CPU since the older one instead of waiting; --interval still forces its own
    /// interval; a bad interval is refused at start, naming the key.
    func testTheAgentsCPUSamplesFeedSystemResources() throws {
        let state = Harness.tempDir("state").path
        let port = RedisServer.freePort()
        let cfg = Harness.write("""
            return { state_dir = [[\(state)]], pool_state_dir = [[\(state)/pool]], agent_default_jobs = false,
                     agent_lock_url = "none", agent_listen = "127.0.0.1:\(port)", agent_cpu_sample_interval = 1 }
            """, to: "config.lua")
        let agent = try start(["--config", cfg, "agent"])
        defer { if agent.isRunning { agent.terminate(); agent.waitUntilExit() } }
        let files = [state + "/cpu/cpu-sample.0", state + "/cpu/cpu-sample.1"]
        let deadline = Date() + 60
        while Date() < deadline && !files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) { usleep(100_000) }
        // the second generation is written a period after the first: the first is a second old now
        XCTAssertTrue(files.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "the agent wrote no two samples in 60 s")

        func cpuCheck(_ extra: [String]) -> (message: String, metrics: [String: Any]) {
            // the runs take a sample up to 60 s old (3 x 20 s): a loaded machine may delay the agent's writes
            let r = Harness.run(["--json", "--config", cfg, "--set", "agent_cpu_sample_interval=20", "run", "system/resources", "--no_history", "--cpu_warn", "101", "--cpu_crit", "101",
                                 "--memory_warn", "101", "--memory_crit", "101", "--disk_warn", "101", "--disk_crit", "101",
                                 "--load_warn", "1000", "--load_crit", "1000"] + extra)
            let doc = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
            let cpu = (doc?["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "system.cpu" }
            XCTAssertEqual(cpu?["status"] as? String, "ok", r.stdout + r.stderr)
            return (cpu?["message"] as? String ?? "", cpu?["metrics"] as? [String: Any] ?? [:])
        }
        let sampled = cpuCheck([])
        XCTAssertTrue(sampled.message.contains("s since the agent's sample, on"), sampled.message)
        XCTAssertEqual(sampled.metrics["agent_sample"] as? Int, 1, "\(sampled.metrics)")
        XCTAssertGreaterThanOrEqual((sampled.metrics["interval_seconds"] as? Double) ?? 0, 1)
        let forced = cpuCheck(["--interval", "0.05"])
        XCTAssertNotNil(forced.message.range(of: #"\) over [0-9]+\.[0-9]{2} s on"#, options: .regularExpression), forced.message)
        XCTAssertFalse(forced.message.contains("agent's sample"), forced.message)
        XCTAssertEqual(forced.metrics["agent_sample"] as? Int, 0, "\(forced.metrics)")

        agent.terminate()
        agent.waitUntilExit()
        let bad = Harness.run(["--config", cfg, "agent", "--listen", "127.0.0.1:\(port)"], env: ["OPSH_AGENT_CPU_SAMPLE_INTERVAL": "0.5"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("agent_cpu_sample_interval: must be 0 (no samples) or from 1 to 3600 seconds"), bad.stderr)
    }

    /// `opsh agent` hands over to opsh-agent beside it (its answer to a bad --listen proves it
    /// ran), and says so plainly when it is not there.
    func testAgentCommandNeedsTheServerExecutable() {
        // an address that cannot be one: the server refuses it at once, nothing listens
        let r = Harness.run(["agent", "--listen", "127.0.0.1:99999"])
        if FileManager.default.isExecutableFile(atPath: Harness.binary.deletingLastPathComponent().appendingPathComponent("opsh-agent").path) {
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("opsh-agent: --listen: '127.0.0.1:99999' is not ADDR:PORT"), r.stderr)
        } else {
            XCTAssertEqual(r.status, 3)
            XCTAssertTrue(r.stderr.contains("the agent server is not installed: no executable"), r.stderr)
        }
    }

    func testBadAgentConfigurationIsNamed() {
        let config = Harness.write(#"return { agent_jobs = { broken = { procedure = "x", schedule = "61 * * * *" } } }"#, to: "config.lua")
        let r = Harness.run(["--config", config, "agent", "jobs"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("job broken: cron '61 * * * *': minute field '61': 61 is out of range 0-59"), r.stderr)
    }
}
