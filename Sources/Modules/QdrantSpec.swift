import LuaRuntime
import Qdrant

/// `opsh.qdrant.spec`: what Qdrant's OpenAPI spec (compiled in) says of a request, for the
/// client in stdlib/opsh/qdrant.lua: which route serves it, whether it only reads (for
/// `--dry-run`), and what is wrong with a body (unknown fields, types, ranges).
public enum QdrantSpecModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("route", route), ("validate", validate)], extraFields: 1)
        lua.push(QdrantRoutes.specVersion); lua.rawSet(-2, field: "version")
        return 1
    }

    /// spec.route(method, path) -> {operation, template, read, body} | nil
    static let route: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let method = try lua.checkString(1).uppercased()
            let path = try lua.checkString(2)
            guard let r = QdrantRoutes.match(method: method, path: path) else { lua.pushNil(); return 1 }
            lua.newTable(hashCount: 4)
            lua.push(r.operationId); lua.rawSet(-2, field: "operation")
            lua.push(r.template); lua.rawSet(-2, field: "template")
            lua.push(r.isRead); lua.rawSet(-2, field: "read")
            if let b = r.body { lua.push(b); lua.rawSet(-2, field: "body") }
            return 1
        }
    }

    /// spec.validate(schema, json_text) -> {"path: message", ...} (empty when the body fits)
    static let validate: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let name = try lua.checkString(1)
            let body = try lua.checkBytes(2)
            guard QdrantSchemas.shared.schema(name) != nil else { throw .argument(1, "no schema '\(name)' in Qdrant's spec") }
            let errors = QdrantSchemas.shared.validate(body, against: name)
            lua.newTable(arrayCount: Int32(errors.count))
            for (i, e) in errors.enumerated() { lua.push(e.description); lua.rawSet(-2, index: Int64(i + 1)) }
            return 1
        }
    }
}
