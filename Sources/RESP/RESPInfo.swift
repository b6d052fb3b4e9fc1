/// The reply of INFO parsed into sections of typed fields.
///
/// `# Server` starts section "server" (names lower-cased); `key:value` lines become fields.
/// A value is an integer when it is a decimal Int64, a double when it parses as a number with
/// a '.' or an exponent, `fields` when it is a comma-separated list of `k=v` (keyspace lines
/// `db0:keys=1,expires=0,avg_ttl=0`, `slave0:ip=...,port=...`, `cmdstat_get:calls=...`), else
/// a string.
///
/// DragonflyDB: its INFO server section carries `dragonfly_version` (it also answers
/// `redis_version`, for compatibility, with a fixed Redis version), so `isDragonfly` checks
/// that field. Where it matters: DragonflyDB refuses SYNC/PSYNC, writes `.dfs` snapshots
/// rather than `dump.rdb`, has no `maxmemory-policy` in CONFIG SET (a start flag) and may not
/// answer COMMAND INFO with Redis's flags (see `RESPCommandTable.fallback`).
public struct RESPInfo: Sendable, Equatable {
    public indirect enum Value: Sendable, Equatable {
        case int(Int64)
        case double(Double)
        case string(String)
        case fields([String: Value])

        public var int: Int64? {
            if case .int(let i) = self { return i }
            return nil
        }
        public var double: Double? {
            switch self {
            case .double(let d): return d
            case .int(let i): return Double(i)
            default: return nil
            }
        }
        public var string: String? {
            switch self {
            case .string(let s): return s
            case .int(let i): return String(i)
            case .double(let d): return String(d)
            case .fields: return nil
            }
        }
        public var fields: [String: Value]? {
            if case .fields(let f) = self { return f }
            return nil
        }
    }

    /// Section name → field name → value. Fields before any header go to section "".
    public var sections: [String: [String: Value]]
    /// Section names in the order the server sent them.
    public var sectionOrder: [String]

    public subscript(section: String) -> [String: Value]? { sections[section.lowercased()] }

    /// DragonflyDB answers INFO with `dragonfly_version` in its server section.
    public var isDragonfly: Bool { sections["server"]?["dragonfly_version"] != nil }

    /// `redis_version` (or `dragonfly_version` on DragonflyDB).
    public var serverVersion: String? {
        sections["server"]?["dragonfly_version"]?.string ?? sections["server"]?["redis_version"]?.string
    }

    public static func parse(_ text: String) -> RESPInfo {
        var sections: [String: [String: Value]] = [:]
        var order: [String] = []
        var current = ""
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = raw
            while line.last == "\r" { line = line.dropLast() }
            if line.isEmpty { continue }
            if line.first == "#" {
                current = line.dropFirst().drop(while: { $0 == " " }).lowercased()
                if sections[current] == nil { sections[current] = [:]; order.append(current) }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[line.startIndex..<colon])
            let value = line[line.index(after: colon)...]
            if sections[current] == nil { sections[current] = [:]; order.append(current) }
            sections[current]![key] = typed(value)
        }
        return RESPInfo(sections: sections, sectionOrder: order)
    }

    static func typed(_ s: Substring) -> Value {
        if let i = RESPNumbers.parseInt64(s.utf8) { return .int(i) }
        if s.contains("="), !s.contains(" ") {
            var f: [String: Value] = [:]
            var ok = true
            for part in s.split(separator: ",") {
                guard let eq = part.firstIndex(of: "=") else { ok = false; break }
                f[String(part[part.startIndex..<eq])] = typed(part[part.index(after: eq)...])
            }
            if ok { return .fields(f) }
        }
        if let d = numeric(s) { return .double(d) }
        return .string(String(s))
    }

    /// A plain decimal number ("1.23", "-0.5", "1e-05"), not "inf"/"nan"/hex.
    static func numeric(_ s: Substring) -> Double? {
        guard let first = s.utf8.first, first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) else { return nil }
        for c in s.utf8 where !((c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
                                || c == UInt8(ascii: "+") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")) { return nil }
        return Double(s)
    }
}
