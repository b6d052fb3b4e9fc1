import Agent
import Archive

/// The jobs' endpoints over the agent's core (docs/agent.md "The HTTP API"): the jobs and
/// their next runs, the run history, and run-now. Reads need view_metrics, run-now
/// system_config (it starts work: refused while draining).
enum JobRoutes {
    static let runNowSchema = BodySchema([.field("job", .string, required: true), .field("force", .boolean)])

    static func endpoints(_ api: AgentAPI, _ scheduler: JobScheduler) -> [Endpoint] {
        [
            Endpoint(.get, "/api/agent/jobs", AdminRoutes.view) { _ in
                let jobs = try await AgentPools.blocking { scheduler.jobs().map { JSONValue($0.json) } }
                return .json(200, .object([("agent", .string(scheduler.settings.agentID)), ("jobs", .array(jobs))]))
            },
            Endpoint(.get, "/api/agent/history", AdminRoutes.view) { c in
                let limit = try AgentAPI.limit(c.query, default: 50)
                let job = c.query["job"].flatMap { $0.isEmpty ? nil : $0 }
                let runs = try await AgentPools.blocking { try scheduler.history.runs(job: job, limit: limit).map { JSONValue($0.json) } }
                return .json(200, .object([("runs", .array(runs))]))
            },
            Endpoint(.post, "/api/agent/run-now", AdminRoutes.config, body: .json(runNowSchema)) { c in
                if api.draining.load(ordering: .relaxed) || scheduler.isStopping {
                    throw APIError.unavailable("the agent is shutting down: no new run is started")
                }
                guard case .string(let name)? = c.fields["job"] else { throw APIError.badRequest("missing field 'job' (string)") }
                let force = c.fields["force"] == .bool(true)
                try await AgentPools.blocking { _ = try scheduler.startNow(name, force: force) }
                return .json(202, .object([("run", JSONValue(try await started(name, scheduler).json))]))
            },
        ]
    }

    /// The run just started, once its process runs and its row has an id; or, when it ended
    /// before (the lock was held elsewhere, the process could not start), its finished record.
    static func started(_ name: String, _ scheduler: JobScheduler) async throws -> RunRecord {
        for _ in 0..<250 {
            if let r = scheduler.running()[name] {
                if r.id != 0 { return r }
            } else if let done = try await AgentPools.blocking({ try scheduler.history.runs(job: name, limit: 1).first }) {
                return done
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return scheduler.running()[name] ?? RunRecord(job: name, procedure: "", agent: scheduler.settings.agentID, trigger: "run-now",
                                                      scheduledAt: nil, startedAt: scheduler.clock.now(), status: .running)
    }
}

extension JSONValue {
    /// The core's JSON tree (Archive's MValue) as the server's.
    init(_ m: MValue) {
        switch m {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSONValue.init))
        case .object(let o): self = .object(o.map { ($0.0, JSONValue($0.1)) })
        }
    }
}
