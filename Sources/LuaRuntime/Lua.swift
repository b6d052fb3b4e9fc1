import CLua
import CLuaShim

/// A Lua thread as Swift sees it inside a native function: typed, non-raising
/// access to the stack. Every method here is safe to call from a Swift frame
/// (docs/ARCHITECTURE.md §2): nothing in it can raise a Lua error or yield.
public struct Lua {
    public let L: OpaquePointer

    @inlinable public init(_ L: OpaquePointer) { self.L = L }

    /// The VM this thread belongs to.
    public var vm: LuaVM {
        Unmanaged<LuaVM>.fromOpaque(lk_state(L).pointee.host).takeUnretainedValue()
    }

    /// Whether `--dry-run` is in force: native modules refuse changes when it is.
    public var dryRun: Bool { lk_state(L).pointee.dry_run != 0 }

    // MARK: stack

    @inlinable public var top: Int32 {
        get { lua_gettop(L) }
        nonmutating set { lua_settop(L, newValue) }
    }
    @inlinable public func pop(_ n: Int32 = 1) { lk_pop(L, n) }
    @inlinable public func absIndex(_ i: Int32) -> Int32 { lua_absindex(L, i) }
    @inlinable public func type(at i: Int32) -> LuaType { LuaType(rawValue: lua_type(L, i)) ?? .none }
    public func typeName(at i: Int32) -> String { String(cString: luaL_typename_(L, i)) }
    @inlinable public func isNoneOrNil(_ i: Int32) -> Bool { lua_type(L, i) <= 0 }
    @inlinable public func ensureStack(_ n: Int32) -> Bool { lua_checkstack(L, n) != 0 }

    // MARK: push

    @inlinable public func pushNil() { lua_pushnil(L) }
    @inlinable public func push(_ b: Bool) { lua_pushboolean(L, b ? 1 : 0) }
    @inlinable public func push(_ i: Int) { lua_pushinteger(L, lua_Integer(i)) }
    @inlinable public func push(_ i: Int64) { lua_pushinteger(L, i) }
    @inlinable public func push(_ d: Double) { lua_pushnumber(L, d) }
    public func push(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = lua_pushlstring(L, buf.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, buf.count) }
    }
    @inlinable public func push(bytes: UnsafeRawBufferPointer) {
        _ = lua_pushlstring(L, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }
    public func push(bytes: [UInt8]) { bytes.withUnsafeBytes { push(bytes: $0) } }
    @inlinable public func pushValue(at i: Int32) { lua_pushvalue(L, i) }
    /// Moves the value on top to position `i`, shifting the values above it up.
    @inlinable public func insert(_ i: Int32) { lk_insert(L, i) }
    /// Removes the value at `i`, shifting the values above it down.
    @inlinable public func remove(_ i: Int32) { lk_remove(L, i) }
    /// Moves `n` values from the top of `from`'s stack (a thread of the same VM) onto this one.
    public func move(_ n: Int32, from: Lua) { if from.L != L { lua_xmove(from.L, L, n) } }
    /// Pushes the globals table (from the registry: no metamethod runs).
    public func pushGlobals() { lua_rawgeti(L, lk_registryindex(), lua_Integer(LUA_RIDX_GLOBALS)) }
    @inlinable public func newTable(arrayCount: Int32 = 0, hashCount: Int32 = 0) { lua_createtable(L, arrayCount, hashCount) }
    /// Pushes a native function (see `LuaFunction`).
    public func push(function f: LuaFunction, upvalues: Int32 = 0) { lk_pushswiftfunction(L, f, upvalues) }
    /// Pushes a capturing Swift closure as a Lua function.
    public func push(closure: @escaping LuaClosure) {
        let box = Unmanaged.passRetained(ClosureBox(closure)).toOpaque()
        lk_pushclosure(L, box)
    }
    /// Pushes the plain C function behind `opsh._bench.c_addone` (a lua_CFunction, no
    /// trampoline): the baseline of the border's cost benchmark.
    public func pushBenchmarkCFunction() { lua_pushcclosure(L, lk_plain_addone, 0) }
    /// `opsh.null`: RESP nil and JSON null.
    public func pushNull() { vm.pushNull(self) }

    // MARK: read (never converts in place, never raises)

    @inlinable public func toBool(_ i: Int32) -> Bool { lua_toboolean(L, i) != 0 }
    @inlinable public func toInteger(_ i: Int32) -> Int64? {
        var ok: Int32 = 0
        let v = lua_tointegerx(L, i, &ok)
        return ok != 0 ? v : nil
    }
    @inlinable public func toNumber(_ i: Int32) -> Double? {
        var ok: Int32 = 0
        let v = lua_tonumberx(L, i, &ok)
        return ok != 0 ? v : nil
    }
    @inlinable public func isInteger(_ i: Int32) -> Bool { lua_isinteger(L, i) != 0 }
    /// The bytes of a string at `i` (numbers are not converted: they give nil).
    @inlinable public func toBytes(_ i: Int32) -> UnsafeRawBufferPointer? {
        guard lua_type(L, i) == LUA_TSTRING else { return nil }
        var len = 0
        let p = lua_tolstring(L, i, &len)
        return UnsafeRawBufferPointer(start: p, count: len)
    }
    public func toString(_ i: Int32) -> String? {
        guard let b = toBytes(i) else { return nil }
        return String(decoding: b, as: UTF8.self)
    }
    public func toByteArray(_ i: Int32) -> [UInt8]? { toBytes(i).map { Array($0) } }

    // MARK: raw table access (no metamethods: safe on any table)

    @inlinable public func rawGet(_ t: Int32) -> LuaType { LuaType(rawValue: lua_rawget(L, t)) ?? .none }
    @inlinable public func rawGet(_ t: Int32, index n: Int64) -> LuaType { LuaType(rawValue: lua_rawgeti(L, t, n)) ?? .none }
    @inlinable public func rawSet(_ t: Int32) { lua_rawset(L, t) }
    @inlinable public func rawSet(_ t: Int32, index n: Int64) { lua_rawseti(L, t, n) }
    public func rawGet(_ t: Int32, field: String) -> LuaType {
        let t = absIndex(t)
        push(field)
        return rawGet(t)
    }
    /// t[field] = value on top (raw).
    public func rawSet(_ t: Int32, field: String) {
        let t = absIndex(t)
        push(field)
        lua_rotate(L, -2, 1)
        rawSet(t)
    }
    @inlinable public func rawLength(_ i: Int32) -> Int { Int(lua_rawlen(L, i)) }
    /// Whether the values at `a` and `b` are the same value (no __eq).
    @inlinable public func rawEqual(_ a: Int32, _ b: Int32) -> Bool { lua_rawequal(L, a, b) != 0 }
    /// lua_next on a table. Call it only inside `withCollectorStopped`, so that no
    /// finalizer can change the table under the traversal (lua_next's only error).
    @inlinable public func next(_ t: Int32) -> Bool { lua_next(L, t) != 0 }

    /// Runs `body` with the garbage collector stopped (see `next`).
    @inlinable public func withCollectorStopped<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let running = lk_gcstop(L)
        defer { lk_gcrestore(L, running) }
        return try body()
    }

    // MARK: metatables (named ones live in the registry, as luaL_newmetatable keeps them)

    /// Pushes the registry's metatable `name`, creating it (with `__name`) when it does not
    /// exist yet. Returns whether it was created, so the caller fills it only once.
    @discardableResult
    public func newMetatable(_ name: String) -> Bool { luaL_newmetatable(L, name) != 0 }
    /// Sets the registry's metatable `name` on the value on top.
    public func setMetatable(named name: String) { luaL_setmetatable(L, name) }
    /// Pops a table (or nil) and makes it the metatable of the value at `i`.
    public func setMetatable(_ i: Int32) { lua_setmetatable(L, i) }
    /// Pushes the metatable of the value at `i` and returns true, or pushes nothing and returns false.
    @inlinable public func pushMetatable(of i: Int32) -> Bool { lua_getmetatable(L, i) != 0 }
    /// Pushes the registry's metatable `name` (nil when there is none).
    @inlinable public func pushMetatable(named name: String) { _ = lk_getmetatable(L, name) }
    /// Whether the value at `i` has the registry's metatable `name` (raw comparison).
    public func hasMetatable(_ i: Int32, named name: String) -> Bool {
        guard lua_getmetatable(L, i) != 0 else { return false }
        _ = lk_getmetatable(L, name)
        defer { pop(2) }
        return lua_rawequal(L, -1, -2) != 0
    }

    // MARK: functions

    /// Pops the value on top and makes it upvalue `n` of the function at `f` (a loaded
    /// chunk's upvalue 1 is its _ENV). False when the function has no such upvalue.
    public func setUpvalue(_ f: Int32, _ n: Int32) -> Bool { lua_setupvalue(L, f, n) != nil }

    // MARK: calling Lua from native code

    /// Calls the function below `nargs` arguments, protected. On an error the error
    /// value is on top, unchanged (its traceback at the origin is kept for the
    /// outermost handler): return `LK_STATUS_ERROR` to propagate it.
    public func pcall(nargs: Int32, nresults: Int32) -> Int32 {
        let base = top - nargs
        lua_pushcclosure(L, lk_msghandler_keep, 0)
        lk_insert(L, base)
        let status = lk_pcall(L, nargs, nresults, base)
        lk_remove(L, base)
        return status
    }

    /// The traceback kept at the origin of the error value at `i` when it was re-raised
    /// elsewhere (a task's error raised by task:wait or opsh.all), or nil.
    public func keptTraceback(_ i: Int32) -> String? {
        guard lk_keptraceback(L, i) != 0 else { return nil }
        defer { pop() }
        return toString(-1)
    }

    // MARK: protected access (may run metamethods; errors come back as LuaError)

    /// t[field] honouring metamethods; pushes the value.
    public func getField(_ t: Int32, _ field: String) throws(LuaError) {
        let status = lk_pgetfield(L, t, field)
        if status != LUA_OK { throw popError(status: status) }
    }
    /// The error value on top, popped and described.
    public func popError(status: Int32) -> LuaError {
        let e = LuaError.from(self, index: -1, status: status)
        pop()
        return e
    }
    /// tostring() of the value at `i`, honouring __tostring and __name.
    public func describe(_ i: Int32) -> String {
        if lk_ptolstring(L, i) == LUA_OK {
            let s = toString(-1) ?? ""
            pop()
            return s
        }
        pop()
        return "(\(typeName(at: i)))"
    }
}

public enum LuaType: Int32 {
    case none = -1, `nil` = 0, boolean, lightUserdata, number, string, table, function, userdata, thread
}

@inline(__always) func luaL_typename_(_ L: OpaquePointer, _ i: Int32) -> UnsafePointer<CChar> {
    lua_typename(L, lua_type(L, i))
}
