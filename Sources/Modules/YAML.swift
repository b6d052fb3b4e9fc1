import CDyn
import LuaRuntime

/// `opsh.yaml`: YAML syntax checks with line numbers, on libyaml opened on first use (the
/// guide validates configuration with `python -c "import yaml; yaml.safe_load(...)"`).
public enum YAMLModule {
    public static let open: LuaFunction = { L in
        Lua(L!).newModule([("check", check)])
        return 1
    }

    /// yaml.check(text) -> {documents = n} or nil, err {code = "yaml", line, column, message}
    static let check: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let text = try lua.checkBytes(1)
            var docs = 0, line = 0, column = 0
            var msg = [CChar](repeating: 0, count: 512)
            let bytes = Array(text) + [0]
            let rc = bytes.withUnsafeBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                    opsh_yaml_check($0, text.count, &docs, &line, &column, &msg, msg.count)
                }
            }
            if rc < 0 {
                return lua.failure(code: "library", message: "YAML checks need libyaml: \(String(cString: opsh_dyn_error()))")
            }
            if rc == 0 {
                let m = msg.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                return lua.failure(code: "yaml", message: "line \(line), column \(column): \(m)",
                                   fields: [("line", .integer(Int64(line))), ("column", .integer(Int64(column)))])
            }
            lua.push(value: .map([.string("documents"): .integer(Int64(docs))]))
            return 1
        }
    }
}
