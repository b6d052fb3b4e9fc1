import Glibc
import Sys

/// Runs one job as its own `opsh run` process (docs/agent.md "Runs"): `--json` for the report,
/// `--timeout` and `--max-memory` from the job, `--yes` (a configured job is the operator's
/// decision), `--force` only when asked (run-now --force: outside its maintenance window).
/// While it runs the lock is renewed every third of its lifetime; a process still alive 30 s
/// after its timeout (opsh's own watchdog ends it at the timeout plus a grace) is killed.
/// The child learns its lock through the environment: OPSH_AGENT_JOB, OPSH_AGENT_REDIS_URL,
/// OPSH_AGENT_FENCE_KEY and OPSH_AGENT_FENCE_TOKEN (stdlib opsh.fence reads them).
/// A job whose agent froze or died may still write: its shared writes are refused once another
/// agent holds the job (fencing).
public struct JobRunner: Sendable {
    public let settings: SchedulerSettings
    /// extra seconds after the job's timeout before the agent kills the process
    public var killGrace: Double = 30

    public init(settings: SchedulerSettings) { self.settings = settings }

    /// The command line of one run.
    public func commandLine(_ job: Job, force: Bool) -> [String] {
        var argv = [settings.opshPath]
        if let f = settings.configFile { argv += ["--config", f] }
        argv += ["--json", "--yes", "--no-color", "--timeout", JobRunner.seconds(job.timeout)]
        if let m = job.maxMemory { argv += ["--max-memory", m] }
        if force { argv.append("--force") }
        return argv + ["run", job.procedure] + job.arguments
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s))s" : "\(s)" }

    /// Takes the lock (when a Redis is configured), runs the job, publishes its result with a
    /// fenced write, releases the lock. `started` is called with the running record once the
    /// process runs (the agent stores it); `stop` is polled: true kills the run (the agent's
    /// grace period ran out). Never throws: every failure is a record.
    public func run(_ job: Job, trigger: String, scheduledAt: Int64?, force: Bool = false, clock: AgentClock,
                    started: (RunRecord) -> RunRecord = { $0 }, stop: () -> Bool = { false }) -> RunRecord {
        var rec = RunRecord(job: job.name, procedure: job.procedure, agent: settings.agentID, trigger: trigger,
                            scheduledAt: scheduledAt, startedAt: clock.now(), status: .running)
        var lock: JobLock?
        if let url = settings.redisURL {
            do {
                lock = try JobLock(url: url, job: job.name, owner: settings.agentID + ":" + String(Host.pid()), ttl: settings.lockTTL)
                rec.fenceToken = lock!.token
            } catch {
                if case .locked = error { rec.status = .skipped } else { rec.status = .failed }
                rec.message = error.description
                rec.finishedAt = clock.now()
                return rec
            }
        }
        defer { lock?.release() }
        var env = JobRunner.environment()
        env.append("OPSH_AGENT_JOB=" + job.name)
        if let url = settings.redisURL, let lock {
            env += ["OPSH_AGENT_REDIS_URL=" + url, "OPSH_AGENT_FENCE_KEY=" + JobLock.fenceKey(job.name),
                    "OPSH_AGENT_FENCE_TOKEN=" + String(lock.token)]
        }
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess(commandLine(job, force: force), environment: env)
        } catch {
            rec.status = .failed
            rec.message = "cannot start \(settings.opshPath): \(error.message)"
            rec.finishedAt = clock.now()
            return rec
        }
        defer { process.close() }
        rec = started(rec)
        let begun = SystemClock.monotonic()
        let renewEvery = max(0.2, settings.lockTTL / 3)
        var killed: RunRecord.Status?
        var lockLost = false
        while !process.poll() {
            var p = pollfd(fd: process.pidfd, events: Int16(POLLIN), revents: 0)
            _ = Glibc.poll(&p, 1, Int32(min(renewEvery, 1) * 1000))
            if process.poll() { break }
            if let lock, !lockLost, SystemClock.monotonic() - begun >= renewEvery, !lock.renew() { lockLost = true }
            if SystemClock.monotonic() - begun > job.timeout + killGrace { killed = .timeout; process.kill(); break }
            if stop() { killed = .abandoned; process.kill(); break }
        }
        let out = process.output(limit: 1 << 20)
        rec.finishedAt = clock.now()
        let stderrText = String(decoding: out.stderr, as: UTF8.self)
        if let killed {
            rec.status = killed
            rec.message = killed == .timeout ? "killed \(Int(killGrace))s after its timeout of \(JobRunner.seconds(job.timeout))"
                                             : "killed: the agent stopped before the run ended"
        } else if let code = process.exitStatus {
            rec.exitCode = Int(code)
            rec.status = RunRecord.status(exitCode: Int(code))
            if code == 3, stderrText.contains("timed out after") { rec.status = .timeout }
        } else {
            rec.status = .unknown
            rec.message = "ended by signal \(process.exitSignal ?? 0)"
        }
        let report = String(decoding: out.stdout, as: UTF8.self)
        rec.report = report.isEmpty ? nil : report
        if rec.message == nil, !stderrText.isEmpty { rec.message = String(stderrText.suffix(2000)) }
        if let lock {
            // the agent's own shared write: the job's last result, refused if another agent took
            // the job over meanwhile
            do {
                _ = try lock.fenced(["HSET", JobLock.prefix + "last:" + job.name, "agent", settings.agentID, "status", rec.status.rawValue,
                                     "finished_at", String(Int64(rec.finishedAt ?? 0)), "token", String(lock.token)])
            } catch {
                rec.message = (rec.message.map { $0 + "\n" } ?? "") + "result not published: \(error)"
            }
        }
        return rec
    }

    /// This process's environment, as KEY=VALUE strings (less the OPSH_AGENT_ variables of an
    /// agent that started this one).
    static func environment() -> [String] {
        var out: [String] = []
        var p = environ
        while let e = p.pointee {
            let s = String(cString: e)
            if !s.hasPrefix("OPSH_AGENT_") { out.append(s) }
            p += 1
        }
        return out
    }
}

/// Where the agent reads the time: the system's clock, or one a test sets (so schedules,
/// missed runs and windows are tested without waiting).
public protocol AgentClock: Sendable {
    /// Unix seconds
    func now() -> Double
}

public struct SystemAgentClock: AgentClock {
    public init() {}
    public func now() -> Double { SystemClock.wall() }
}
