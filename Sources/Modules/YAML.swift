import LuaRuntime
import YAML

/// `opsh.yaml`: YAML syntax checks with line numbers, on the YAML library.
public enum YAMLModule {
    public static let open: LuaFunction = { L in
        Lua(L!).newModule([("check", check)])
        return 1
    }

    /// yaml.check(text) -> {documents = n} or nil, err {code = "yaml", line, column, message}
    static let check: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let text = try lua.checkBytes(1)
            do throws(YAMLSyntax.Failure) {
                let docs = try YAMLSyntax.check(text)
                lua.push(value: .map([.string("documents"): .integer(Int64(docs))]))
                return 1
            } catch {
                switch error {
                case .unavailable(let why):
                    return lua.failure(code: "library", message: "YAML checks need libyaml: \(why)")
                case .syntax(let line, let column, let message):
                    return lua.failure(code: "yaml", message: "line \(line), column \(column): \(message)",
                                       fields: [("line", .integer(Int64(line))), ("column", .integer(Int64(column)))])
                }
            }
        }
    }
}
