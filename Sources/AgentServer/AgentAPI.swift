import Agent
import Hummingbird
import JSON
import HTTPTypes
import Logging
import NIOCore
import Pool
import Predict
import Synchronization

/// The request context: Hummingbird's, plus the client's address (for the per-address limit
/// and the audit trail).
public struct AgentContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let address: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        address = source.channel.remoteAddress?.ipAddress ?? source.channel.remoteAddress?.description ?? "unknown"
    }
}

/// The agent's HTTP API (docs/agent.md, docs/agent-openapi.yaml): one table of endpoints, and
/// in front of every call the same steps in the same order: route, per-address limit, key,
/// permission, per-key limit, body (size, JSON, fields), handler, audit, counters.
public final class AgentAPI: @unchecked Sendable {
    let settings: Mutex<ServerSettings>
    let verifier: KeyVerifier
    let addressLimiter: RateLimiter
    let keyLimiter: RateLimiter
    public let admin: PoolAdmin
    let stats = RequestStats()
    public let limits: ConnectionLimits
    let logger: Logger
    let startedAt = PoolClock.unixSeconds()
    /// SIGTERM was received: no new work (run-now, retraining) is taken.
    public let draining = Atomic<Bool>(false)
    let audit: @Sendable (AuditRecord) -> Void
    var routes: [String: [Endpoint]] = [:]
    /// Extra /metrics text (the jobs').
    let extraMetrics: @Sendable () -> String

    public init(settings: ServerSettings, pools: AgentPools, history: PoolHistory, logger: Logger,
                audit: @escaping @Sendable (AuditRecord) -> Void, extraMetrics: @escaping @Sendable () -> String = { "" }) {
        self.settings = Mutex(settings)
        admin = PoolAdmin(pools: pools, history: history)
        verifier = KeyVerifier(roles: settings.roles, cacheSeconds: settings.keyCacheSeconds, now: { PoolClock.unixSeconds() },
                               lookup: { [pools] commands in try pools.redisCommands(commands) })
        addressLimiter = RateLimiter(rate: settings.rateLimitPerAddress, burst: settings.rateLimitPerAddress * 2)
        keyLimiter = RateLimiter(rate: settings.rateLimitPerKey, burst: settings.rateLimitPerKey * 2)
        limits = ConnectionLimits(maxConnections: settings.maxConnections, bodyTimeout: settings.bodyTimeout, idleTimeout: settings.idleTimeout)
        self.logger = logger
        self.audit = audit
        self.extraMetrics = extraMetrics
        for e in AdminRoutes.endpoints(self) { add(e) }
    }

    func add(_ e: Endpoint) { routes[e.path, default: []].append(e) }

    /// GET /api/agent/audit?limit=N: the newest audit records (system_config: it says who did
    /// what), from the history database's one audit table (RunHistory's).
    public func addAuditEndpoint(_ history: RunHistory) {
        add(Endpoint(.get, "/api/agent/audit", AdminRoutes.config) { c in
            let limit = try Self.limit(c.query, default: 100)
            return .json(200, .object([("records", .array(try await AgentPools.blocking { try history.auditRecords(limit: limit).map(Self.auditJSON) }))]))
        })
    }

    static func auditJSON(_ r: AuditRecord) -> JSONValue {
        .object([("id", .int(r.id)), ("at", .double(r.at)), ("actor", .string(r.actor)), ("role", r.role.map { .string($0) } ?? .null),
                 ("address", r.address.map { .string($0) } ?? .null), ("action", .string(r.action)),
                 ("target", r.target.map { .string($0) } ?? .null), ("status", r.status.map { .integer($0) } ?? .null),
                 ("result", .string(r.result)), ("detail", r.detail.map { .string($0) } ?? .null)])
    }

    /// ?limit=N, 1 to 1000.
    static func limit(_ q: [String: String], default d: Int) throws(APIError) -> Int {
        guard let text = q["limit"] else { return d }
        guard let n = Int(text), n >= 1, n <= 1000 else { throw .badRequest("limit must be a whole number from 1 to 1000, got '\(text)'") }
        return n
    }

    public var currentSettings: ServerSettings { settings.withLock { $0 } }

    /// A reload's new settings: limits, roles, open endpoints, timeouts. The listen address,
    /// TLS and the Redis and Qdrant URLs need a restart; the caller says so.
    public func apply(_ s: ServerSettings) {
        settings.withLock { $0 = s }
        verifier.reconfigure(roles: s.roles, cacheSeconds: s.keyCacheSeconds)
        addressLimiter.reconfigure(rate: s.rateLimitPerAddress, burst: s.rateLimitPerAddress * 2)
        keyLimiter.reconfigure(rate: s.rateLimitPerKey, burst: s.rateLimitPerKey * 2)
        limits.reconfigure(maxConnections: s.maxConnections, bodyTimeout: s.bodyTimeout, idleTimeout: s.idleTimeout)
    }

    // MARK: answering

    public func respond(to request: Request, context: AgentContext) async -> Response {
        stats.inFlight.wrappingAdd(1, ordering: .relaxed)
        defer { stats.inFlight.wrappingSubtract(1, ordering: .relaxed) }
        let path = request.uri.path
        let method = request.method
        guard let candidates = routes[path] else {
            stats.count(route: "unknown", method: method.rawValue, status: 404)
            return Self.error(APIError.notFound("no endpoint \(path) (docs/agent-openapi.yaml lists them)"))
        }
        guard let endpoint = candidates.first(where: { $0.method == method }) ?? (method == .head ? candidates.first { $0.method == .get } : nil) else {
            stats.count(route: path, method: method.rawValue, status: 405)
            var r = Self.error(APIError(status: 405, code: "method_not_allowed", message: "\(path) takes \(candidates.map(\.method.rawValue).joined(separator: ", "))"))
            r.headers[.allow] = candidates.map(\.method.rawValue).joined(separator: ", ")
            return r
        }
        let principal: Principal?
        let bodyText: String?
        let reply: Endpoint.Reply
        do {
            (principal, bodyText, reply) = try await answer(endpoint, request, context)
        } catch let d as DeniedError {
            finish(endpoint, context, principal: d.principal, body: d.body, status: d.error.status, result: d.error.message)
            return Self.error(d.error)
        } catch {
            let e = Self.apiError(error)
            finish(endpoint, context, principal: nil, body: nil, status: e.status, result: e.message)
            return Self.error(e)
        }
        let response: Response
        switch reply {
        case .json(let status, let value):
            response = Self.json(status, value)
            finish(endpoint, context, principal: principal, body: bodyText, status: status, result: Self.summary(value))
        case .text(let status, let text, let type):
            var r = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: text)))
            r.headers[.contentType] = type
            response = r
            finish(endpoint, context, principal: principal, body: bodyText, status: status, result: "")
        }
        return response
    }

    /// The steps before the handler, then the handler; an APIError on the way is the answer.
    func answer(_ endpoint: Endpoint, _ request: Request, _ context: AgentContext) async throws -> (Principal?, String?, Endpoint.Reply) {
        let s = currentSettings
        var principal: Principal?
        if !s.openEndpoints.contains(endpoint.path) {
            let now = PoolClock.unixSeconds()
            let byAddress = addressLimiter.admit(context.address, now: now)
            guard byAddress.allowed else {
                throw APIError(status: 429, code: "rate_limited",
                               message: "too many requests from \(context.address): at most \(BodySchema.text(s.rateLimitPerAddress)) a second (agent_rate_limit_per_address)",
                               retryAfter: byAddress.retryAfter)
            }
            let key = request.headers[HTTPField.Name("X-API-Key")!]
            let p: Principal
            do {
                // a key verified moments ago is answered here; only a lookup in Redis goes to the blocking pool
                if let known = verifier.cached(key) {
                    p = known
                } else {
                    p = try await AgentPools.blocking { [verifier] in
                        do { return try verifier.verify(key) } catch { throw error }
                    }
                }
            } catch let refusal as AccessRefusal {
                if case .storeUnavailable = refusal { throw APIError(status: 503, code: "user_store_unavailable", message: refusal.message) }
                throw APIError(status: 401, code: "unauthorized", message: refusal.message)
            }
            principal = p
            guard p.permissions.contains(endpoint.permission) else {
                throw DeniedError(principal: p, error: APIError(status: 403, code: "forbidden",
                    message: "user \(p.name) (role \(p.role)) does not have the permission \(endpoint.permission) that \(endpoint.method.rawValue) \(endpoint.path) needs"))
            }
            let byKey = keyLimiter.admit("user:" + p.name, now: now)
            guard byKey.allowed else {
                throw DeniedError(principal: p, error: APIError(status: 429, code: "rate_limited",
                    message: "too many requests for user \(p.name): at most \(BodySchema.text(s.rateLimitPerKey)) a second (agent_rate_limit_per_key)",
                    retryAfter: byKey.retryAfter))
            }
        }
        var fields: [String: JSONValue] = [:]
        var bodyText: String?
        do {
            switch endpoint.body {
            case .none:
                if endpoint.changesState, let n = request.headers[.contentLength].flatMap(Int.init), n > 0 {
                    let bytes = try await collect(request, max: s.maxBodyBytes)
                    if !Self.isEmptyObject(bytes) { throw APIError.badRequest("\(endpoint.path) takes no body (or {})") }
                }
            case .json(let schema):
                let bytes = try await collect(request, max: s.maxBodyBytes)
                var value: JSONValue?
                if !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
                    do { value = try JSONValue.parse(bytes) } catch {
                        throw APIError.badRequest("the body is not valid JSON: \((error as? JSONError)?.message ?? "\(error)")")
                    }
                    bodyText = String(decoding: bytes.prefix(1024), as: UTF8.self)
                }
                fields = try schema.check(value)
            }
        } catch let e as APIError {
            throw DeniedError(principal: principal, error: e, body: bodyText)
        }
        let call = Endpoint.Call(fields: fields, query: Self.query(request.uri.query), principal: principal, address: context.address)
        do {
            return (principal, bodyText, try await endpoint.handle(call))
        } catch {
            throw DeniedError(principal: principal, error: Self.apiError(error), body: bodyText)
        }
    }

    /// An APIError that knows who was refused (for the audit trail).
    struct DeniedError: Error {
        let principal: Principal?
        let error: APIError
        var body: String? = nil
    }

    func collect(_ request: Request, max: Int) async throws -> [UInt8] {
        if let n = request.headers[.contentLength].flatMap(Int.init), n > max {
            throw APIError(status: 413, code: "body_too_large", message: "the body is \(n) bytes; at most \(max) are accepted (agent_max_body_bytes)")
        }
        do {
            var buf = try await request.body.collect(upTo: max)
            return buf.readBytes(length: buf.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw APIError(status: 413, code: "body_too_large", message: "the body is larger than \(max) bytes (agent_max_body_bytes)")
        }
    }

    static func isEmptyObject(_ b: [UInt8]) -> Bool {
        let t = b.filter { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }
        return t.isEmpty || t == Array("{}".utf8)
    }

    static func query(_ q: String?) -> [String: String] {
        var out: [String: String] = [:]
        for part in (q ?? "").split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard let k = kv.first else { continue }
            out[String(k)] = kv.count > 1 ? String(kv[1]).removingPercentEncoding() : ""
        }
        return out
    }

    static func apiError(_ error: Error) -> APIError {
        if let e = error as? APIError { return e }
        if let d = error as? DeniedError { return d.error }
        if let p = error as? PoolError {
            if p.kind == .circuitOpen { return APIError(status: 503, code: "circuit_open", message: p.message) }
            return APIError(status: 503, code: p.kind.rawValue, message: p.message)
        }
        if let a = error as? AgentError {
            switch a {
            case .unknownJob: return APIError.notFound(a.description)
            case .locked: return APIError.conflict(a.description)
            case .config: return APIError.badRequest(a.description)
            case .redis, .history, .spawn: return APIError(status: 500, code: "agent", message: a.description)
            }
        }
        return APIError(status: 502, code: "upstream", message: "\(error)")
    }

    /// The audit record of a state-changing call (refused ones too) and the counters.
    /// Counts the answer, and records it in the audit trail when the endpoint changes state
    /// (`result` is only worked out then: a read's answer is not encoded twice).
    func finish(_ e: Endpoint, _ context: AgentContext, principal: Principal?, body: String?, status: Int, result: @autoclosure () -> String) {
        stats.count(route: e.path, method: e.method.rawValue, status: status)
        guard e.changesState else { return }
        audit(AuditRecord(at: PoolClock.unixSeconds(), actor: principal?.name ?? "anonymous", action: e.method.rawValue + " " + e.path,
                          result: result(), detail: body, role: principal?.role, address: context.address, status: status))
    }

    static func summary(_ v: JSONValue) -> String {
        let b = v.bytes
        return String(decoding: b.prefix(500), as: UTF8.self)
    }

    static func json(_ status: Int, _ v: JSONValue) -> Response {
        var r = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: v.bytes + [0x0a])))
        r.headers[.contentType] = "application/json"
        return r
    }

    static func error(_ e: APIError) -> Response {
        var r = json(e.status, e.json)
        if let after = e.retryAfter { r.headers[.retryAfter] = String(Int(after.rounded(.up)) + 0) }
        if e.status == 401 { r.headers[.wwwAuthenticate] = "ApiKey header=\"X-API-Key\"" }
        return r
    }
}

extension String {
    /// %XX and '+' of a query value.
    func removingPercentEncoding() -> String {
        var out: [UInt8] = []
        var it = Array(utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") { out.append(0x20) }
            else if c == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v); it = it.dropFirst(2)
            } else { out.append(c) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
