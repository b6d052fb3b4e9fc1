import Archive
import Schedule

/// The one JSON shape of a run and of a job, for `opsh agent ... --json` and the agent's API
/// (docs/agent-openapi.yaml: Run, Job): stable field names, times as Unix seconds.
extension RunRecord {
    public var json: MValue {
        .object([("id", .int(id)), ("job", .string(job)), ("procedure", .string(procedure)), ("agent", .string(agent)),
                 ("trigger", .string(trigger)), ("status", .string(status.rawValue)),
                 ("started_at", .double(startedAt)), ("finished_at", finishedAt.map { .double($0) } ?? .null),
                 ("scheduled_at", scheduledAt.map { .int($0) } ?? .null), ("exit_code", exitCode.map { .int(Int64($0)) } ?? .null),
                 ("message", message.map { .string($0) } ?? .null), ("fence_token", fenceToken.map { .int($0) } ?? .null),
                 // the procedure's report as it printed it (opsh run --json); null when it printed none
                 ("report", report.flatMap { MValue.parse(Array($0.utf8)) } ?? .null)])
    }
}

extension Job {
    /// `nextRunAt`: Unix seconds (also shown on the job's clock as next_run); `running`: the
    /// run going on now, if any.
    public func json(nextRunAt: Int64?, lastRun: RunRecord?, running: RunRecord? = nil) -> MValue {
        .object([("name", .string(name)), ("procedure", .string(procedure)), ("args", .array(arguments.map { .string($0) })),
                 ("schedule", .string(scheduleText)), ("timezone", .string(zone.name)), ("timeout", .double(timeout)),
                 ("max_memory", maxMemory.map { .string($0) } ?? .null), ("enabled", .bool(enabled)),
                 ("next_run", nextRunAt.map { .string(CivilTime.iso($0, in: zone)) } ?? .null),
                 ("next_run_at", nextRunAt.map { .int($0) } ?? .null),
                 ("running", running.map(\.json) ?? .null),
                 ("last_run", lastRun.map(\.json) ?? .null)])
    }
}

extension JobStatus {
    public var json: MValue { job.json(nextRunAt: nextRunAt, lastRun: lastRun, running: running) }
}
