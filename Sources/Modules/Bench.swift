import LuaRuntime

/// `opsh._bench`: the same trivial function three ways, for the border's cost
/// benchmark (Benchmarks/callcost.sh): a plain C lua_CFunction (LuaRuntime keeps it), a Swift function
/// behind the trampoline, and a capturing Swift closure.
public enum BenchModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newTable(hashCount: 3)
        lua.pushBenchmarkCFunction()
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

    static let swiftAddOne: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(try lua.checkInteger(1) &+ 1)
            return 1
        }
    }
}
