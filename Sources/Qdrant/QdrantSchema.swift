import JSON

/// A request body checked against the schemas of Qdrant's OpenAPI spec.
///
/// Qdrant deserializes bodies with serde and silently drops fields it does not know (the
/// guide's `hnsw_config.ef` is one), so a typo in a setting changes nothing and reports
/// success. opsh names such fields as errors before anything is sent: an object schema that
/// lists `properties` and says nothing of `additionalProperties` accepts only those names.
/// Types, `nullable`, `enum`, `required`, integer formats and ranges are checked as serde and
/// Qdrant's validator crate would; `anyOf`/`oneOf` pass when one branch passes, and report the
/// branch that came closest otherwise.
public final class QdrantSchema: @unchecked Sendable {
    enum Additional { case unspecified, allowed, forbidden, schema(QdrantSchema) }

    var types: [String] = []
    var nullable = false
    var ref: String?
    var anyOf: [QdrantSchema] = []
    var allOf: [QdrantSchema] = []
    var properties: [(String, QdrantSchema)] = []
    var required: [String] = []
    var additional = Additional.unspecified
    var items: QdrantSchema?
    var enumValues: [String]?
    var minimum: Double?
    var maximum: Double?
    var format: String?
    var minLength: Int?
    var maxLength: Int?
    var minItems: Int?
    var maxItems: Int?

    init() {}

    /// `{"nullable": true}` alone: the spec's way of writing `Option<T>`'s None branch.
    var isNullOnly: Bool {
        nullable && types.isEmpty && ref == nil && anyOf.isEmpty && allOf.isEmpty && properties.isEmpty && enumValues == nil
    }

    func property(_ name: String) -> QdrantSchema? {
        for (k, s) in properties where k == name { return s }
        return nil
    }
}

/// One thing wrong with a body: where (`hnsw_config.ef`, `points[3].id`) and what.
public struct QdrantSchemaError: Sendable, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The spec's request-body schemas, built once from the generated data.
public final class QdrantSchemas: @unchecked Sendable {
    public static let shared = QdrantSchemas()

    private var named: [String: QdrantSchema] = [:]

    private init() {
        var bytes = Array(QdrantSpecData.schemas.utf8)
        bytes.withUnsafeMutableBytes { raw in
            guard let tape = try? parse(UnsafeRawBufferPointer(raw)), tape.kind(at: 0) == .objectStart else {
                preconditionFailure("generated Qdrant schemas are not a JSON object")
            }
            // first make every named schema, so $refs resolve to shared objects
            var i = tape.next(after: 0)
            var entries: [(String, Int)] = []
            while tape.kind(at: i) != .objectEnd {
                let name = tape.string(at: i)
                let v = tape.next(after: i)
                entries.append((name, v))
                named[name] = QdrantSchema()
                i = tape.skip(v)
            }
            for (name, v) in entries { fill(named[name]!, tape, v) }
        }
    }

    /// The schema of a name in `#/components/schemas`.
    public func schema(_ name: String) -> QdrantSchema? { named[name] }

    public var names: [String] { named.keys.sorted() }

    private func build(_ tape: JSONTape, _ i: Int) -> QdrantSchema {
        if tape.kind(at: i) == .objectStart {
            // a bare {"$ref": ...} is the named schema itself
            let first = tape.next(after: i)
            if tape.count(at: i) == 1, tape.string(at: first) == "$ref" {
                let target = String(tape.string(at: tape.next(after: first)).split(separator: "/").last ?? "")
                if let s = named[target] { return s }
            }
        }
        let s = QdrantSchema()
        fill(s, tape, i)
        return s
    }

    private func fill(_ s: QdrantSchema, _ tape: JSONTape, _ i: Int) {
        guard tape.kind(at: i) == .objectStart else {
            if tape.kind(at: i) == .true { s.additional = .allowed }
            return
        }
        var k = tape.next(after: i)
        while tape.kind(at: k) != .objectEnd {
            let key = tape.string(at: k)
            let v = tape.next(after: k)
            switch key {
            case "type": s.types = [tape.string(at: v)]
            case "nullable": s.nullable = tape.kind(at: v) == .true
            case "$ref": s.ref = String(tape.string(at: v).split(separator: "/").last ?? "")
            case "anyOf", "oneOf": s.anyOf = elements(tape, v).map { build(tape, $0) }
            case "allOf": s.allOf = elements(tape, v).map { build(tape, $0) }
            case "properties":
                var p = tape.next(after: v)
                while tape.kind(at: p) != .objectEnd {
                    let name = tape.string(at: p)
                    let pv = tape.next(after: p)
                    s.properties.append((name, build(tape, pv)))
                    p = tape.skip(pv)
                }
            case "required": s.required = elements(tape, v).map { tape.string(at: $0) }
            case "additionalProperties":
                switch tape.kind(at: v) {
                case .true: s.additional = .allowed
                case .false: s.additional = .forbidden
                case .objectStart: s.additional = tape.count(at: v) == 0 ? .allowed : .schema(build(tape, v))
                default: break
                }
            case "items": s.items = build(tape, v)
            case "enum": s.enumValues = elements(tape, v).compactMap { tape.kind(at: $0) == .string ? tape.string(at: $0) : nil }
            case "minimum": s.minimum = number(tape, v)
            case "maximum": s.maximum = number(tape, v)
            case "format": s.format = tape.string(at: v)
            case "minLength": s.minLength = number(tape, v).map { Int($0) }
            case "maxLength": s.maxLength = number(tape, v).map { Int($0) }
            case "minItems": s.minItems = number(tape, v).map { Int($0) }
            case "maxItems": s.maxItems = number(tape, v).map { Int($0) }
            default: break
            }
            k = tape.skip(v)
        }
        if let r = s.ref, s.properties.isEmpty, s.anyOf.isEmpty, let target = named[r] {
            s.allOf.append(target)
            s.ref = nil
        }
    }

    private func elements(_ tape: JSONTape, _ i: Int) -> [Int] {
        guard tape.kind(at: i) == .arrayStart else { return [] }
        var out: [Int] = []
        var e = tape.next(after: i)
        while tape.kind(at: e) != .arrayEnd { out.append(e); e = tape.skip(e) }
        return out
    }

    private func number(_ tape: JSONTape, _ i: Int) -> Double? {
        switch tape.kind(at: i) {
        case .int: return Double(tape.int(at: i))
        case .double: return tape.double(at: i)
        default: return nil
        }
    }

    /// What is wrong with `body` (JSON text) as an instance of the named schema; empty when it fits.
    public func validate(_ body: UnsafeRawBufferPointer, against name: String, limit: Int = 20) -> [QdrantSchemaError] {
        guard let schema = named[name] else { return [QdrantSchemaError(path: "", message: "no schema \(name) in Qdrant's spec")] }
        let tape: JSONTape
        do throws(JSONError) { tape = try parse(body) } catch {
            return [QdrantSchemaError(path: "", message: "not JSON: \(error)")]
        }
        var v = Validator(tape: tape, limit: limit, schemaNames: Dictionary(named.map { (ObjectIdentifier($0.value), $0.key) }, uniquingKeysWith: { a, _ in a }))
        v.check(schema, at: tape.rootIndex, path: "")
        return v.errors
    }
}

/// One walk of a body's tape against a schema.
struct Validator {
    let tape: JSONTape
    let limit: Int
    let schemaNames: [ObjectIdentifier: String]
    var errors: [QdrantSchemaError] = []

    init(tape: JSONTape, limit: Int, schemaNames: [ObjectIdentifier: String]) {
        self.tape = tape
        self.limit = limit
        self.schemaNames = schemaNames
    }

    mutating func fail(_ path: String, _ message: String) {
        if errors.count < limit { errors.append(QdrantSchemaError(path: path, message: message)) }
    }

    func describe(_ i: Int) -> String {
        switch tape.kind(at: i) {
        case .null: return "null"
        case .true, .false: return "a boolean"
        case .int, .bigInteger: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .arrayStart: return "an array"
        case .objectStart: return "an object"
        default: return "a value"
        }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func check(_ s: QdrantSchema, at i: Int, path: String) {
        let kind = tape.kind(at: i)
        if kind == .null {
            if s.nullable || s.types.isEmpty && s.anyOf.isEmpty && s.allOf.isEmpty { return }
            if s.types.isEmpty, s.allOf.isEmpty, !s.anyOf.isEmpty {
                // null fits when a branch allows it
                for b in s.anyOf where b.nullable || b.types.isEmpty && b.anyOf.isEmpty && b.allOf.isEmpty { return }
            } else if s.types.isEmpty, s.anyOf.isEmpty, s.allOf.allSatisfy({ $0.nullable }) {
                return
            }
            fail(path, "must not be null")
            return
        }
        if s.isNullOnly { return fail(path, "expected null, got \(describe(i))") }
        for part in s.allOf { check(part, at: i, path: path) }
        if !s.anyOf.isEmpty { checkBranches(s.anyOf, at: i, path: path) }
        guard let type = s.types.first else { return }
        switch type {
        case "object":
            guard kind == .objectStart else { return fail(path, "expected an object, got \(describe(i))") }
            checkObject(s, at: i, path: path)
        case "array":
            guard kind == .arrayStart else { return fail(path, "expected an array, got \(describe(i))") }
            let n = tape.count(at: i)
            if let m = s.minItems, n < m { fail(path, "needs at least \(m) elements, has \(n)") }
            if let m = s.maxItems, n > m { fail(path, "takes at most \(m) elements, has \(n)") }
            if let item = s.items {
                var e = tape.next(after: i)
                var index = 0
                while tape.kind(at: e) != .arrayEnd {
                    check(item, at: e, path: "\(path)[\(index)]")
                    if errors.count >= limit { return }
                    e = tape.skip(e)
                    index += 1
                }
            }
        case "string":
            guard kind == .string else { return fail(path, "expected a string, got \(describe(i))") }
            let text = tape.string(at: i)
            if let values = s.enumValues, !values.contains(text) {
                fail(path, "\"\(text)\" is not one of \(values.joined(separator: ", "))")
            }
            let n = text.count
            if let m = s.minLength, n < m { fail(path, "must be at least \(m) characters long") }
            if let m = s.maxLength, n > m { fail(path, "must be at most \(m) characters long") }
        case "integer":
            switch kind {
            case .int:
                let v = tape.int(at: i)
                if let f = s.format, f.hasPrefix("uint"), v < 0 { return fail(path, "must be a non-negative integer, got \(v)") }
                checkRange(s, Double(v), path: path, shown: String(v))
            case .bigInteger:
                // beyond Int64: only unsigned 64-bit fields take it (point ids)
                if s.format != "uint64" { fail(path, "integer out of range") }
            default: fail(path, "expected an integer, got \(describe(i))")
            }
        case "number":
            switch kind {
            case .int: checkRange(s, Double(tape.int(at: i)), path: path, shown: String(tape.int(at: i)))
            case .double: checkRange(s, tape.double(at: i), path: path, shown: String(tape.double(at: i)))
            case .bigInteger: break
            default: fail(path, "expected a number, got \(describe(i))")
            }
        case "boolean":
            if kind != .true && kind != .false { fail(path, "expected a boolean, got \(describe(i))") }
        default:
            break
        }
    }

    mutating func checkRange(_ s: QdrantSchema, _ v: Double, path: String, shown: String) {
        if let m = s.minimum, v < m { fail(path, "must be at least \(format(m)), got \(shown)") }
        if let m = s.maximum, v > m { fail(path, "must be at most \(format(m)), got \(shown)") }
    }

    func format(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }

    mutating func checkObject(_ s: QdrantSchema, at i: Int, path: String) {
        var present: [String] = []
        var k = tape.next(after: i)
        while tape.kind(at: k) != .objectEnd {
            let key = tape.string(at: k)
            let v = tape.next(after: k)
            present.append(key)
            if let p = s.property(key) {
                check(p, at: v, path: join(path, key))
            } else {
                switch s.additional {
                case .allowed: break
                case .schema(let extra): check(extra, at: v, path: join(path, key))
                case .forbidden, .unspecified:
                    if !s.properties.isEmpty || s.additional.isForbidden {
                        let known = s.properties.map { $0.0 }
                        let owner = schemaNames[ObjectIdentifier(s)].map { " (\($0) has " } ?? " (known: "
                        fail(join(path, key), "unknown field\(owner)\(known.joined(separator: ", ")))")
                    }
                }
            }
            if errors.count >= limit { return }
            k = tape.skip(v)
        }
        for r in s.required where !present.contains(r) { fail(join(path, r), "missing required field") }
    }

    /// anyOf/oneOf: one passing branch is enough; otherwise the closest branch's errors.
    mutating func checkBranches(_ branches: [QdrantSchema], at i: Int, path: String) {
        var best: [QdrantSchemaError]?
        var bestScore = Int.max
        for b in branches {
            var sub = Validator(tape: tape, limit: limit, schemaNames: schemaNames)
            sub.check(b, at: i, path: path)
            if sub.errors.isEmpty { return }
            // a branch whose shape fits (no error at the value itself) is the one meant;
            // among those, the one that failed deepest inside the value understood most of it
            let shapeMismatch = sub.errors.contains { $0.path == path }
            let depth = sub.errors.map { $0.path.count }.max() ?? 0
            let score = (shapeMismatch ? 1_000_000 : 0) + sub.errors.count * 1000 - depth
            if score < bestScore { bestScore = score; best = sub.errors }
        }
        for e in best ?? [] { fail(e.path, e.message) }
    }
}

extension QdrantSchema.Additional {
    var isForbidden: Bool { if case .forbidden = self { return true } else { return false } }
}
