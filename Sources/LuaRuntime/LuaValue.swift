import CLua
import CLuaShim

/// A Lua value copied into Swift. Integers and floats stay apart, strings are
/// bytes, tables become arrays (keys 1..n) or maps; functions, userdata and
/// threads are held by registry reference.
public enum LuaValue: Hashable, Sendable {
    case `nil`
    case boolean(Bool)
    case integer(Int64)
    case number(Double)
    case string([UInt8])
    case array([LuaValue])
    case map([LuaValue: LuaValue])
    case function(LuaRef)
    case userdata(LuaRef)
    case reference(LuaRef)   // threads and light userdata

    public static func string(_ s: String) -> LuaValue { .string(Array(s.utf8)) }

    /// The string's text, when this is a string.
    public var text: String? {
        if case .string(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    /// Whether a Lua table can hold this as a key (nil and NaN it cannot).
    public var canBeTableKey: Bool {
        switch self {
        case .nil: return false
        case .number(let d): return !d.isNaN
        default: return true
        }
    }
}

public enum LuaValueError: Error, CustomStringConvertible {
    case cycle
    case tooDeep(Int)
    public var description: String {
        switch self {
        case .cycle: return "table contains a cycle"
        case .tooDeep(let d): return "table nested deeper than \(d) levels"
        }
    }
}

extension Lua {
    /// Pushes a value (tables are built with raw sets).
    public func push(value: LuaValue) {
        switch value {
        case .nil: pushNil()
        case .boolean(let b): push(b)
        case .integer(let i): push(i)
        case .number(let d): push(d)
        case .string(let s): push(bytes: s)
        case .array(let a):
            _ = ensureStack(3)
            newTable(arrayCount: Int32(clamping: a.count))
            for (i, v) in a.enumerated() {
                push(value: v)
                rawSet(-2, index: Int64(i + 1))
            }
        case .map(let m):
            _ = ensureStack(4)
            newTable(hashCount: Int32(clamping: m.count))
            // lua_rawset raises on a nil or NaN key: such an entry cannot be a Lua table's, and
            // raising here would unwind through this Swift frame
            for (k, v) in m where k.canBeTableKey {
                push(value: k)
                push(value: v)
                rawSet(-3)
            }
        case .function(let r), .userdata(let r), .reference(let r):
            r.push(self)
        }
    }

    /// Copies the value at `i` into Swift (raw table access, no metamethods).
    public func value(at i: Int32, maxDepth: Int = 200) throws(LuaValueError) -> LuaValue {
        var seen = Set<UnsafeRawPointer>()
        let i = absIndex(i)
        return try withCollectorStopped { () throws(LuaValueError) in try value(at: i, depth: maxDepth, seen: &seen) }
    }

    private func value(at i: Int32, depth: Int, seen: inout Set<UnsafeRawPointer>) throws(LuaValueError) -> LuaValue {
        switch type(at: i) {
        case .none, .nil: return .nil
        case .boolean: return .boolean(toBool(i))
        case .number:
            if isInteger(i) { return .integer(toInteger(i)!) }
            return .number(toNumber(i)!)
        case .string: return .string(Array(toBytes(i)!))
        case .table:
            guard depth > 0 else { throw .tooDeep(200) }
            let p = lua_topointer(L, i)!
            guard seen.insert(p).inserted else { throw .cycle }
            defer { seen.remove(p) }
            _ = ensureStack(4)
            let n = rawLength(i)
            var count = 0
            pushNil()
            while next(i) {
                count += 1
                pop()
            }
            if count == n && n > 0 {
                var a: [LuaValue] = []
                a.reserveCapacity(n)
                for k in 1...n {
                    _ = rawGet(i, index: Int64(k))
                    do { a.append(try value(at: top, depth: depth - 1, seen: &seen)) } catch { pop(); throw error }
                    pop()
                }
                return .array(a)
            }
            var m: [LuaValue: LuaValue] = [:]
            pushNil()
            while next(i) {
                do {
                    let k = try value(at: top - 1, depth: depth - 1, seen: &seen)
                    m[k] = try value(at: top, depth: depth - 1, seen: &seen)
                } catch { pop(2); throw error }
                pop()
            }
            return .map(m)
        case .function:
            return .function(LuaRef(self, index: i))
        case .userdata:
            return .userdata(LuaRef(self, index: i))
        case .lightUserdata, .thread:
            return .reference(LuaRef(self, index: i))
        }
    }
}
