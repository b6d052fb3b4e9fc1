import Foundation
import OpshTestSupport
import XCTest

/// redis.cluster against a real six-node Redis Cluster, as scripts use it.
final class RedisClusterModuleTests: XCTestCase {
    var cluster: RedisCluster!

    override func setUpWithError() throws { cluster = try RedisCluster() }
    override func tearDown() { cluster?.stop() }

    func lua(_ code: String) -> Run {
        Harness.run(["-e", "redis = require 'opsh.redis'; SEEDS = '\(cluster.seedList)'\n" + code])
    }

    func testConnectionAPIOnACluster() {
        let r = lua("""
            local rc = assert(redis.cluster("redis://" .. SEEDS, { timeout = 10 }))
            local replies = rc:pipeline(function(p) for i = 1, 100 do p:call("SET", "k" .. i, i) end end)
            print(#replies, replies[1], replies[100])
            print(rc:get("k42"), rc:dbsize(), rc:call("GET", "k7"))
            local n = 0 for k in rc:scan{match = "k*", count = 7} do n = n + 1 end print("scan", n)
            local info = rc:info()
            local sum, nodes = 0, 0
            for _, v in pairs(info.nodes) do nodes = nodes + 1; sum = sum + v.keyspace.db0.keys end
            print(info.keyspace.db0.keys, sum, nodes, info.server.redis_mode)
            print(rc:transaction(function(p) p:call("SET", "{t}a", 1); p:call("INCR", "{t}a") end)[2])
            local t, terr = rc:transaction(function(p) p:call("SET", "a", 1); p:call("INCR", "b") end)
            print(t, terr.code, terr.message:match("hash tag") ~= nil)
            local m, merr = rc:call("MGET", "a", "b")
            print(m, merr.code)
            local script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
            print(rc:eval(script, {"s"}, {2}), rc:eval(script, {"s"}, {3}))
            local slots, keys = 0, 0
            for node, conn in rc:each_node() do slots = slots + node.slots; keys = keys + conn:dbsize() end
            print(slots, keys)
            local replicas = 0
            for node in rc:each_node{role = "replica"} do replicas = replicas + (node.primary and 1 or 0) end
            print(replicas, #rc:nodes(), rc:is_dragonfly())
            local s, serr = rc:call("SELECT", "1")
            print(s, serr.code)
            rc:close()
            local none, nerr = redis.cluster("127.0.0.1:1", { timeout = 1 })
            print(none, nerr.code)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            100\tOK\tOK
            42\t100\t7
            scan\t100
            100\t100\t3\tcluster
            2
            nil\tcluster\ttrue
            nil\tcluster
            2\t5
            16384\t102
            3\t6\tfalse
            nil\tcluster
            nil\tcluster

            """)
    }
}
