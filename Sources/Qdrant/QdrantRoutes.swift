/// Qdrant's REST routes as the spec lists them, and which of them change nothing.
///
/// `--dry-run` lets reads through and refuses changes. The method alone does not tell: Qdrant
/// reads with POST (`points/query`, `points/count`, `points/scroll`, ...), and `POST /snapshots`
/// writes. The list below names the spec's POST operations that only read; a test checks each
/// name against the spec, and every other non-GET route is a change.
public struct QdrantRoute: Sendable {
    public let method: String
    public let template: String
    public let operationId: String
    /// The `#/components/schemas` name of the JSON body, "multipart", or nil.
    public let body: String?
    public var isRead: Bool { method == "GET" || method == "HEAD" || QdrantRoutes.readOperations.contains(operationId) }
}

public enum QdrantRoutes {
    /// POST operations of the spec that read only.
    public static let readOperations: Set<String> = [
        "get_points", "scroll_points", "count_points", "facet",
        "query_points", "query_batch_points", "query_points_groups",
        "search_matrix_pairs", "search_matrix_offsets",
    ]

    public static let specVersion = QdrantSpecData.version

    public static let all: [QdrantRoute] = QdrantSpecData.routes.map {
        QdrantRoute(method: $0.0, template: $0.1, operationId: $0.2, body: $0.3)
    }

    /// The route that serves `method path` (query string ignored), as actix would match it.
    public static func match(method: String, path: String) -> QdrantRoute? {
        var bare = Substring(path)
        if let q = bare.firstIndex(of: "?") { bare = bare[..<q] }
        let parts = bare.split(separator: "/")
        var best: (Int, Int)?
        for (i, t) in table.enumerated() where t.segments.count == parts.count && all[i].method == method {
            var literal = 0
            var ok = true
            for (a, b) in zip(t.segments, parts) {
                if a.isEmpty { continue }   // a {parameter}
                if a != b { ok = false; break }
                literal += 1
            }
            // "/collections/aliases" beats "/collections/{collection_name}"
            if ok, literal > (best?.1 ?? -1) { best = (i, literal) }
        }
        return best.map { all[$0.0] }
    }

    /// Each route's template split once: literal segments, "" for a {parameter}.
    private static let table: [(segments: [Substring], Void)] = all.map { r in
        (r.template.split(separator: "/").map { $0.hasPrefix("{") ? "" : $0 }, ())
    }
}
