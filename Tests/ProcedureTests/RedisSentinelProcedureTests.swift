import Foundation
import OpshTestSupport
import XCTest

/// redis/failover and sentinel:// URLs against a primary, a replica and three real Sentinels.
final class RedisSentinelProcedureTests: XCTestCase {
    var set: RedisSentinels!
    var home: URL!

    override func setUpWithError() throws {
        home = Harness.tempDir("home")
        set = try RedisSentinels()
    }
    override func tearDown() { set?.stop() }

    var luaDir: String { Harness.packageRoot.appendingPathComponent("lua").path }

    func testDryRunShowsThePlanAndChangesNothing() {
        let r = Harness.run(["--dry-run", "--path", luaDir, "run", "redis/failover", "--url", set.url], env: ["HOME": home.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("would pause writes on 127.0.0.1:\(set.primary.port)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("SENTINEL FAILOVER mymaster"), r.stdout)
        XCTAssertEqual(set.primaryPort(), set.primary.port)
        XCTAssertTrue(set.cli(set.primary.port, ["ROLE"]).hasPrefix("master"))
    }

    /// A script writes in a loop through redis_url = sentinel://... while redis/failover runs:
    /// every write the script saw acknowledged is on the new primary afterwards.
    func testFailoverWhileAScriptWritesLosesNoAcknowledgedWrite() throws {
        let stop = home.appendingPathComponent("stop").path
        let script = """
            local redis = require "opsh.redis"
            local opsh = require "opsh"
            local r = assert(redis.connect { url = "\(set.url)", timeout = 30 })
            for i = 1, 1000000 do
              local ok, err = r:set("w:" .. i, i)
              if ok then io.write(i, "\\n"); io.flush() else io.stderr:write(i, " ", tostring(err), "\\n") end
              if io.open("\(stop)") then break end
              opsh.sleep(0.002)
            end
            """
        let (writer, out, err) = Harness.start(["-e", script])
        let outBox = DataBox(), errBox = DataBox()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        // writes are flowing to the old primary
        for _ in 0..<300 where (Int(set.cli(set.primary.port, ["DBSIZE"])) ?? 0) < 20 { usleep(50_000) }

        let r = Harness.run(["--path", luaDir, "run", "redis/failover", "--url", set.url], env: ["HOME": home.path], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("moved from 127.0.0.1:\(set.primary.port) to 127.0.0.1:\(set.replica.port)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("landed on 127.0.0.1:\(set.replica.port)"), r.stdout)

        // the writer goes on against the new primary, then stops
        let before = Int(set.cli(set.replica.port, ["DBSIZE"])) ?? 0
        for _ in 0..<300 where (Int(set.cli(set.replica.port, ["DBSIZE"])) ?? 0) < before + 20 { usleep(50_000) }
        FileManager.default.createFile(atPath: stop, contents: nil)
        group.wait()
        writer.waitUntilExit()
        XCTAssertEqual(writer.terminationStatus, 0, String(decoding: errBox.data, as: UTF8.self))

        let acknowledged = String(decoding: outBox.data, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(acknowledged.count, 40)
        let stored = Set(set.cli(set.replica.port, ["KEYS", "w:*"]).split(separator: "\n").map { String($0.dropFirst(2)) })
        let lost = acknowledged.filter { !stored.contains($0) }
        XCTAssertEqual(lost, [], "acknowledged writes missing on the new primary")
        XCTAssertTrue(set.cli(set.primary.port, ["ROLE"]).hasPrefix("slave"))
    }
}
