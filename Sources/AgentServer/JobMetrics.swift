import Agent
import Pool
import Synchronization

/// The jobs' metrics for /metrics, counted as the scheduler records each run (its observer):
/// runs by job and status, each job's last success (from the history at start, so a restart
/// keeps it), how long runs took, and what runs now. No database read per scrape.
final class JobMetrics: @unchecked Sendable {
    struct Duration { var buckets: [UInt64]; var sum = 0.0; var count: UInt64 = 0 }
    struct State {
        var runs: [String: [RunRecord.Status: UInt64]] = [:]
        var lastSuccess: [String: Double] = [:]
        var durations: [String: Duration] = [:]
    }
    /// seconds: jobs take from a second (a check) to hours (a full backup)
    static let bounds: [Double] = [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400]
    let state = Mutex(State())

    func seed(lastSuccess: [String: Double]) {
        state.withLock { $0.lastSuccess.merge(lastSuccess) { max($0, $1) } }
    }

    /// The scheduler's observer: one finished (or skipped, missed, killed) run.
    func record(_ r: RunRecord) {
        state.withLock { s in
            s.runs[r.job, default: [:]][r.status, default: 0] += 1
            if r.status == .ok, let end = r.finishedAt { s.lastSuccess[r.job] = max(s.lastSuccess[r.job] ?? 0, end) }
            // skipped and missed runs never ran: no duration
            guard r.status != .skipped, r.status != .missed, let end = r.finishedAt else { return }
            let d = max(0, end - r.startedAt)
            var h = s.durations[r.job] ?? Duration(buckets: Array(repeating: 0, count: Self.bounds.count))
            for (i, b) in Self.bounds.enumerated() where d <= b { h.buckets[i] += 1 }
            h.sum += d
            h.count += 1
            s.durations[r.job] = h
        }
    }

    func text(_ scheduler: JobScheduler) -> String {
        let s = state.withLock { $0 }
        let running = scheduler.running()
        let jobs = scheduler.settings.jobs.map(\.name)
        var t = PrometheusText()
        for job in s.runs.keys.sorted() {
            for (status, n) in s.runs[job]!.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                t.counter("opsh_agent_job_runs_total", "Runs the agent recorded since it started, by job and status (ok, warning, critical, unknown, timeout, failed, skipped, missed, abandoned).",
                          [("job", job), ("status", status.rawValue)], Double(n))
            }
        }
        for job in s.lastSuccess.keys.sorted() {
            t.gauge("opsh_agent_job_last_success_timestamp_seconds", "When the job's latest successful run ended (Unix seconds), from the history.",
                    [("job", job)], s.lastSuccess[job]!)
        }
        for job in Set(jobs).union(running.keys).sorted() {
            t.gauge("opsh_agent_job_running", "1 while a run of the job is going on here.", [("job", job)], running[job] == nil ? 0 : 1)
        }
        t.gauge("opsh_agent_jobs_running", "Runs going on here now.", [], Double(running.count))
        for job in s.durations.keys.sorted() {
            let h = s.durations[job]!
            t.histogram("opsh_agent_job_duration_seconds", "How long the job's runs took, start to end (runs that started).", [("job", job)],
                        buckets: zip(Self.bounds, h.buckets).map { (le: $0, count: $1) }, sum: h.sum, count: h.count)
        }
        return t.text
    }
}
