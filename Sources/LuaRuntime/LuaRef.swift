import CLua
import CLuaShim

/// An owned registry reference. Released exactly once: on deinit the unref is
/// queued and done at the VM's next safe point (never from an arbitrary Swift
/// frame), and a reference outliving its VM does nothing.
public final class LuaRef: Hashable, @unchecked Sendable {
    weak var vm: LuaVM?
    let ref: Int32

    /// References the value at `index` of `lua`'s stack.
    public init(_ lua: Lua, index: Int32) {
        lua.pushValue(at: index)
        self.ref = luaL_ref(lua.L, lk_registryindex())
        self.vm = lua.vm
        self.vm?.liveRefs += 1
    }

    /// Pushes the referenced value (nil if the VM is gone).
    public func push(_ lua: Lua) {
        guard vm != nil else { lua.pushNil(); return }
        lua_rawgeti(lua.L, lk_registryindex(), lua_Integer(ref))
    }

    deinit {
        vm?.queueUnref(ref)
    }

    public static func == (a: LuaRef, b: LuaRef) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
}
