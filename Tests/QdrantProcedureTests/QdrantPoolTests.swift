import Foundation
import OpshTestSupport
import XCTest

/// qdrant.pool against the Qdrant stand-in: every client method through the pool, patterns by
/// route template, a 4xx left to the caller, and the breaker on an endpoint that refuses.
final class QdrantPoolTests: XCTestCase {
    func testRequestsGoThroughThePoolAndTheBreaker() throws {
        guard QdrantStandin.available else { throw XCTSkip("the Qdrant stand-in needs qdrant-edge-py (scripts/setup)") }
        let s = try QdrantStandin()
        let closed = RedisServer.freePort()
        let r = Harness.run(["-e", """
            local qdrant = require "opsh.qdrant"
            local opsh = require "opsh"
            local q = qdrant.pool("\(s.url)", { max = 2, timeout = 10 })
            assert(q:create_collection("docs", { vectors = { size = 4, distance = "Cosine" } }))
            local pts = {}
            for i = 1, 50 do pts[i] = { id = i, vector = { math.sin(i), math.cos(i), 1, 0 } } end
            assert(q:upsert("docs", pts))
            local counts = { opsh.all { function() return q:count("docs") end, function() return q:count("docs") end,
                                        function() return q:count("docs") end } }
            print(counts[1], counts[2], counts[3], q:exists("docs"))
            local v, err = q:collection("missing")
            print(v, err.status, q:breaker():state(), q:breaker():status().failures_total.query)
            local patterns = {}
            for _, p in ipairs(q:affinity().patterns) do patterns[#patterns + 1] = p.pattern end
            table.sort(patterns)
            print(table.concat(patterns, " | "))
            local st = q:stats()
            print(st.kind, st.calls_total, st.failed_total, st.open <= 2)
            -- nothing listens here: three connection failures open the breaker, then it refuses at once
            local dead = qdrant.pool("http://127.0.0.1:\(closed)", { breaker = { failure_threshold = { connection = 3 } } })
            local codes = {}
            for i = 1, 4 do local _, e = dead:collections(); codes[i] = e.code end
            print(table.concat(codes, " "), dead:breaker():state())
            """], env: ["QDRANT_URL": s.url], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            50\t50\t50\ttrue
            nil\t404\tclosed\t0
            GET /collections/{collection_name} | GET /collections/{collection_name}/exists | POST /collections/{collection_name}/points/count | PUT /collections/{collection_name} | PUT /collections/{collection_name}/points
            qdrant\t7\t1\ttrue
            connect connect connect circuit_open\topen

            """)
    }
}
