/// The fields a request body may have, and their types: anything else is refused by name, so
/// a misspelt field is an error instead of a silently ignored setting.
public struct BodySchema: Sendable {
    public enum FieldType: String, Sendable { case boolean, integer, number, string }
    public struct Field: Sendable {
        let name: String
        let type: FieldType
        let required: Bool
        let choices: [String]?
        let range: ClosedRange<Double>?

        public static func field(_ name: String, _ type: FieldType, required: Bool = false, choices: [String]? = nil,
                                 range: ClosedRange<Double>? = nil) -> Field {
            Field(name: name, type: type, required: required, choices: choices, range: range)
        }
    }
    public let fields: [Field]

    public init(_ fields: [Field]) { self.fields = fields }

    /// A body that may be empty or `{}` and has no fields.
    public static let none = BodySchema([])

    /// Checks `body` (nil: the request had none) and returns its fields by name.
    public func check(_ body: JSONValue?) throws(APIError) -> [String: JSONValue] {
        guard let body else {
            if let missing = fields.first(where: \.required) { throw .badRequest("missing field '\(missing.name)' (\(missing.type.rawValue))") }
            return [:]
        }
        guard case .object(let pairs) = body else { throw .badRequest("the body must be a JSON object, got \(body.typeName)") }
        var out: [String: JSONValue] = [:]
        for (k, v) in pairs {
            guard let f = fields.first(where: { $0.name == k }) else {
                let known = fields.isEmpty ? "this endpoint takes no fields" : "fields: " + fields.map(\.name).joined(separator: ", ")
                throw .badRequest("unknown field '\(k)' (\(known))")
            }
            guard out[k] == nil else { throw .badRequest("field '\(k)' is given twice") }
            let ok: Bool
            var n: Double?
            switch (f.type, v) {
            case (.boolean, .bool): ok = true
            case (.integer, .int(let i)): ok = true; n = Double(i)
            case (.number, .int(let i)): ok = true; n = Double(i)
            case (.number, .double(let d)): ok = d.isFinite; n = d
            case (.string, .string): ok = true
            default: ok = false
            }
            guard ok else { throw .badRequest("field '\(k)' must be \(f.type == .integer ? "an" : "a") \(f.type.rawValue), got \(v.typeName)") }
            if let choices = f.choices, case .string(let s) = v, !choices.contains(s) {
                throw .badRequest("field '\(k)' must be one of \(choices.joined(separator: ", ")), got '\(s)'")
            }
            if let r = f.range, let n, !r.contains(n) {
                throw .badRequest("field '\(k)' must be from \(Self.text(r.lowerBound)) to \(Self.text(r.upperBound)), got \(Self.text(n))")
            }
            out[k] = v
        }
        if let missing = fields.first(where: { $0.required && out[$0.name] == nil }) {
            throw .badRequest("missing field '\(missing.name)' (\(missing.type.rawValue))")
        }
        return out
    }

    static func text(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
}

/// An error answered as `{"error": code, "message": ...}` with its HTTP status.
public struct APIError: Error, Sendable {
    public let status: Int
    public let code: String
    public let message: String
    public var retryAfter: Double? = nil

    public static func badRequest(_ m: String) -> APIError { APIError(status: 400, code: "bad_request", message: m) }
    public static func notFound(_ m: String) -> APIError { APIError(status: 404, code: "not_found", message: m) }
    public static func conflict(_ m: String) -> APIError { APIError(status: 409, code: "conflict", message: m) }
    public static func unavailable(_ m: String) -> APIError { APIError(status: 503, code: "unavailable", message: m) }

    public var json: JSONValue { .object([("error", .string(code)), ("message", .string(message))]) }
}
