import Synchronization

/// Requests served, by endpoint, method and status, for /metrics
/// (opsh_agent_http_requests_total), and the refusals by reason.
final class RequestStats: @unchecked Sendable {
    struct Key: Hashable { let route: String; let method: String; let status: Int }
    let counts = Mutex<[Key: Int]>([:])
    let inFlight = Atomic<Int>(0)

    func count(route: String, method: String, status: Int) {
        counts.withLock { $0[Key(route: route, method: method, status: status), default: 0] += 1 }
    }

    func text() -> String {
        let c = counts.withLock { $0 }.sorted { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }
        var out = "# HELP opsh_agent_http_requests_total Requests the agent answered, by endpoint (route), method and status code.\n"
        out += "# TYPE opsh_agent_http_requests_total counter\n"
        for (k, n) in c {
            out += "opsh_agent_http_requests_total{route=\"\(k.route)\",method=\"\(k.method)\",code=\"\(k.status)\"} \(n)\n"
        }
        out += "# HELP opsh_agent_http_requests_in_flight Requests being answered now.\n# TYPE opsh_agent_http_requests_in_flight gauge\n"
        out += "opsh_agent_http_requests_in_flight \(inFlight.load(ordering: .relaxed))\n"
        return out
    }
}
