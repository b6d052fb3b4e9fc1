import LuaRuntime

/// `opsh.config`: the effective configuration the host resolved (docs/ARCHITECTURE.md §4).
/// The host reads files and the environment; this module only shows the result.
public enum ConfigModule {
    public struct Entry {
        public let key: String
        public let value: LuaValue
        public let source: String
        public let secret: Bool
        public init(key: String, value: LuaValue, source: String, secret: Bool) {
            self.key = key; self.value = value; self.source = source; self.secret = secret
        }
    }

    final class Store {
        var entries: [Entry]
        init(_ e: [Entry]) { entries = e }
        func find(_ k: String) -> Entry? { entries.first { $0.key == k } }
    }

    public static func attach(_ entries: [Entry], to vm: LuaVM) { vm.hostObjects["config"] = Store(entries) }

    /// A setting's text, for modules that default to configured endpoints.
    public static func string(_ lua: Lua, _ key: String) -> String? { store(lua).find(key)?.value.text }

    /// A setting that is a switch: true/false in config.lua, or true/1/yes (false/0/no) in the environment.
    public static func bool(_ lua: Lua, _ key: String) -> Bool? {
        guard let v = store(lua).find(key)?.value else { return nil }
        if case .boolean(let b) = v { return b }
        switch v.text?.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: return nil
        }
    }

    static func store(_ lua: Lua) -> Store {
        if let s = lua.vm.hostObjects["config"] as? Store { return s }
        let s = Store([])
        lua.vm.hostObjects["config"] = s
        return s
    }

    /// Key names that hold secrets: shown as *** by `opsh config` and in logs.
    public static func looksSecret(_ key: String) -> Bool {
        // ASCII bytes, lower-cased: String's Unicode-aware search is slow for this.
        let k = key.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        func has(_ word: StaticString) -> Bool {
            let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            guard k.count >= w.count else { return false }
            for i in 0...(k.count - w.count) where k[i] == w[0] {
                if (1..<w.count).allSatisfy({ k[i + $0] == w[$0] }) { return true }
            }
            return false
        }
        let endsWithKey = k.count >= 4 && Array(k.suffix(4)) == Array("_key".utf8)
        return endsWithKey || has("password") || has("secret") || has("token") || has("api_key") || has("apikey") || has("webhook")
    }

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("get", get), ("source", source), ("all", all), ("show", show)])
        return 1
    }

    /// config.get(key [, default])
    static let get: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let key = try lua.checkString(1)
            if let e = store(lua).find(key), e.value != .nil { lua.push(value: e.value) } else { lua.pushValue(at: 2) }
            return 1
        }
    }

    /// config.source(key) -> "default" | "env QDRANT_URL" | ".env (QDRANT_URL)" | path of config.lua | "flag --set"
    static let source: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let key = try lua.checkString(1)
            if let e = store(lua).find(key) { lua.push(e.source) } else { lua.pushNil() }
            return 1
        }
    }

    /// config.all() -> { key = value } (secrets included: for scripts, not for printing)
    static let all: LuaFunction = { L in
        let lua = Lua(L!)
        let entries = store(lua).entries
        lua.newTable(hashCount: Int32(entries.count))
        for e in entries { lua.push(value: e.value); lua.rawSet(-2, field: e.key) }
        return 1
    }

    /// config.show() -> { {key=, value=<redacted text>, source=}, ... } sorted by key
    static let show: LuaFunction = { L in
        let lua = Lua(L!)
        let entries = store(lua).entries
        lua.newTable(arrayCount: Int32(entries.count))
        for (i, e) in entries.enumerated() {
            lua.newTable(hashCount: 3)
            lua.push(e.key); lua.rawSet(-2, field: "key")
            lua.push(e.secret ? "***" : Redaction.redact(display(e.value))); lua.rawSet(-2, field: "value")
            lua.push(e.source); lua.rawSet(-2, field: "source")
            lua.rawSet(-2, index: Int64(i + 1))
        }
        return 1
    }

    public static func display(_ v: LuaValue) -> String {
        switch v {
        case .nil: return "nil"
        case .boolean(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .number(let d): return String(d)
        case .string: return v.text!
        case .array(let a): return "{" + a.map(display).joined(separator: ", ") + "}"
        case .map(let m):
            let parts = m.map { (k, v) in
                let key = k.text ?? display(k)
                return "\(key) = " + (looksSecret(key) ? "***" : display(v))
            }.sorted()
            return "{" + parts.joined(separator: ", ") + "}"
        default: return "(\(v))"
        }
    }
}

/// Secret redaction shared by the log and the configuration display.
public enum Redaction {
    /// Hides URL passwords (scheme://user:***@host) and `key=value` secrets in free text.
    public static func redact(_ text: String) -> String {
        var s = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            // scheme://user:password@  ->  scheme://user:***@
            if s[i] == 0x3A, i + 2 < s.count, s[i + 1] == 0x2F, s[i + 2] == 0x2F {
                out += [0x3A, 0x2F, 0x2F]
                i += 3
                var j = i
                while j < s.count, s[j] != 0x40, s[j] != 0x2F, s[j] != 0x20 { j += 1 }
                if j < s.count, s[j] == 0x40, let colon = s[i..<j].firstIndex(of: 0x3A) {
                    out += s[i...colon]
                    out += Array("***".utf8)
                    i = j
                }
                continue
            }
            out.append(s[i])
            i += 1
        }
        s = out
        // name=value where the name looks secret
        var result = ""
        for word in String(decoding: s, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false) {
            if let eq = word.firstIndex(of: "="), ConfigModule.looksSecret(String(word[..<eq])) {
                result += word[...eq] + "***"
            } else {
                result += word
            }
            result += " "
        }
        return String(result.dropLast())
    }
}
