import Foundation
import XCTest
@testable import Qdrant

/// The spec compiled into opsh: routes, the read/change classing, and body validation.
final class SpecTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func errors(_ json: String, _ schema: String) -> [String] {
        var bytes = Array(json.utf8)
        return bytes.withUnsafeMutableBytes { QdrantSchemas.shared.validate(UnsafeRawBufferPointer($0), against: schema).map(\.description) }
    }

    func testGeneratedDataMatchesTheSpec() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.root.appendingPathComponent("tools/qdrant-spec/generate.py").path, "--check",
                       "--spec", Self.root.appendingPathComponent("tools/qdrant-standin/openapi.json").path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    func testEveryReadOperationIsAPostOfTheSpec() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("tools/qdrant-standin/openapi.json"))
        let spec = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var posts: [String: String] = [:]
        for (path, ops) in spec["paths"] as! [String: [String: Any]] {
            for (method, op) in ops { if method == "post" { posts[(op as! [String: Any])["operationId"] as! String] = path } }
        }
        for op in QdrantRoutes.readOperations { XCTAssertNotNil(posts[op], "\(op) is not a POST operation of the spec") }
        // and the POSTs that change stay changes
        for op in ["create_snapshot", "create_full_snapshot", "delete_points", "set_payload", "batch_update", "update_aliases", "recover_from_uploaded_snapshot"] {
            XCTAssertNotNil(posts[op])
            XCTAssertFalse(QdrantRoutes.readOperations.contains(op))
        }
        XCTAssertEqual(QdrantRoutes.all.count, (spec["paths"] as! [String: [String: Any]]).values.map(\.count).reduce(0, +))
    }

    func testRoutesMatchLikeActix() {
        XCTAssertEqual(QdrantRoutes.match(method: "POST", path: "/collections/docs/points/query")?.operationId, "query_points")
        XCTAssertEqual(QdrantRoutes.match(method: "POST", path: "/collections/docs/points/query")?.isRead, true)
        XCTAssertEqual(QdrantRoutes.match(method: "POST", path: "/collections/docs/points/count?timeout=3")?.isRead, true)
        XCTAssertEqual(QdrantRoutes.match(method: "POST", path: "/collections/aliases")?.operationId, "update_aliases")
        XCTAssertEqual(QdrantRoutes.match(method: "POST", path: "/collections/docs/snapshots")?.isRead, false)
        XCTAssertEqual(QdrantRoutes.match(method: "PATCH", path: "/collections/docs")?.body, "UpdateCollection")
        XCTAssertEqual(QdrantRoutes.match(method: "GET", path: "/collections/docs/snapshots/a.snapshot")?.operationId, "get_snapshot")
        XCTAssertEqual(QdrantRoutes.match(method: "POST", path: "/collections/docs/snapshots/upload")?.body, "multipart")
        XCTAssertNil(QdrantRoutes.match(method: "POST", path: "/collections/docs/optimize"), "the guide's optimize endpoint does not exist")
        XCTAssertNil(QdrantRoutes.match(method: "POST", path: "/collections/docs/points/search"), "1.19's spec no longer lists search")
        XCTAssertNil(QdrantRoutes.match(method: "GET", path: "/health"), "the guide's /health is /healthz")
    }

    func testUnknownFieldsAreNamed() {
        XCTAssertEqual(errors(#"{"hnsw_config":{"ef":128,"m":16}}"#, "UpdateCollection"),
                       ["hnsw_config.ef: unknown field (HnswConfigDiff has ef_construct, full_scan_threshold, inline_storage, m, max_indexing_threads, memory, on_disk, payload_m)"])
        XCTAssertEqual(errors(#"{"optimizer_config":{}}"#, "UpdateCollection").first?.hasPrefix("optimizer_config: unknown field (UpdateCollection has"), true)
        XCTAssertEqual(errors(#"{"points":[{"id":1,"vector":[1],"payloads":{}}]}"#, "PointInsertOperations"),
                       ["points[0].payloads: unknown field (PointStruct has id, payload, vector)"])
    }

    func testTypesRangesAndEnums() {
        XCTAssertEqual(errors(#"{"optimizers_config":{"deleted_threshold":2,"indexing_threshold":-1},"hnsw_config":{"m":"x","ef_construct":2}}"#, "UpdateCollection"),
                       ["optimizers_config.deleted_threshold: must be at most 1, got 2",
                        "optimizers_config.indexing_threshold: must be a non-negative integer, got -1",
                        "hnsw_config.m: expected an integer, got a string",
                        "hnsw_config.ef_construct: must be at least 4, got 2"])
        XCTAssertEqual(errors(#"{"vectors":{"size":4,"distance":"Cosin"}}"#, "CreateCollection"),
                       [#"vectors.distance: "Cosin" is not one of Cosine, Euclid, Dot, Manhattan"#])
        XCTAssertEqual(errors(#"{"field_schema":"keyword"}"#, "CreateFieldIndex"), ["field_name: missing required field"])
        XCTAssertEqual(errors(#"{"hnsw_config":{"m":1.5}}"#, "UpdateCollection"), ["hnsw_config.m: expected an integer, got a number"])
        XCTAssertEqual(errors("[1,2", "UpdateCollection").count, 1)
    }

    func testValidBodiesPass() {
        XCTAssertEqual(errors(#"{"vectors":{"size":4,"distance":"Cosine"},"hnsw_config":{"m":16},"optimizers_config":{"indexing_threshold":0}}"#, "CreateCollection"), [])
        XCTAssertEqual(errors(#"{"vectors":{"text":{"size":4,"distance":"Dot"},"image":{"size":8,"distance":"Euclid"}}}"#, "CreateCollection"), [])
        XCTAssertEqual(errors(#"{"hnsw_config":null,"optimizers_config":{"max_segment_size":null}}"#, "UpdateCollection"), [])
        XCTAssertEqual(errors(#"{"query":[0.1,0.2],"limit":5,"filter":{"must":[{"key":"city","match":{"value":"Berlin"}}]},"params":{"hnsw_ef":128},"with_payload":["city"]}"#, "QueryRequest"), [])
        XCTAssertEqual(errors(#"{"query":{"nearest":[1,2]},"prefetch":[{"query":[1,2],"limit":10}]}"#, "QueryRequest"), [])
        // point ids are u64: beyond Int64 is still an id
        XCTAssertEqual(errors(#"{"points":[{"id":18446744073709551615,"vector":[1]}]}"#, "PointInsertOperations"), [])
        XCTAssertEqual(errors(#"{"points":[{"id":"5c56c793-69f3-4fbf-87e6-c4bf54c28c26","vector":[1],"payload":{"any":{"thing":[1,"x"]}}}]}"#, "PointInsertOperations"), [])
        XCTAssertEqual(errors(#"{"location":"http://127.0.0.1:1/x.snapshot","priority":"snapshot","checksum":"ab"}"#, "SnapshotRecover"), [])
    }
}
