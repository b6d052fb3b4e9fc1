@testable import Pool
import XCTest

final class AffinityTests: XCTestCase {
    func testRedisPatterns() {
        XCTAssertEqual(QueryPattern.redis(command: "get", key: "user:42:name"), "GET user:*")
        XCTAssertEqual(QueryPattern.redis(command: "INCR", key: "17"), "INCR ?")
        XCTAssertEqual(QueryPattern.redis(command: "PING", key: nil), "PING")
        XCTAssertEqual(QueryPattern.redis(command: "get", key: "config"), "GET config")
        XCTAssertEqual(QueryPattern.redis(command: "get", key: String(repeating: "x", count: 40)), "GET *")
    }

    func testQdrantPatternsUseTheSpecsTemplates() {
        XCTAssertEqual(QueryPattern.qdrant(method: "post", path: "/collections/docs/points/query"),
                       "POST /collections/{collection_name}/points/query")
        XCTAssertEqual(QueryPattern.qdrant(method: "GET", path: "/collections/docs?x=1"), "GET /collections/{collection_name}")
        XCTAssertEqual(QueryPattern.qdrant(method: "GET", path: "/nothing/like/this"), "GET /nothing/like/*")
    }

    func testRoutesToThePreferredFreeConnection() {
        let a = ConnectionAffinity(minCalls: 2)
        for _ in 0..<3 { a.record(pattern: "GET user:*", connection: 1, ms: 1, success: true) }
        for _ in 0..<3 { a.record(pattern: "GET user:*", connection: 2, ms: 5, success: true) }
        XCTAssertEqual(a.route(pattern: "GET user:*", free: [2, 1]), 1)
        XCTAssertEqual(a.route(pattern: "GET user:*", free: [2, 3]), 2, "preferred busy: the best free one")
        XCTAssertNil(a.route(pattern: "GET user:*", free: [3]))
        XCTAssertNil(a.route(pattern: "SET x", free: [1]))
        XCTAssertEqual(a.hitsAndMisses.hits, 1)
        XCTAssertEqual(a.hitsAndMisses.misses, 3)
    }

    func testScoresAndMovingAverages() {
        let a = ConnectionAffinity(minCalls: 1)
        a.record(pattern: "p", connection: 1, ms: 10, success: true)
        a.record(pattern: "p", connection: 1, ms: 20, success: true)   // 0.3*20 + 0.7*10 = 13
        a.record(pattern: "p", connection: 2, ms: 26, success: true)
        let r = a.patterns[0]
        XCTAssertEqual(r.connections[1]!, 1, accuracy: 1e-9)
        XCTAssertEqual(r.connections[2]!, 0.5, accuracy: 1e-9, "half as fast: 13/26")
        XCTAssertEqual(a.performanceScore, (1 * 2 + 0.5 * 1) / 3, accuracy: 1e-9)
        a.record(pattern: "p", connection: 2, ms: 26, success: false)  // success EMA 0.8
        XCTAssertEqual(a.patterns[0].connections[2]!, 0.4, accuracy: 1e-9)
    }

    func testClearLowPerformersAndOptimize() {
        let a = ConnectionAffinity(minCalls: 2)
        for _ in 0..<2 {
            a.record(pattern: "GET a:*", connection: 1, ms: 30, success: true)
            a.record(pattern: "GET a:*", connection: 2, ms: 1, success: true)
            a.record(pattern: "SET b:*", connection: 3, ms: 1, success: true)
        }
        XCTAssertEqual(a.patterns.first { $0.pattern == "GET a:*" }!.preferred, 1, "first to reach min calls")
        let changes = a.optimize()
        XCTAssertEqual(changes.count, 1)
        XCTAssertEqual(changes[0].to, 2)
        XCTAssertEqual(a.clearLowPerformers(minScore: 0.3), 1, "connection 1 scores 1/30 on GET a:*")
        XCTAssertNil(a.patterns.first { $0.pattern == "GET a:*" }!.connections[1])
        let conns = a.connections
        XCTAssertEqual(conns.first { $0.connection == 3 }!.specialization, "SET")
        a.forget(connection: 2)
        XCTAssertNil(a.patterns.first { $0.pattern == "GET a:*" }, "nothing left learned on it")
    }

    func testTableIsBounded() {
        let a = ConnectionAffinity(maxPatterns: 10, minCalls: 1)
        for i in 0..<25 { a.record(pattern: "p\(i)", connection: 1, ms: 1, success: true) }
        XCTAssertLessThanOrEqual(a.patterns.count, 10)
        XCTAssertTrue(a.patterns.contains { $0.pattern == "p24" })
    }
}
