import HTTPTypes
import Pool
import Predict

/// The endpoint table: the guide's admin endpoints (Enhanced Database Connection Pool
/// Management, each with the body its procedure sends), /health and /metrics. Reads need
/// view_metrics; resets, tests, configuration changes and retraining need system_config.
enum AdminRoutes {
    static let view = "view_metrics"
    static let config = "system_config"

    static func endpoints(_ api: AgentAPI) -> [Endpoint] {
        let admin = api.admin
        func blocking(_ body: @escaping @Sendable () throws -> JSONValue) -> @Sendable (Endpoint.Call) async throws -> Endpoint.Reply {
            { _ in .json(200, try await AgentPools.blocking(body)) }
        }
        func refuseWhileDraining() throws {
            if api.draining.load(ordering: .relaxed) { throw APIError.unavailable("the agent is shutting down: no new work is taken") }
        }
        return [
            Endpoint(.get, "/health", view) { _ in .json(200, health(api)) },
            Endpoint(.get, "/metrics", view) { _ in
                .text(200, metrics(api), contentType: "text/plain; version=0.0.4; charset=utf-8")
            },
            Endpoint(.get, "/admin/db-stats", view, blocking { admin.dbStats() }),
            Endpoint(.get, "/api/admin/circuit-breaker-status", view) { _ in .json(200, admin.breakerStatus()) },
            Endpoint(.get, "/api/admin/circuit-breaker-health-summary", view) { _ in .json(200, admin.breakerHealthSummary()) },
            Endpoint(.post, "/api/admin/circuit-breaker-reset", config, body: .json(PoolAdmin.resetSchema)) { c in
                .json(200, admin.breakerReset(c.fields))
            },
            Endpoint(.post, "/api/admin/circuit-breaker-test", config, body: .json(PoolAdmin.testSchema)) { c in
                try refuseWhileDraining()
                return .json(200, try await AgentPools.blocking { admin.breakerTest(c.fields) })
            },
            Endpoint(.put, "/api/admin/circuit-breaker-config", config, body: .json(PoolAdmin.configSchema)) { c in
                .json(200, try admin.breakerConfig(c.fields))
            },
            Endpoint(.get, "/api/admin/ml-model-stats", view) { _ in .json(200, admin.modelStats()) },
            Endpoint(.get, "/api/admin/ml-model-training-status", view) { _ in .json(200, admin.trainingStatus()) },
            Endpoint(.post, "/api/admin/retrain-ml-model", config, body: .json(PoolAdmin.retrainSchema)) { c in
                try refuseWhileDraining()
                let (status, value) = try await AgentPools.blocking { try admin.retrain(c.fields, onDone: {}) }
                return .json(status, value)
            },
            Endpoint(.get, "/api/admin/connection-affinity-patterns", view) { _ in .json(200, admin.affinityPatterns()) },
            Endpoint(.delete, "/api/admin/connection-affinity-patterns", config, body: .json(PoolAdmin.clearSchema)) { c in
                .json(200, admin.clearLowPerformers(c.fields))
            },
            Endpoint(.get, "/api/admin/connection-affinity-performance", view) { _ in .json(200, admin.affinityPerformance()) },
            Endpoint(.get, "/api/admin/connection-affinity-weekly-report", view, blocking { try admin.weeklyReport() }),
            Endpoint(.post, "/api/admin/optimize-connection-specializations", config, body: .json(PoolAdmin.optimizeSchema)) { c in
                .json(200, admin.optimize(c.fields))
            },
            Endpoint(.put, "/api/admin/connection-pool-config", config, body: .json(PoolAdmin.poolConfigSchema)) { c in
                .json(200, try admin.poolConfig(c.fields, schedule: { after, work in
                    Task { try? await Task.sleep(nanoseconds: UInt64(after * 1e9)); work() }
                }))
            },
        ]
    }

    /// GET /health: answers without any I/O, so a load balancer's probe never waits on Redis.
    /// "degraded" when a pool's breaker is not closed; "draining" after SIGTERM.
    static func health(_ api: AgentAPI) -> JSONValue {
        let views = api.admin.pools.views
        let draining = api.draining.load(ordering: .relaxed)
        let closed = views.allSatisfy { $0.breaker.state == .closed }
        return .object([
            ("status", .string(draining ? "draining" : (closed ? "ok" : "degraded"))),
            ("uptime_seconds", .double((PoolClock.unixSeconds() - api.startedAt).rounded())),
            ("breakers", .object(views.map { ($0.target, .string($0.breaker.state.description)) })),
        ])
    }

    /// GET /metrics: the pools' metrics with the guide's names (db_connection_pool_*,
    /// db_circuit_breaker_*, db_connection_affinity_*, db_query_*), the load models', the
    /// jobs', the agent's own (requests, connections) and the process's.
    static func metrics(_ api: AgentAPI) -> String {
        let pools = api.admin.pools
        var text = PrometheusText()
        pools.redis.writeMetrics(&text)
        pools.qdrant.writeMetrics(&text)
        var out = text.text
        let predictors = pools.views.compactMap { v in v.forecaster.map { (labels: [("pool", v.name)], predictor: $0.snapshot) } }
        out += LoadPredictor.prometheusText(predictors)
        out += api.stats.text()
        out += "# HELP opsh_agent_connections_open Client connections open now.\n# TYPE opsh_agent_connections_open gauge\n"
        out += "opsh_agent_connections_open \(api.limits.openConnections)\n"
        out += "# HELP opsh_agent_connections_refused_total Connections refused above agent_max_connections.\n# TYPE opsh_agent_connections_refused_total counter\n"
        out += "opsh_agent_connections_refused_total \(api.limits.refusedTotal.load(ordering: .relaxed))\n"
        out += "# HELP opsh_agent_connections_timed_out_total Connections closed for a slow request (agent_body_timeout, agent_idle_timeout).\n"
        out += "# TYPE opsh_agent_connections_timed_out_total counter\n"
        out += "opsh_agent_connections_timed_out_total \(api.limits.timedOutTotal.load(ordering: .relaxed))\n"
        out += api.extraMetrics()
        out += ProcessMetrics.text()
        return out
    }
}
