import Agent
import Foundation
import OpshTestSupport
import RESP
import XCTest

/// The job lock on a real redis-server: exclusive, expiring, renewed, released only by its
/// holder, and fenced: a holder whose lock was taken over has its writes refused by Redis.
final class LockTests: XCTestCase {
    func testLockIsExclusiveExpiresAndFencesTheOldHolder() throws {
        let redis = try RedisServer()
        let a = try JobLock(url: redis.url, job: "j", owner: "agent-a", ttl: 1)
        XCTAssertEqual(a.token, 1)
        XCTAssertThrowsError(try JobLock(url: redis.url, job: "j", owner: "agent-b", ttl: 1)) { e in
            XCTAssertTrue("\(e)".contains("lock held by agent-a 1"), "\(e)")
        }
        XCTAssertTrue(a.renew())
        _ = try a.fenced(["SET", "shared", "from-a"])
        // agent a stops renewing (frozen, or dead): its lock expires, b takes the job over
        let admin = try RESPSession.connect(url: redis.url)
        XCTAssertTrue(waitUntil("expired") { (try? admin.command(["EXISTS", JobLock.lockKey("j")])) == .integer(0) })
        let b = try JobLock(url: redis.url, job: "j", owner: "agent-b", ttl: 30)
        XCTAssertEqual(b.token, 2)
        XCTAssertThrowsError(try a.fenced(["SET", "shared", "stale"])) { e in
            XCTAssertTrue("\(e)".contains("STALE fencing token 1"), "\(e)")
        }
        _ = try b.fenced(["SET", "shared", "from-b"])
        XCTAssertEqual(try admin.command(["GET", "shared"]), .bulkString(Array("from-b".utf8)))
        XCTAssertFalse(a.renew(), "a lost its lock")
        a.release()
        XCTAssertEqual(try admin.command(["GET", JobLock.lockKey("j")]), .bulkString(Array("agent-b 2".utf8)), "a's release leaves b's lock")
        b.release()
        XCTAssertEqual(try admin.command(["EXISTS", JobLock.lockKey("j")]), .integer(0))
        admin.close()
        redis.stop()
    }

    func testRunnerRefusesARunWhoseLockIsHeldElsewhere() throws {
        let redis = try RedisServer()
        let held = try JobLock(url: redis.url, job: "busy", owner: "other-agent", ttl: 30)
        let job = try Job(name: "busy", procedure: Procedures.sleeper, schedule: "@daily")
        let s = try JobScheduler(settings: settings([job], redis: redis.url), clock: SystemAgentClock())
        let r = try s.runNow("busy")
        XCTAssertEqual(r.status, .skipped)
        XCTAssertTrue(r.message?.contains("running elsewhere (lock held by other-agent 1)") == true, r.message ?? "")
        held.release()
        let ok = try s.runNow("busy")
        XCTAssertEqual(ok.status, .ok, ok.message ?? "")
        XCTAssertEqual(ok.fenceToken, 2)
        redis.stop()
    }
}
