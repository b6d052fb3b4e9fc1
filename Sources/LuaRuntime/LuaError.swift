import CLua
import CLuaShim

/// A Lua error seen from Swift: a failed protected call, load or task.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case runtime, syntax, memory, handler, stop, file }
    public let kind: Kind
    /// The message, with the traceback when a message handler added one.
    public let message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func from(_ lua: Lua, index: Int32, status: Int32) -> LuaError {
        if lk_isstopsentinel(lua.L, index) != 0 { return LuaError(kind: .stop, message: "stopped") }
        let kind: Kind
        switch status {
        case LUA_ERRSYNTAX: kind = .syntax
        case LUA_ERRMEM: kind = .memory
        case LUA_ERRERR: kind = .handler
        case LUA_ERRERR + 1: kind = .file
        default: kind = .runtime
        }
        if let s = lua.toString(index) { return LuaError(kind: kind, message: s) }
        return LuaError(kind: kind, message: lua.describe(index))
    }
}

extension Lua {
    /// Pushes an operational error object (the `nil, err` channel of docs/ARCHITECTURE.md §3):
    /// a table with `code`, `message` and context fields whose __tostring gives the message.
    public func pushError(code: String, message: String, fields: [(String, LuaValue)] = []) {
        newTable(arrayCount: 0, hashCount: Int32(2 + fields.count))
        push(code); rawSet(-2, field: "code")
        push(message); rawSet(-2, field: "message")
        for (k, v) in fields {
            push(value: v)
            rawSet(-2, field: k)
        }
        vm.setErrorMetatable(self)
    }

    /// Returns `nil, err` from a native function.
    public func failure(code: String, message: String, fields: [(String, LuaValue)] = []) -> Int32 {
        pushNil()
        pushError(code: code, message: message, fields: fields)
        return 2
    }
}
