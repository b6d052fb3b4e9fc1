import Glibc
import JSON

/// A small JSON value for the backup manifest (written and read by the engine; bounded size).
public indirect enum MValue: Equatable, Sendable {
    case null, bool(Bool), int(Int64), double(Double), string(String)
    case array([MValue])
    case object([(String, MValue)])

    public static func == (a: MValue, b: MValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(_ key: String) -> MValue? {
        if case .object(let o) = self { return o.first { $0.0 == key }?.1 }
        return nil
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var int: Int64? {
        if case .int(let i) = self { return i }
        if case .double(let d) = self, d == d.rounded() { return Int64(d) }
        return nil
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [MValue] { if case .array(let a) = self { return a }; return [] }

    func write(_ w: inout JSONWriter) {
        switch self {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .int(let i): w.int(i)
        case .double(let d): _ = try? w.double(d)
        case .string(let s): w.string(s)
        case .array(let a):
            w.beginArray(); for v in a { v.write(&w) }; w.endArray()
        case .object(let o):
            w.beginObject(); for (k, v) in o { w.key(k); v.write(&w) }; w.endObject()
        }
    }

    public func json(pretty: Bool = true) -> [UInt8] {
        var w = JSONWriter(pretty: pretty, capacity: 4096)
        write(&w)
        var b = w.bytes
        b.append(0x0a)
        return b
    }

    public static func parse(_ bytes: [UInt8]) -> MValue? {
        guard let tape = try? bytes.withUnsafeBytes({ p throws(JSONError) in try JSON.parse(p, options: .init(maxDepth: 32, maxInputSize: 64 << 20)) }) else { return nil }
        var i = tape.rootIndex
        return value(tape, &i)
    }

    static func value(_ t: JSONTape, _ i: inout Int) -> MValue {
        switch t.kind(at: i) {
        case .null: i = t.next(after: i); return .null
        case .false: i = t.next(after: i); return .bool(false)
        case .true: i = t.next(after: i); return .bool(true)
        case .int: let v = t.int(at: i); i = t.next(after: i); return .int(v)
        case .double: let v = t.double(at: i); i = t.next(after: i); return .double(v)
        case .bigInteger, .string: let v = t.string(at: i); i = t.next(after: i); return .string(v)
        case .arrayStart:
            var out: [MValue] = []
            i = t.next(after: i)
            while t.kind(at: i) != .arrayEnd { out.append(value(t, &i)) }
            i = t.next(after: i)
            return .array(out)
        case .objectStart:
            var out: [(String, MValue)] = []
            i = t.next(after: i)
            while t.kind(at: i) != .objectEnd {
                let k = t.string(at: i)
                i = t.next(after: i)
                out.append((k, value(t, &i)))
            }
            i = t.next(after: i)
            return .object(out)
        case .arrayEnd, .objectEnd: i = t.next(after: i); return .null
        }
    }
}
