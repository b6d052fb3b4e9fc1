/// One row of the run history (docs/agent.md "History").
public struct RunRecord: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case running
        /// the procedure's exit code: 0 ok, 1 warning, 2 critical, 3 unknown (script errors too)
        case ok, warning, critical, unknown
        /// stopped at its timeout (opsh run --timeout, or the agent's kill after the grace)
        case timeout
        /// could not be started (spawn failure, no Redis for the lock)
        case failed
        /// not started: the job was still running, or another agent holds its lock
        case skipped
        /// scheduled while no agent ran: reported when the agent starts, not run
        case missed
        /// ended without a result: its agent stopped or died while it ran
        case abandoned

        /// ok is the only success; running has no verdict yet
        public var failed: Bool { self != .ok && self != .running }
    }

    public var id: Int64
    public var job: String
    public var procedure: String
    public var agent: String
    /// schedule, run-now, once (a one-shot job), startup (missed runs)
    public var trigger: String
    /// the run it was scheduled for (Unix seconds), nil for run-now
    public var scheduledAt: Int64?
    public var startedAt: Double
    public var finishedAt: Double?
    public var status: Status
    public var exitCode: Int?
    /// the procedure's report (opsh run --json), as it printed it
    public var report: String?
    /// why it failed or was skipped; the last lines of stderr
    public var message: String?
    public var fenceToken: Int64?

    public init(id: Int64 = 0, job: String, procedure: String, agent: String, trigger: String, scheduledAt: Int64?, startedAt: Double,
                finishedAt: Double? = nil, status: Status, exitCode: Int? = nil, report: String? = nil, message: String? = nil, fenceToken: Int64? = nil) {
        self.id = id
        self.job = job
        self.procedure = procedure
        self.agent = agent
        self.trigger = trigger
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.status = status
        self.exitCode = exitCode
        self.report = report
        self.message = message
        self.fenceToken = fenceToken
    }

    public static func status(exitCode: Int) -> Status {
        switch exitCode {
        case 0: return .ok
        case 1: return .warning
        case 2: return .critical
        default: return .unknown
        }
    }
}

/// A one-shot job a procedure scheduled (the guide's `at now + 1 hour`).
public struct OneShot: Sendable, Equatable {
    public var id: Int64
    public var procedure: String
    public var arguments: [String]
    public var dueAt: Int64
    public var createdAt: Int64
    public var createdBy: String
    /// pending, started, done
    public var state: String
}

/// An audit record of a state-changing call (the admin API's; docs/agent.md "History").
public struct AuditRecord: Sendable, Equatable {
    public var id: Int64
    public var at: Double
    /// the user (API key owner) or "cli"
    public var actor: String
    /// e.g. POST /api/admin/circuit-breaker-reset
    public var action: String
    public var target: String?
    /// ok, denied, error: ... (the API: its answer's summary)
    public var result: String
    /// the request's body (the API), or what was done
    public var detail: String?
    /// the caller's role (API calls; nil for anonymous callers and the CLI)
    public var role: String?
    /// the client's address (API calls)
    public var address: String?
    /// the HTTP status of the answer (API calls)
    public var status: Int?

    public init(id: Int64 = 0, at: Double, actor: String, action: String, target: String? = nil, result: String, detail: String? = nil,
                role: String? = nil, address: String? = nil, status: Int? = nil) {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.result = result
        self.detail = detail
        self.role = role
        self.address = address
        self.status = status
    }
}
