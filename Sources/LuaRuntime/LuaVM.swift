import CLua
import CLuaShim
import EventLoop

/// One Lua VM: the state, its event loop and scheduler, and the safe entry
/// points from Swift into Lua. The VM belongs to the thread that created it.
public final class LuaVM {
    public let L: OpaquePointer
    let state: UnsafeMutablePointer<lk_vmstate>
    public let loop: EventLoop
    public private(set) lazy var scheduler = Scheduler(vm: self)
    var pendingUnrefs: [Int32] = []
    var liveRefs = 0
    public private(set) var isClosed = false
    /// Objects the host attaches for its modules (the configuration, the log settings).
    public var hostObjects = HostObjects()
    /// What calls refused under --dry-run would have done (DryRun.swift).
    var wouldActions: [String] = []

    /// The main thread.
    public var main: Lua { Lua(L) }

    public init() throws(LuaError) {
        state = .allocate(capacity: 1)
        state.initialize(to: lk_vmstate())
        guard let L = lk_newstate(state) else {
            state.deallocate()
            throw LuaError(kind: .memory, message: "cannot create a Lua state: out of memory")
        }
        self.L = L
        do {
            loop = try EventLoop()
        } catch {
            lua_close(L)
            state.deallocate()
            throw LuaError(kind: .runtime, message: "cannot create the event loop: \(error)")
        }
        state.pointee.host = Unmanaged.passUnretained(self).toOpaque()
        lk_setdispatchers(closureDispatch, boxRelease, continuationDispatch)
        let status = lk_openlibs(L)
        if status != LUA_OK { throw main.popError(status: status) }
        createSentinels()
    }

    deinit { close() }

    /// Closes the state: to-be-closed variables and finalizers run (lua_close). Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        scheduler.shutdown()
        lk_clear_active(state)   // the watchdog or a signal must not arm a hook in a closed state
        lua_close(L)
        state.deinitialize(count: 1)
        state.deallocate()
    }

    // MARK: settings the native layer reads

    public var dryRun: Bool {
        get { state.pointee.dry_run != 0 }
        set { state.pointee.dry_run = newValue ? 1 : 0 }
    }

    /// Lua heap limit in bytes (0: none), enforced by the allocator.
    public var memoryLimit: Int {
        get { Int(state.pointee.limit) }
        set { lk_set_memory_limit(state, size_t(newValue)) }
    }
    public var memoryUsed: Int { Int(state.pointee.used) }
    public var memoryPeak: Int { Int(state.pointee.peak) }
    /// Whether an allocation was refused for the limit.
    public var memoryLimitHit: Bool { state.pointee.memory_refused != 0 }

    /// References created and not yet released (a leak counter for tests).
    public var referenceCount: Int { liveRefs }

    /// Makes this VM the target of timeouts, Ctrl-C and the watchdog.
    public func makeActive() { lk_set_active(state, loop.wakeFD) }

    // MARK: loading and calling

    /// Compiles `source` (text only) and pushes the function.
    public func load(_ source: UnsafeRawBufferPointer, chunkName: String) throws(LuaError) {
        let status = luaL_loadbufferx(L, source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count, chunkName, "t")
        if status != LUA_OK { throw main.popError(status: status) }
    }

    /// Compiles text, or with `binary` loads precompiled bytecode (only ever opsh's own, embedded at build time).
    public func load(_ source: [UInt8], chunkName: String, binary: Bool = false) throws(LuaError) {
        let status = source.withUnsafeBytes { b in
            luaL_loadbufferx(L, b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count, chunkName, binary ? "b" : "t")
        }
        if status != LUA_OK { throw main.popError(status: status) }
    }

    public func load(_ source: String, chunkName: String) throws(LuaError) {
        var s = source
        let status = s.withUTF8 { b in
            luaL_loadbufferx(L, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count, chunkName, "t")
        }
        if status != LUA_OK { throw main.popError(status: status) }
    }

    /// Calls the function below `nargs` arguments on the main thread, under a
    /// traceback handler. Results stay on the stack (`nresults`, or all with -1).
    public func pcall(nargs: Int32, nresults: Int32 = LUA_MULTRET) throws(LuaError) {
        drainUnrefs()
        let base = lua_gettop(L) - nargs
        lua_pushcclosure(L, lk_msghandler, 0)
        lk_insert(L, base)
        let status = lk_pcall(L, nargs, nresults, base)
        lk_remove(L, base)
        if status != LUA_OK { throw main.popError(status: status) }
    }

    /// Runs a chunk of Lua text and returns its results.
    @discardableResult
    public func run(_ source: String, chunkName: String = "=(opsh)") throws(LuaError) -> [LuaValue] {
        let base = lua_gettop(L)
        try load(source, chunkName: chunkName)
        try pcall(nargs: 0)
        defer { lua_settop(L, base) }
        var out: [LuaValue] = []
        let n = lua_gettop(L)
        if n > base {
            for i in (base + 1)...n {
                do { out.append(try main.value(at: i)) } catch { throw LuaError(kind: .runtime, message: "\(error)") }
            }
        }
        return out
    }

    // MARK: globals, modules

    /// _G[name] = value on top (raw).
    public func setGlobal(_ name: String) {
        lua_rawgeti(L, lk_registryindex(), lua_Integer(LUA_RIDX_GLOBALS))
        lk_insert(L, -2)
        main.rawSet(-2, field: name)
        main.pop()
    }

    /// package.preload[name] = opener: `require(name)` calls it once.
    public func preload(_ name: String, _ opener: LuaFunction) {
        let lua = main
        _ = lua.rawGet(lk_registryindex(), field: "_PRELOAD")
        lua.push(function: opener)
        lua.rawSet(-2, field: name)
        lua.pop()
    }

    /// package.preload[name] = a loader compiled from Lua text with its real chunk name.
    public func preload(_ name: String, source: String, chunkName: String) throws(LuaError) {
        let lua = main
        try load(source, chunkName: chunkName)
        _ = lua.rawGet(lk_registryindex(), field: "_PRELOAD")
        lk_insert(L, -2)
        lua.rawSet(-2, field: name)
        lua.pop()
    }

    /// require(name), protected; pushes the module.
    public func require(_ name: String) throws(LuaError) {
        let status = lk_prequire(L, name)
        if status != LUA_OK { throw main.popError(status: status) }
    }

    // MARK: sentinels

    private func createSentinels() {
        let lua = main
        // opsh.null: a userdata that prints as "null"
        _ = lk_newuserdata(L, 0, 0)
        lua.newTable()
        lua.push("opsh.null"); lua.rawSet(-2, field: "__name")
        lua.push(function: { L in Lua(L!).push("null"); return 1 }); lua.rawSet(-2, field: "__tostring")
        lua_setmetatable(L, -2)
        lua.rawSet(lk_registryindex(), field: "opsh.null")
        // the metatable of error objects
        luaL_newmetatable(L, "opsh.error")
        lua.push(function: errorToString); lua.rawSet(-2, field: "__tostring")
        lua.pop()
    }

    func pushNull(_ lua: Lua) { _ = lua.rawGet(lk_registryindex(), field: "opsh.null") }

    func setErrorMetatable(_ lua: Lua) { luaL_setmetatable(lua.L, "opsh.error") }

    /// Whether the value at `i` is `opsh.null`.
    public func isNull(_ lua: Lua, _ i: Int32) -> Bool {
        guard lua.type(at: i) == .userdata else { return false }
        let i = lua.absIndex(i)
        pushNull(lua)
        defer { lua.pop() }
        return lua_rawequal(lua.L, i, -1) != 0
    }

    // MARK: references

    /// Releases a registry reference the runtime took itself (at the next safe point).
    func releaseRef(_ ref: Int32) {
        guard !isClosed else { return }
        pendingUnrefs.append(ref)
    }

    func queueUnref(_ ref: Int32) {
        guard !isClosed else { return }
        pendingUnrefs.append(ref)
        liveRefs -= 1
    }

    /// Releases references whose Swift owners are gone (a safe point: no Lua frame depends on them).
    public func drainUnrefs() {
        guard !pendingUnrefs.isEmpty else { return }
        for r in pendingUnrefs { luaL_unref(L, lk_registryindex(), r) }
        pendingUnrefs.removeAll(keepingCapacity: true)
    }
}

private let errorToString: lk_SwiftFunction = { L in
    let lua = Lua(L!)
    guard lua.type(at: 1) == .table else { lua.push("error"); return 1 }
    if lua.rawGet(1, field: "message") == .string { return 1 }
    lua.pop()
    if lua.rawGet(1, field: "code") == .string { return 1 }
    lua.pop()
    lua.push("error")
    return 1
}

/// A handful of named objects, in a list: a Dictionary here would make every start instantiate
/// its generic metadata and look up `String: Hashable` among the binary's conformance records
/// (BENCHMARKS.md, start-up).
public struct HostObjects {
    private var entries: [(name: String, object: AnyObject)] = []

    public subscript(name: String) -> AnyObject? {
        get { entries.first { $0.name == name }?.object }
        set {
            entries.removeAll { $0.name == name }
            if let newValue { entries.append((name, newValue)) }
        }
    }
}
