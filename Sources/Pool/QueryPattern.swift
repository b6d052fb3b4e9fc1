import Qdrant

/// Query patterns: calls that cost the same, under one name, so affinity and the query
/// histogram can learn per kind of call rather than per call.
public enum QueryPattern {
    /// Redis: the command, upper-cased, and the key's prefix up to its first ':' (or the
    /// whole key when it has none and is short; "?" for numbers): `GET user:42:name` is
    /// "GET user:*", `INCR 17` is "INCR ?", `PING` is "PING".
    public static func redis(command: String, key: String?) -> String {
        let name = command.uppercased()
        guard let key, !key.isEmpty else { return name }
        if let colon = key.firstIndex(of: ":") { return "\(name) \(key[...colon])*" }
        if key.allSatisfy(\.isNumber) { return "\(name) ?" }
        return key.count <= 32 ? "\(name) \(key)" : "\(name) *"
    }

    /// Qdrant: the method and the route template of the spec (`POST
    /// /collections/{collection_name}/points/query`); a path the spec does not know keeps its
    /// first two segments.
    public static func qdrant(method: String, path: String) -> String {
        let m = method.uppercased()
        if let r = QdrantRoutes.match(method: m, path: path) { return "\(m) \(r.template)" }
        var bare = Substring(path)
        if let q = bare.firstIndex(of: "?") { bare = bare[..<q] }
        let parts = bare.split(separator: "/").prefix(2)
        return "\(m) /" + parts.joined(separator: "/") + (bare.split(separator: "/").count > 2 ? "/*" : "")
    }
}
