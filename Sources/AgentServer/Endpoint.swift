import HTTPTypes

/// One endpoint of the API: its method and path, the permission it needs (open endpoints are
/// a setting: agent_open_endpoints), the body it takes, and what it does.
struct Endpoint: Sendable {
    enum Body: Sendable {
        /// GET, or a POST that takes nothing: a body is refused.
        case none
        /// A JSON object checked against the schema (an empty body is `{}`).
        case json(BodySchema)
    }

    /// What a handler gets: the checked body fields, the query, who is calling.
    struct Call: Sendable {
        let fields: [String: JSONValue]
        let query: [String: String]
        let principal: Principal?
        let address: String
    }

    enum Reply: Sendable {
        case json(Int, JSONValue)
        case text(Int, String, contentType: String)
    }

    let method: HTTPRequest.Method
    let path: String
    let permission: String
    let body: Body
    let handle: @Sendable (Call) async throws -> Reply

    /// Whether a call changes something (and so is audited).
    var changesState: Bool { method != .get && method != .head }

    init(_ method: HTTPRequest.Method, _ path: String, _ permission: String, body: Body = .none,
         _ handle: @escaping @Sendable (Call) async throws -> Reply) {
        self.method = method
        self.path = path
        self.permission = permission
        self.body = body
        self.handle = handle
    }
}
