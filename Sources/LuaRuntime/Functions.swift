import CLua
import CLuaShim

/// How a native function reports misuse. The trampoline turns it into the Lua
/// error after the Swift frame has returned (docs/ARCHITECTURE.md §2).
public enum LuaRaise: Error {
    /// "bad argument #n to 'f' (message)"
    case argument(Int32, String)
    /// "bad argument #n to 'f' (T expected, got U)"
    case type(Int32, String)
    /// error(message) without position information
    case message(String)
    /// The error value is already on top of the stack.
    case pushed
}

/// A native function as Lua calls it: `{ L in Lua(L!).call { lua in ... } }`. It returns a
/// status, never raises: n >= 0 results, or `LuaStatus.error` with the error value on top
/// (the trampoline in CLuaShim raises it after the Swift frame has returned).
public typealias LuaFunction = lk_SwiftFunction

/// What a native function returns besides a count of results.
public enum LuaStatus {
    /// The error value is on top of the stack: the trampoline raises it.
    public static let error: Int32 = LK_STATUS_ERROR
    /// A protected call succeeded (`Lua.pcall`).
    public static let ok: Int32 = LUA_OK
}

/// A capturing Swift closure callable from Lua. Returns a status (see `Lua.call`).
public typealias LuaClosure = (Lua) -> Int32

final class ClosureBox {
    let fn: LuaClosure
    init(_ fn: @escaping LuaClosure) { self.fn = fn }
}

extension Lua {
    /// Runs the body of a native function and turns a thrown `LuaRaise` into the
    /// status the trampoline raises from C. Typical use:
    ///
    ///     let get: LuaFunction = { L in Lua(L!).call { lua in ...; return 1 } }
    @inlinable @inline(__always)
    public func call(_ body: (Lua) throws(LuaRaise) -> Int32) -> Int32 {
        do {
            return try body(self)
        } catch {
            return status(for: error)
        }
    }

    @usableFromInline
    func status(for raise: LuaRaise) -> Int32 {
        switch raise {
        case .argument(let n, let msg):
            push(msg)
            return LK_STATUS_ARGERROR_BASE - n
        case .type(let n, let expected):
            push(expected)
            return LK_STATUS_TYPEERROR_BASE - n
        case .message(let msg):
            push(msg)
            return LK_STATUS_ERROR
        case .pushed:
            return LK_STATUS_ERROR
        }
    }

    /// Pushes a module table of native functions.
    public func newModule(_ functions: [(String, LuaFunction)], extraFields: Int32 = 0) {
        newTable(hashCount: Int32(functions.count) + extraFields)
        for (name, f) in functions {
            push(function: f)
            rawSet(-2, field: name)
        }
    }

    // MARK: argument checks (luaL_check* semantics, without raising)

    @inlinable public func checkAny(_ i: Int32) throws(LuaRaise) {
        if lua_type(L, i) == LUA_TNONE { throw .argument(i, "value expected") }
    }

    @inlinable public func checkInteger(_ i: Int32) throws(LuaRaise) -> Int64 {
        var ok: Int32 = 0
        let v = lua_tointegerx(L, i, &ok)
        if ok != 0 { return v }
        if lua_isnumber(L, i) != 0 { throw .argument(i, "number has no integer representation") }
        throw .type(i, "number")
    }

    public func checkNumber(_ i: Int32) throws(LuaRaise) -> Double {
        guard let d = toNumber(i) else { throw .type(i, "number") }
        return d
    }

    /// A string argument's bytes (numbers are converted to strings, as luaL_checklstring does).
    public func checkBytes(_ i: Int32) throws(LuaRaise) -> UnsafeRawBufferPointer {
        let t = lua_type(L, i)
        guard t == LUA_TSTRING || t == LUA_TNUMBER else { throw .type(i, "string") }
        var len = 0
        let p = lua_tolstring(L, i, &len)
        return UnsafeRawBufferPointer(start: p, count: len)
    }

    public func checkString(_ i: Int32) throws(LuaRaise) -> String {
        String(decoding: try checkBytes(i), as: UTF8.self)
    }

    public func checkTable(_ i: Int32) throws(LuaRaise) {
        if lua_type(L, i) != LUA_TTABLE { throw .type(i, "table") }
    }

    public func checkFunction(_ i: Int32) throws(LuaRaise) {
        if lua_type(L, i) != LUA_TFUNCTION { throw .type(i, "function") }
    }

    public func optInteger(_ i: Int32, _ def: Int64) throws(LuaRaise) -> Int64 {
        isNoneOrNil(i) ? def : try checkInteger(i)
    }
    public func optNumber(_ i: Int32, _ def: Double) throws(LuaRaise) -> Double {
        isNoneOrNil(i) ? def : try checkNumber(i)
    }
    public func optString(_ i: Int32) throws(LuaRaise) -> String? {
        isNoneOrNil(i) ? nil : try checkString(i)
    }
    public func optBool(_ i: Int32, _ def: Bool) throws(LuaRaise) -> Bool {
        if isNoneOrNil(i) { return def }
        guard lua_type(L, i) == LUA_TBOOLEAN else { throw .type(i, "boolean") }
        return toBool(i)
    }

    /// Field `name` of the options table at `t` (raw access), checked to be of `type`.
    /// Returns false when absent. The value is pushed when present.
    public func optionField(_ t: Int32, _ name: String, _ type: LuaType, arg: Int32) throws(LuaRaise) -> Bool {
        let got = rawGet(t, field: name)
        if got == .nil { pop(); return false }
        if got != type && !(type == .number && got == .string && toNumber(-1) != nil) {
            let gotName = typeName(at: -1)
            pop()
            throw .argument(arg, "field '\(name)' must be a \(Lua.typeWord(type)), got \(gotName)")
        }
        return true
    }

    /// Refuses a key of the options table at `t` that is not in `known`, so that a misspelt
    /// option is never ignored silently: "unknown option 'prot' (options: db, host, ...)".
    public func checkOptionKeys(_ t: Int32, _ known: [String], arg: Int32) throws(LuaRaise) {
        if let unknown = unknownOptionKey(t, known) {
            throw .argument(arg, "unknown option \(unknown) (options: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// The first key of the table at `t` that is not in `known`, quoted ('prot'), or described
    /// when it is not a string; nil when every key is known.
    public func unknownOptionKey(_ t: Int32, _ known: [String]) -> String? {
        let t = absIndex(t)
        var unknown: String?
        withCollectorStopped {
            pushNil()
            while next(t) {
                pop()
                let key = toString(-1)   // nil for a key that is not a string (never converted)
                if key == nil || !known.contains(key!) {
                    unknown = key.map { "'\($0)'" } ?? "of type \(typeName(at: -1))"
                    pop()
                    break
                }
            }
        }
        return unknown
    }

    /// The options table at `i` as Swift values, by string key (none or nil: empty). With
    /// `known`, a key not in it is refused by name (checkOptionKeys); nil: the caller checks.
    public func options(_ i: Int32, known: [String]?) throws(LuaRaise) -> [String: LuaValue] {
        guard type(at: i) == .table else {
            if isNoneOrNil(i) { return [:] }
            throw .type(i, "table")
        }
        if let known { try checkOptionKeys(i, known, arg: i) }
        guard case .map(let m) = (try? value(at: i, maxDepth: 8)) ?? .nil else { return [:] }
        var out: [String: LuaValue] = [:]
        for (k, v) in m { if let s = k.text { out[s] = v } }
        return out
    }

    static func typeWord(_ t: LuaType) -> String {
        switch t {
        case .boolean: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .table: return "table"
        case .function: return "function"
        default: return "value"
        }
    }
}

// MARK: dispatchers registered once with the C shim

let closureDispatch: lk_ClosureDispatch = { L, box in
    Unmanaged<ClosureBox>.fromOpaque(box!)._withUnsafeGuaranteedRef { $0.fn(Lua(L!)) }
}

let boxRelease: lk_BoxRelease = { box in
    Unmanaged<ClosureBox>.fromOpaque(box!).release()
}

let continuationDispatch: lk_ContinuationDispatch = { L in
    let lua = Lua(L!)
    return lua.vm.scheduler.continueNativeWait(lua)
}
