import CLua
import CLuaShim

/// A Swift object that Lua can close (`obj:close()`, `<close>`, or __gc as a fallback).
public protocol LuaClosable: AnyObject {
    func close()
}

/// A userdata type: its metatable has __name, __index (the methods), __gc, __close and __tostring.
public struct LuaClass {
    public let name: String
    public var methods: [(String, LuaFunction)]
    public var metamethods: [(String, LuaFunction)]
    public init(name: String, methods: [(String, LuaFunction)], metamethods: [(String, LuaFunction)] = []) {
        self.name = name
        self.methods = methods
        self.metamethods = metamethods
    }
}

/// The userdata slot holds one retained pointer; nil once closed.
typealias ObjectSlot = UnsafeMutablePointer<UnsafeMutableRawPointer?>

private let releaseObject: lk_SwiftFunction = { L in
    let lua = Lua(L!)
    guard let raw = lua_touserdata(L, 1) else { return 0 }
    let slot = raw.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    guard let p = slot.pointee else { return 0 }
    slot.pointee = nil
    let obj = Unmanaged<AnyObject>.fromOpaque(p).takeRetainedValue()
    (obj as? LuaClosable)?.close()
    _ = lua
    return 0
}

private let describeObject: lk_SwiftFunction = { L in
    let lua = Lua(L!)
    let name = lua.metaName(1) ?? "userdata"
    guard let raw = lua_touserdata(L, 1),
          let p = raw.assumingMemoryBound(to: UnsafeMutableRawPointer?.self).pointee else {
        lua.push("\(name) (closed)")
        return 1
    }
    let obj = Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue()
    if let d = obj as? CustomStringConvertible {
        lua.push("\(name): \(d.description)")
    } else {
        lua.push("\(name): \(p)")
    }
    return 1
}

extension LuaVM {
    /// Creates the metatable for a userdata type (once per VM).
    public func register(_ cls: LuaClass) {
        let lua = main
        if luaL_newmetatable(L, cls.name) == 0 { lua.pop(); return }
        lua.newTable(hashCount: Int32(cls.methods.count + 1))
        for (n, f) in cls.methods {
            lua.push(function: f)
            lua.rawSet(-2, field: n)
        }
        lua.push(function: releaseObject)
        lua.rawSet(-2, field: "close")
        lua.rawSet(-2, field: "__index")
        lua.push(function: releaseObject); lua.rawSet(-2, field: "__gc")
        lua.push(function: releaseObject); lua.rawSet(-2, field: "__close")
        lua.push(function: describeObject); lua.rawSet(-2, field: "__tostring")
        for (n, f) in cls.metamethods {
            lua.push(function: f)
            lua.rawSet(-2, field: n)
        }
        lua.pop()
    }
}

extension Lua {
    /// Pushes `object` as a userdata of the registered type `name`.
    public func push(object: AnyObject, type name: String) {
        let raw = lk_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer?>.size, 0)!
        raw.assumingMemoryBound(to: UnsafeMutableRawPointer?.self).pointee = Unmanaged.passRetained(object).toOpaque()
        luaL_setmetatable(L, name)
    }

    /// The object at `i` if it is an open userdata of type `name`.
    public func object<T: AnyObject>(at i: Int32, type name: String, as: T.Type = T.self) -> T? {
        guard let raw = luaL_testudata(L, i, name),
              let p = raw.assumingMemoryBound(to: UnsafeMutableRawPointer?.self).pointee else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T
    }

    /// Like `object(at:type:)`, raising a clear error for a wrong type or a closed object.
    public func checkObject<T: AnyObject>(_ i: Int32, type name: String, as: T.Type = T.self) throws(LuaRaise) -> T {
        guard let raw = luaL_testudata(L, i, name) else { throw .type(i, name) }
        guard let p = raw.assumingMemoryBound(to: UnsafeMutableRawPointer?.self).pointee else {
            throw .argument(i, "attempt to use a closed \(name)")
        }
        guard let obj = Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T else { throw .type(i, name) }
        return obj
    }

    /// __name of the value's metatable, if any (raw access).
    public func metaName(_ i: Int32) -> String? {
        guard lua_getmetatable(L, i) != 0 else { return nil }
        defer { pop() }
        guard rawGet(-1, field: "__name") == .string else { pop(); return nil }
        defer { pop() }
        return toString(-1)
    }
}
