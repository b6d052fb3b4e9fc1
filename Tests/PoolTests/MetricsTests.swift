import Foundation
import OpshTestSupport
@testable import Pool
import XCTest

final class MetricsTests: XCTestCase {
    func testEveryPoolIsOneFamilySetThatPromtoolAccepts() throws {
        let reg = MetricsRegistry()
        let fc = FakeConnector()
        var rules = SizingRules(); rules.minSize = 1; rules.maxSize = 4; rules.baseSize = 2
        let a = try ManagedPool(name: "redis://127.0.0.1:6379/0", kind: "redis", options: PoolOptions(min: 0, max: 4),
                                connector: fc.connector, sizing: rules, forecaster: ScriptedForecaster())
        let b = try ManagedPool(name: "qdrant \"x\"\n", kind: "qdrant", options: PoolOptions(min: 0, max: 2), connector: fc.connector)
        reg.register(a); reg.register(b)
        _ = try a.call(pattern: "GET a:*", classify: { _ in (nil, false) }) { c in c.n }
        XCTAssertThrowsError(try a.call(pattern: "GET a:*", classify: { _ in (.timeout, true) }) { _ in throw PoolError(.timeout, "slow") })
        _ = a.sample(t: 0)
        let text = reg.render()
        let (rc, out) = try Promtool.checkMetrics(text)
        XCTAssertEqual(rc, 0, out + "\n" + text)
        XCTAssertEqual(text.components(separatedBy: "# TYPE db_connection_pool_size gauge").count, 2, "one family")
        XCTAssertTrue(text.contains("db_circuit_breaker_state{pool=\"redis://127.0.0.1:6379/0\",state=\"closed\"} 1"))
        XCTAssertTrue(text.contains("db_circuit_breaker_failures_total{pool=\"redis://127.0.0.1:6379/0\",failure_type=\"timeout\"} 1"))
        XCTAssertTrue(text.contains("db_query_total{pool=\"redis://127.0.0.1:6379/0\"} 2"))
        XCTAssertTrue(text.contains("pool=\"qdrant \\\"x\\\"\\n\""), "label values are escaped")
        XCTAssertTrue(text.contains("db_connection_pool_current_load_factor"))
        XCTAssertEqual(reg.live.count, 2)
    }

    func testAGonePoolLeavesTheRegistry() throws {
        let reg = MetricsRegistry()
        do {
            let fc = FakeConnector()
            let m = try ManagedPool(name: "gone", kind: "redis", options: PoolOptions(min: 0, max: 1), connector: fc.connector)
            reg.register(m)
            XCTAssertEqual(reg.live.count, 1)
        }
        XCTAssertEqual(reg.live.count, 0)
        XCTAssertEqual(reg.render(), "")
    }

    func testOpenBreakerFailsCallsAtOnce() throws {
        let fc = FakeConnector()
        let m = try ManagedPool(name: "m", kind: "redis", options: PoolOptions(min: 0, max: 1), connector: fc.connector)
        m.breaker.forceOpen()
        var ran = false
        XCTAssertThrowsError(try m.call(pattern: nil, classify: { _ in (nil, false) }) { _ in ran = true }) {
            XCTAssertEqual(($0 as? PoolError)?.kind, .circuitOpen)
        }
        XCTAssertFalse(ran)
        XCTAssertEqual(fc.made, 0, "no connection attempted")
    }
}
