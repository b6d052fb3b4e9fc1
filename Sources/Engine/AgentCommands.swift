import Agent
import Archive
import FileSystem
import Glibc
import Modules
import Schedule
import Sys

/// `opsh agent ...` (docs/agent.md): the agent's jobs, history and run-now read the
/// configuration and the history database directly, without a running agent; `opsh agent`
/// with anything else starts the agent server, the opsh-agent executable installed beside opsh
/// (kept out of this binary so its HTTP server costs `opsh run` nothing at start-up).
public enum AgentCommands {
    static let usage = """
        usage: opsh agent jobs [--json]                    the scheduled jobs, their next and last runs
               opsh agent history [JOB] [--limit N] [--json]   past runs, newest first
               opsh agent run-now JOB [--force] [--json]  run a job now, in the foreground, with its lock
               opsh agent windows [--json]                the maintenance windows: open now, next opening
               opsh agent [AGENT FLAGS]                    start the agent (the opsh-agent executable)
        """

    static func main(_ args: [String], _ options: Options) -> Int32 {
        switch args.first {
        case "jobs": return jobs(Array(args.dropFirst()), options)
        case "history": return history(Array(args.dropFirst()), options)
        case "run-now": return runNow(Array(args.dropFirst()), options)
        case "windows": return windows(Array(args.dropFirst()), options)
        case "help", "--help", "-h": print(usage); return 0
        default: return startServer(args, options)
        }
    }

    /// This executable's own path: opsh's (the runs execute it, and opsh-agent lies beside
    /// it), or opsh-agent's (opsh lies beside it).
    public static func selfPath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    /// opsh's own configuration flags (`opsh --config F --set K=V agent`) go on to the server,
    /// before the agent's flags: the agent reads the same configuration the CLI would.
    static func startServer(_ args: [String], _ options: Options) -> Int32 {
        let path = FileSystem.directory(of: selfPath()) + "/opsh-agent"
        guard access(path, X_OK) == 0 else {
            writeStderr("opsh: the agent server is not installed: no executable \(path) (build it with swift build --product opsh-agent and install it beside opsh)\n\(usage)\n")
            return 3
        }
        var argv = [path]
        if let c = options.configFile { argv += ["--config", c] }
        if let e = options.envFile { argv += ["--env-file", e] }
        for (k, v) in options.settings { argv += ["--set", k + "=" + v] }
        argv += args
        let cargs = argv.map { strdup($0) } + [nil]
        execv(path, cargs)
        writeStderr("opsh: cannot run \(path): \(String(cString: strerror(errno)))\n")
        return 3
    }

    /// Flags of the subcommands: --json, --force, --limit N; the rest are positional.
    struct Flags {
        var json = false, force = false, limit = 20
        var positional: [String] = []
        init(_ args: [String], json: Bool) throws(UsageError) {
            self.json = json
            var i = 0
            while i < args.count {
                switch args[i] {
                case "--json": self.json = true
                case "--force": force = true
                case "--limit":
                    i += 1
                    guard i < args.count, let n = Int(args[i]), n > 0 else { throw UsageError("--limit needs a positive number") }
                    limit = n
                default:
                    if args[i].hasPrefix("-") { throw UsageError("agent: unknown flag \(args[i])") }
                    positional.append(args[i])
                }
                i += 1
            }
        }
    }

    /// The scheduler's settings from the configuration as `opsh run` resolves it.
    static func settings(_ options: Options) -> SchedulerSettings? {
        guard let session = CLI.session(options) else { return nil }
        defer { session.vm.close() }
        do {
            return try session.configuration.schedulerSettings(opshPath: selfPath(), configFile: options.configFile)
        } catch {
            writeStderr("opsh: \(error)\n")
            return nil
        }
    }

    static func iso(_ t: Double?) -> String { t.map { CivilTime.iso(Int64($0)) } ?? "-" }

    static func printJSON(_ v: MValue) {
        print(String(decoding: v.json(pretty: true).dropLast(), as: UTF8.self))
    }

    static func jobs(_ args: [String], _ options: Options) -> Int32 {
        let flags: Flags
        do { flags = try Flags(args, json: options.json) } catch { return CLI.usageError(error.message) }
        guard let s = settings(options) else { return 3 }
        let h = FileSystem.exists(s.historyPath) ? try? RunHistory(path: s.historyPath) : nil
        let now = Int64(SystemClock.wall())
        var rows: [MValue] = []
        var lines: [[String]] = [["JOB", "PROCEDURE", "SCHEDULE", "ZONE", "NEXT RUN", "LAST RUN"]]
        for j in s.jobs {
            let next = j.enabled ? j.schedule?.next(after: now, in: j.zone) : nil
            let last = (try? h?.runs(job: j.name, limit: 1))??.first
            rows.append(j.json(nextRunAt: next, lastRun: last))
            lines.append([j.name, ([j.procedure] + j.arguments).joined(separator: " "), j.scheduleText, j.zone.name,
                          j.enabled ? (next.map { CivilTime.iso($0, in: j.zone) } ?? "never") : "disabled",
                          last.map { "\($0.status.rawValue) \(iso($0.startedAt))" } ?? "-"])
        }
        if flags.json { printJSON(.array(rows)); return 0 }
        printTable(lines)
        print("history: \(s.historyPath)\(h == nil ? " (none yet)" : "")")
        return 0
    }

    static func history(_ args: [String], _ options: Options) -> Int32 {
        let flags: Flags
        do { flags = try Flags(args, json: options.json) } catch { return CLI.usageError(error.message) }
        guard flags.positional.count <= 1 else { return CLI.usageError("agent history takes at most one job name") }
        guard let s = settings(options) else { return 3 }
        let job = flags.positional.first
        if let job, s.job(job) == nil, !job.hasPrefix("once:") {
            writeStderr("opsh: note: no job named '\(job)' is configured now; showing its recorded runs\n")
        }
        var runs: [RunRecord] = []
        if FileSystem.exists(s.historyPath) {
            do { runs = try RunHistory(path: s.historyPath).runs(job: job, limit: flags.limit) } catch {
                writeStderr("opsh: \(error)\n")
                return 3
            }
        }
        if flags.json { printJSON(.array(runs.map(\.json))); return 0 }
        var lines: [[String]] = [["ID", "JOB", "STATUS", "EXIT", "STARTED", "SECONDS", "TRIGGER", "AGENT", "MESSAGE"]]
        for r in runs {
            let secs = r.finishedAt.map { String(Int(($0 - r.startedAt).rounded())) } ?? "-"
            let msg = (r.message ?? "").split(separator: "\n").last.map(String.init) ?? ""
            lines.append([String(r.id), r.job, r.status.rawValue, r.exitCode.map(String.init) ?? "-", iso(r.startedAt), secs, r.trigger, r.agent,
                          String(msg.prefix(100))])
        }
        if runs.isEmpty { print("no runs recorded in \(s.historyPath)"); return 0 }
        printTable(lines)
        return 0
    }

    static func runNow(_ args: [String], _ options: Options) -> Int32 {
        let flags: Flags
        do { flags = try Flags(args, json: options.json) } catch { return CLI.usageError(error.message) }
        guard flags.positional.count == 1, let name = flags.positional.first else { return CLI.usageError("agent run-now needs one job name (opsh agent jobs lists them)") }
        guard let s = settings(options) else { return 3 }
        let rec: RunRecord
        do {
            let scheduler = try JobScheduler(settings: s)
            rec = try scheduler.runNow(name, force: flags.force || options.force)
        } catch {
            writeStderr("opsh: \(error)\n")
            return 3
        }
        if flags.json {
            printJSON(rec.json)
        } else {
            let secs = rec.finishedAt.map { String(format1($0 - rec.startedAt)) } ?? "-"
            print("\(rec.job) (\(rec.procedure)): \(rec.status.rawValue)\(rec.exitCode.map { ", exit \($0)" } ?? "") in \(secs)s; run \(rec.id)\(rec.fenceToken.map { ", fencing token \($0)" } ?? "")")
            if let report = rec.report.flatMap({ MValue.parse(Array($0.utf8)) }) {
                for c in report["checks"]?.array ?? [] {
                    print("  \((c["status"]?.string ?? "?").uppercased()) \(c["name"]?.string ?? ""): \(c["message"]?.string ?? "")")
                }
                if let e = report["error"]?["message"]?.string { print("  error: \(e)") }
            }
            if let m = rec.message, !m.isEmpty { writeStderr(m.hasSuffix("\n") ? m : m + "\n") }
        }
        switch rec.status {
        case .ok, .warning, .critical, .unknown: return Int32(rec.exitCode ?? 3)
        default: return 3
        }
    }

    static func format1(_ d: Double) -> String {
        let t = (d * 10).rounded() / 10
        return String(t)
    }

    static func windows(_ args: [String], _ options: Options) -> Int32 {
        let flags: Flags
        do { flags = try Flags(args, json: options.json) } catch { return CLI.usageError(error.message) }
        guard let s = settings(options) else { return 3 }
        let zone = (try? ZoneRules(named: s.maintenanceZone)) ?? .utc
        let now = Int64(SystemClock.wall())
        let all = MaintenanceWindow.all.map { WindowStatus(window: $0, zone: zone, at: now) }
        if flags.json {
            printJSON(.array(all.map { w in
                .object([("name", .string(w.name)), ("when", .string(w.when)), ("timezone", .string(w.timeZone)), ("open", .bool(w.open)),
                         ("start", w.start.map { .string(CivilTime.iso($0, in: zone)) } ?? .null),
                         ("end", w.end.map { .string(CivilTime.iso($0, in: zone)) } ?? .null)])
            }))
            return 0
        }
        for w in all { print(w.text) }
        return 0
    }

    static func printTable(_ rows: [[String]]) {
        guard let first = rows.first else { return }
        var widths = first.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        for r in rows {
            var line = ""
            for (i, c) in r.enumerated() {
                line += i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 2)
            }
            print(line)
        }
    }
}

extension Configuration {
    /// The agent's scheduler settings from this configuration (agent_* keys, the jobs), read
    /// the one way opsh.agent reads them; `opshPath` is the binary each run executes. For the
    /// CLI and for opsh-agent, which reads the configuration through the Engine.
    public func schedulerSettings(opshPath: String, configFile: String?) throws(AgentError) -> SchedulerSettings {
        try AgentModule.settings(values, opshPath: opshPath, configFile: configFile)
    }
}
