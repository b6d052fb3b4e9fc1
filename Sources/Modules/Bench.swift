import CLua
import CLuaShim
import LuaRuntime

/// `opsh._bench`: the same trivial function three ways, for the border's cost
/// benchmark (Benchmarks/callcost.sh): a plain C lua_CFunction, a Swift function
/// behind the trampoline, and a capturing Swift closure.
public enum BenchModule {
    public static let open: lk_SwiftFunction = { L in
        let lua = Lua(L!)
        lua.newTable(hashCount: 3)
        lua_pushcclosure(L, lk_plain_addone, 0)
        lua.rawSet(-2, field: "c_addone")
        lua.push(function: swiftAddOne)
        lua.rawSet(-2, field: "swift_addone")
        let one: Int64 = 1
        lua.push(closure: { lua in
            lua.call { lua throws(LuaRaise) in
                lua.push(try lua.checkInteger(1) &+ one)
                return 1
            }
        })
        lua.rawSet(-2, field: "closure_addone")
        return 1
    }

    static let swiftAddOne: lk_SwiftFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(try lua.checkInteger(1) &+ 1)
            return 1
        }
    }
}
