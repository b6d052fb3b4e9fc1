import JSON

/// A JSON document as a tree, for the agent's request bodies and responses: bodies are small
/// (bounded by agent_max_body_bytes), and a tree lets each endpoint check its fields by name.
/// Objects keep their keys in order, so responses have a stable field order.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// Parses `bytes` with opsh's JSON parser (depth-limited); throws its message on bad input.
    /// Throws JSONError.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 32) throws -> JSONValue {
        // the tape borrows the input: the tree is made while the buffer is alive
        try bytes.withUnsafeBytes { (buf) throws -> JSONValue in
            var tape = JSONTape()
            try tape.parse(buf, options: JSONParseOptions(maxDepth: maxDepth, maxInputSize: bytes.count + 1))
            var i = tape.rootIndex
            return value(tape, &i)
        }
    }

    private static func value(_ t: JSONTape, _ i: inout Int) -> JSONValue {
        let at = i
        switch t.kind(at: at) {
        case .null: i = t.next(after: at); return .null
        case .false: i = t.next(after: at); return .bool(false)
        case .true: i = t.next(after: at); return .bool(true)
        case .int: i = t.next(after: at); return .int(t.int(at: at))
        case .double: i = t.next(after: at); return .double(t.double(at: at))
        case .bigInteger: i = t.next(after: at); return .double(Double(t.string(at: at)) ?? .infinity)
        case .string: i = t.next(after: at); return .string(t.string(at: at))
        case .arrayStart:
            let end = t.endIndex(ofContainerAt: at)
            var items: [JSONValue] = []
            i = t.next(after: at)
            while i < end { items.append(value(t, &i)) }
            i = t.next(after: end)
            return .array(items)
        case .objectStart:
            let end = t.endIndex(ofContainerAt: at)
            var fields: [(String, JSONValue)] = []
            i = t.next(after: at)
            while i < end {
                let key = t.string(at: i)
                i = t.next(after: i)
                fields.append((key, value(t, &i)))
            }
            i = t.next(after: end)
            return .object(fields)
        case .arrayEnd, .objectEnd:
            i = t.next(after: at)
            return .null
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let f) = self else { return nil }
        return f.last { $0.0 == key }?.1
    }

    /// The name of this value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var bytes: [UInt8] {
        var w = JSONWriter()
        write(&w)
        return w.bytes
    }

    public func write(_ w: inout JSONWriter) {
        switch self {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .int(let i): w.int(i)
        case .double(let d):
            if d.isFinite { try? w.double(d) } else { w.null() }
        case .string(let s): w.string(s)
        case .array(let a):
            w.beginArray()
            for v in a { v.write(&w) }
            w.endArray()
        case .object(let f):
            w.beginObject()
            for (k, v) in f { w.key(k); v.write(&w) }
            w.endObject()
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral s: String) { self = .string(s) }
    public init(integerLiteral i: Int64) { self = .int(i) }
    public init(booleanLiteral b: Bool) { self = .bool(b) }
    public init(floatLiteral d: Double) { self = .double(d) }
    public static func number(_ d: Double) -> JSONValue { .double(d) }
    public static func integer(_ i: Int) -> JSONValue { .int(Int64(i)) }
    public static func optional(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
}
