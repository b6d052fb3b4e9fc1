/// One RESP2 or RESP3 reply. Strings are bytes (binary-safe), never decoded.
///
/// RESP2 gives only simpleString, error, integer, bulkString (nil: the null bulk `$-1`) and
/// array (nil: the null array `*-1`). RESP3 (after `HELLO 3`) adds the others. A RESP3 blob
/// error (`!`) becomes `.error` like a simple error (`-`). Attributes (`|`) are attached to the
/// reply they precede: `.attribute(pairs, reply)`.
public enum RESPValue: Sendable, Equatable {
    case simpleString([UInt8])
    case error([UInt8])
    case integer(Int64)
    case bulkString([UInt8]?)
    case array([RESPValue]?)
    case null
    case map([RESPPair])
    case set([RESPValue])
    case double(Double)
    case boolean(Bool)
    /// The digits as the server sent them (optional leading `-`), never rounded.
    case bigNumber([UInt8])
    /// `=N\r\nfmt:text`: `format` is the three bytes before the colon (`txt`, `mkd`).
    case verbatim(format: [UInt8], text: [UInt8])
    case push([RESPValue])
    indirect case attribute([RESPPair], RESPValue)
}

/// A key/value pair of a RESP3 map or attribute (order is kept as the server sent it).
public struct RESPPair: Sendable, Equatable {
    public var key: RESPValue
    public var value: RESPValue
    public init(_ key: RESPValue, _ value: RESPValue) { self.key = key; self.value = value }
}

extension RESPValue {
    /// True for RESP2's null bulk/array and RESP3's null.
    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): return true
        case .attribute(_, let v): return v.isNull
        default: return false
        }
    }

    /// True for a server error reply (`-ERR ...` or a RESP3 blob error).
    public var isError: Bool {
        if case .error = self { return true }
        if case .attribute(_, let v) = self { return v.isError }
        return false
    }

    /// The first word of a server error (`WRONGTYPE`, `NOAUTH`, `WRONGPASS`, `ERR`, ...), or nil.
    public var errorCode: String? {
        guard case .error(let bytes) = self.withoutAttribute else { return nil }
        var end = 0
        while end < bytes.count, bytes[end] != 0x20 { end += 1 }
        return end == 0 ? nil : String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// The whole text of a server error, or nil.
    public var errorMessage: String? {
        guard case .error(let bytes) = self.withoutAttribute else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The reply with any RESP3 attribute removed.
    public var withoutAttribute: RESPValue {
        if case .attribute(_, let v) = self { return v.withoutAttribute }
        return self
    }

    /// The bytes of a simple string, bulk string, verbatim string, big number or error.
    public var bytes: [UInt8]? {
        switch self {
        case .simpleString(let b), .error(let b), .bigNumber(let b): return b
        case .bulkString(let b): return b
        case .verbatim(_, let t): return t
        case .attribute(_, let v): return v.bytes
        default: return nil
        }
    }

    /// `bytes` decoded as UTF-8 (invalid sequences replaced), or the decimal of an integer.
    public var string: String? {
        if case .integer(let i) = self { return String(i) }
        return bytes.map { String(decoding: $0, as: UTF8.self) }
    }

    /// An integer reply, or a string reply that is a decimal integer.
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .boolean(let b): return b ? 1 : 0
        default:
            guard let b = bytes else { return nil }
            return RESPNumbers.parseInt64(b)
        }
    }

    /// The elements of an array, set or push (nil for a null array or any other type).
    /// A map gives its keys and values interleaved, as RESP2 would.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let a): return a
        case .set(let a), .push(let a): return a
        case .map(let pairs):
            var out: [RESPValue] = []
            out.reserveCapacity(pairs.count * 2)
            for p in pairs { out.append(p.key); out.append(p.value) }
            return out
        case .attribute(_, let v): return v.elements
        default: return nil
        }
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short, redis-cli-like rendering for messages and tests (bytes shown as UTF-8).
    public var description: String {
        func s(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        switch self {
        case .simpleString(let b): return s(b)
        case .error(let b): return "(error) " + s(b)
        case .integer(let i): return "(integer) \(i)"
        case .bulkString(let b): return b.map { "\"" + s($0) + "\"" } ?? "(nil)"
        case .array(let a): return a.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "(nil array)"
        case .null: return "(null)"
        case .map(let p): return "{" + p.map { "\($0.key.description): \($0.value.description)" }.joined(separator: ", ") + "}"
        case .set(let a): return "~[" + a.map(\.description).joined(separator: ", ") + "]"
        case .double(let d): return "(double) \(d)"
        case .boolean(let b): return "(boolean) \(b)"
        case .bigNumber(let b): return "(big number) " + s(b)
        case .verbatim(let f, let t): return "(verbatim \(s(f))) " + s(t)
        case .push(let a): return ">[" + a.map(\.description).joined(separator: ", ") + "]"
        case .attribute(let p, let v): return "|" + RESPValue.map(p).description + "| " + v.description
        }
    }
}
