import Foundation
import OpshTestSupport
import XCTest
@testable import RESP


/// Slots as Redis computes them, without a server.
final class SlotTests: XCTestCase {
    func testCRC16AndHashTags() {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBufferPointer { RESPSlots.crc16($0) }, 0x31C3)
        XCTAssertEqual(RESPSlots.slot(b("foo")), 12182)
        XCTAssertEqual(RESPSlots.slot(b("{user1000}.following")), RESPSlots.slot(b("{user1000}.followers")))
        XCTAssertEqual(RESPSlots.slot(b("foo{}{bar}")), RESPSlots.slot(b("foo{}{bar}")))
        // an empty tag hashes the whole key; only the first { counts
        XCTAssertNotEqual(RESPSlots.slot(b("foo{}{bar}")), RESPSlots.slot(b("bar")))
        XCTAssertEqual(RESPSlots.slot(b("foo{{bar}}zap")), RESPSlots.slot(b("{bar")))
        XCTAssertEqual(RESPSlots.slot(b("foo{bar}{zap}")), RESPSlots.slot(b("bar")))
    }

    /// Names are packed as integers to be recognised without making a String: equal exactly
    /// when the names are equal ignoring the case of their letters.
    func testPackedNamesAreEqualExactlyWhenTheNamesAreEqualIgnoringCase() {
        func packed(_ bytes: [UInt8]) -> UInt64? { bytes.withUnsafeBytes { RESPKeys.packedName($0) } }
        for other in UInt8(0)...UInt8(255) {
            for letter in UInt8(ascii: "A")...UInt8(ascii: "Z") {
                let same = other == letter || other == letter + 0x20
                XCTAssertEqual(packed([other, letter]) == packed([letter, letter]), same, "\(other) against \(letter)")
            }
            XCTAssertEqual(packed([other]), other < 0x80 ? packed(Array(String(UnicodeScalar(other)).uppercased().utf8)) : nil, "\(other)")
        }
        XCTAssertEqual(packed(Array("multi".utf8)), RESPKeys.packedName(name: "MULTI"))
        XCTAssertEqual(packed(Array("ReadOnly".utf8)), RESPKeys.packedName(name: "READONLY"))
        for longer in ["GETS", "GET ", "GET\u{0}", "GET_"] {
            XCTAssertNotEqual(packed(Array("GET".utf8)), packed(Array(longer.utf8)), "the length counts: \(longer)")
        }
        XCTAssertNotEqual(packed(Array("G@T".utf8)), packed(Array("G`T".utf8)), "only letters are folded")
        XCTAssertNil(packed([]))
        XCTAssertNil(packed(Array("EVALSHA_RO".utf8)), "longer than eight bytes: not packed")
        XCTAssertNil(packed(Array("GÉT".utf8)), "not ASCII: not packed")
    }

    func testKeyPositions() throws {
        func route(_ s: String) -> RESPKeys.Route { RESPKeys.route(s.split(separator: " ").map { .string(String($0)) }) }
        XCTAssertEqual(route("GET k"), .keys([1]))
        XCTAssertEqual(route("get k"), .keys([1]))
        XCTAssertEqual(route("sEt k v"), .keys([1]))
        XCTAssertEqual(route("hgetall h"), .keys([1]))
        XCTAssertEqual(route("dbsize"), .everyPrimary)
        XCTAssertEqual(route("zunionstore d 2 a b"), .keys([1, 3, 4]))
        // the common commands' shortcut gives the slot the full routing gives, and only for them
        for line in ["GET k", "set {t}k v", "HGETALL h", "xadd s * f v", "INCR 42"] {
            let cmd: [RESPArgument] = line.split(separator: " ").map { .string(String($0)) }
            guard case .keys(let k) = RESPKeys.route(cmd) else { XCTFail(line); continue }
            XCTAssertEqual(RESPKeys.firstKeySlot(cmd), try RESPKeys.slot(of: cmd, keys: k), line)
        }
        for line in ["GET", "MGET a b", "EVAL s 1 k", "DBSIZE", "PING", "MEMORY USAGE k"] {
            XCTAssertNil(RESPKeys.firstKeySlot(line.split(separator: " ").map { .string(String($0)) }), line)
        }
        XCTAssertEqual(RESPKeys.firstKeySlot([.bytes(Array("get".utf8)), .int(7)]), RESPSlots.slot(Array("7".utf8)))
        XCTAssertEqual(route("MSET a 1 b 2"), .keys([1, 3]))
        XCTAssertEqual(route("EVAL s 2 a b x"), .keys([3, 4]))
        XCTAssertEqual(route("EVAL s 0 x"), .anyNode)
        XCTAssertEqual(route("ZUNIONSTORE d 2 a b WEIGHTS 1 2"), .keys([1, 3, 4]))
        XCTAssertEqual(route("BLPOP a b 5"), .keys([1, 2]))
        XCTAssertEqual(route("XREAD COUNT 2 STREAMS s1 s2 0 0"), .keys([4, 5]))
        XCTAssertEqual(route("MEMORY USAGE k"), .keys([2]))
        XCTAssertEqual(route("DBSIZE"), .everyPrimary)
        XCTAssertEqual(route("PING"), .anyNode)
        if case .refused = route("SELECT 1") {} else { XCTFail("SELECT must be refused") }
        let cmd: [RESPArgument] = [.string("MGET"), .string("a"), .string("b")]
        XCTAssertThrowsError(try RESPKeys.slot(of: cmd, keys: [1, 2])) { e in
            XCTAssertEqual((e as! RESPError).kind, .cluster)
            XCTAssertTrue((e as! RESPError).message.contains("hash tag"), "\(e)")
        }
    }
}

/// What a cluster client does with nodes that lie or do not answer (fake nodes, no cluster).
final class ClusterBadInputTests: XCTestCase {
    func testNoSeedAnswers() throws {
        let ports = [RedisServer.freePort(), RedisServer.freePort()]
        let c = RESPCluster(seeds: try RESPCluster.seeds(from: ports.map { "127.0.0.1:\($0)" }.joined(separator: ",")),
                            connectTimeout: 1, timeout: 2)
        XCTAssertThrowsError(try c.command(["GET", "k"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .cluster)
            XCTAssertTrue(e.message.contains("no node of the cluster answered"), e.message)
            for p in ports { XCTAssertTrue(e.message.contains("127.0.0.1:\(p)"), e.message) }
        }
    }

    func testNodeAnsweringMovedToItself() throws {
        let node = FakeClusterNode { port, cmd in
            switch cmd.first?.uppercased() {
            case "CLUSTER":
                return "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$4\r\nfake\r\n"
                    + "$4\r\nport\r\n:\(port)\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
            default:
                return "-MOVED \(RESPSlots.slot(b("k"))) 127.0.0.1:\(port)\r\n"
            }
        }
        let c = RESPCluster(seeds: [.tcp("127.0.0.1", node.port)], connectTimeout: 1, timeout: 5)
        XCTAssertThrowsError(try c.command(["GET", "k"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .cluster)
            XCTAssertTrue(e.message.contains("to itself"), e.message)
        }
        XCTAssertEqual(c.stats.moved, c.maxRedirects)
    }

    func testSlotMapWithHoles() throws {
        // no CLUSTER SHARDS (as before Redis 7): CLUSTER SLOTS covers 0-5460 only
        let node = FakeClusterNode { port, cmd in
            if cmd.first?.uppercased() == "CLUSTER" {
                if cmd[1].uppercased() == "SHARDS" { return "-ERR unknown subcommand 'SHARDS'\r\n" }
                return "*1\r\n*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:\(port)\r\n$4\r\nfake\r\n"
            }
            return "$5\r\nvalue\r\n"
        }
        let c = RESPCluster(seeds: [.tcp("127.0.0.1", node.port)], connectTimeout: 1, timeout: 5)
        let low = (0..<1000).map { "k\($0)" }.first { RESPSlots.slot(b($0)) <= 5460 }!
        let high = (0..<1000).map { "k\($0)" }.first { RESPSlots.slot(b($0)) > 5460 }!
        XCTAssertEqual(try c.command(["GET", low]), .bulkString(b("value")))
        XCTAssertThrowsError(try c.command(["GET", high])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .cluster)
            XCTAssertTrue(e.message.contains("slot \(RESPSlots.slot(b(high))) is served by no node"), e.message)
            XCTAssertTrue(e.message.contains("5461-16383 uncovered"), e.message)
        }
        XCTAssertEqual(c.map?.missingRanges, [5461...16383])
        // the GET for the hole was never sent
        XCTAssertFalse(node.commands.contains { $0 == ["GET", high] })
    }
}

/// A real six-node cluster (3 primaries, 3 replicas), shared by the tests of this class.
final class ClusterTests: XCTestCase {
    nonisolated(unsafe) static var cluster: RedisCluster?

    override class func setUp() {
        cluster = try? RedisCluster()
    }
    override class func tearDown() { cluster?.stop(); cluster = nil }

    var cluster: RedisCluster!
    var client: RESPCluster!

    override func setUpWithError() throws {
        guard let c = ClusterTests.cluster else { throw XCTSkip("no Redis Cluster could be started") }
        cluster = c
        client = RESPCluster(seeds: try RESPCluster.seeds(from: "redis://" + c.seedList), timeout: 15)
        XCTAssertEqual(try client.command(["FLUSHALL"]), .simpleString(b("OK")))
    }
    override func tearDown() { client?.close() }

    func testKeysRoutedPipelinedAndReadBackWithRedisCli() throws {
        let n = 300
        let sets = (0..<n).map { ["SET", "key:\($0)", "value \($0)"] }
        XCTAssertEqual(try client.pipeline(sets), Array(repeating: .simpleString(b("OK")), count: n))
        // reassembled in the caller's order across three nodes
        let gets = (0..<n).map { ["GET", "key:\($0)"] }
        XCTAssertEqual(try client.pipeline(gets), (0..<n).map { .bulkString(b("value \($0)")) })
        for i in stride(from: 0, to: n, by: 37) {
            XCTAssertEqual(cluster.cli(cluster.ports[0], ["GET", "key:\(i)"], follow: true), "value \(i)")
        }
        // the slot of each key as the server computes it
        for k in ["key:1", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "a{b}c"] {
            XCTAssertEqual(cluster.cli(cluster.ports[0], ["CLUSTER", "KEYSLOT", k]), String(RESPSlots.slot(b(k))), k)
        }
        // DBSIZE means the whole data set: every primary's count, summed
        XCTAssertEqual(try client.command(["DBSIZE"]), .integer(Int64(n)))
        let perNode = try client.fanOut(["DBSIZE"])
        XCTAssertEqual(perNode.count, 3)
        XCTAssertTrue(perNode.allSatisfy { ($0.reply.int ?? 0) > 0 }, "\(perNode)")
        var seen = Set<String>()
        try client.scan(match: "key:*", count: 50) { keys in
            for k in keys { seen.insert(k.string ?? "") }
            return true
        }
        XCTAssertEqual(seen, Set((0..<n).map { "key:\($0)" }))
    }

    func testCrossSlotRefusedAndHashTagsAccepted() throws {
        XCTAssertThrowsError(try client.command(["MGET", "a", "b"])) { e in
            XCTAssertEqual((e as! RESPError).kind, .cluster)
            XCTAssertTrue((e as! RESPError).message.contains("different hash slots"), "\(e)")
        }
        XCTAssertEqual(try client.command(["MSET", "{t}a", "1", "{t}b", "2"]), .simpleString(b("OK")))
        XCTAssertEqual(try client.command(["MGET", "{t}a", "{t}b"]), .array([.bulkString(b("1")), .bulkString(b("2"))]))
        XCTAssertThrowsError(try client.pipeline([["GET", "x"], ["DBSIZE"]])) { e in
            XCTAssertTrue((e as! RESPError).message.contains("send it alone"), "\(e)")
        }
    }

    func testReadsFromReplicas() throws {
        XCTAssertEqual(try client.command(["SET", "replicated", "yes"]), .simpleString(b("OK")))
        let owner = try XCTUnwrap(cluster.primaryPort(slot: RESPSlots.slot(b("replicated")), askPort: cluster.ports[0]))
        XCTAssertEqual(cluster.cli(owner, ["WAIT", "1", "5000"]), "1")
        for p in cluster.ports { XCTAssertEqual(cluster.cli(p, ["CONFIG", "RESETSTAT"]), "OK") }
        let reader = RESPCluster(seeds: try RESPCluster.seeds(from: cluster.seedList), timeout: 15, readFrom: .replica)
        defer { reader.close() }
        // readiness, not a latency bound: CLUSTER SHARDS calls a replica "online" once it is in sync
        var p: RESPClusterNode? = nil, replica: RESPClusterNode? = nil
        for _ in 0..<200 where replica == nil {
            try reader.refresh()
            p = reader.map?.primary(of: RESPSlots.slot(b("replicated")))
            replica = p.flatMap { reader.map?.replicas(of: $0).first }
            if replica == nil { usleep(50_000) }
        }
        let primary = try XCTUnwrap(p), copy = try XCTUnwrap(replica, "no replica of the key's primary is online")
        XCTAssertEqual(try reader.command(["GET", "replicated"]), .bulkString(b("yes")))
        // the GET was answered by the primary's replica
        XCTAssertTrue(cluster.cli(copy.port, ["INFO", "commandstats"]).contains("cmdstat_get:calls=1,"))
        XCTAssertFalse(cluster.cli(primary.port, ["INFO", "commandstats"]).contains("cmdstat_get:"))
        // writes still go to the primary
        XCTAssertEqual(try reader.command(["SET", "replicated", "again"]), .simpleString(b("OK")))
    }

    /// A slot moved between two primaries while pipelines run against it: keys already
    /// migrated answer ASK (and are served after ASKING), once the slot is handed over the old
    /// owner answers MOVED; every INCR lands exactly once.
    func testSlotMigratedDuringPipelines() throws {
        let slot = RESPSlots.slot(b("{mig}"))
        let keys = (0..<20).map { "{mig}:\($0)" }
        let source = try XCTUnwrap(cluster.primaryPort(slot: slot, askPort: cluster.ports[0]))
        let primaries = Set(cluster.ports.filter { cluster.role($0) == "master" })
        let target = primaries.first { $0 != source }!
        let (srcID, tgtID) = (cluster.nodeID(source), cluster.nodeID(target))
        // others interleaved: the pipeline is split over every primary and put back in order
        func pipeline() -> [[String]] {
            keys.indices.flatMap { [["INCR", keys[$0]], ["INCR", "other:\($0)"]] } + [["INCR", "{mig}:new"]]
        }
        func run(_ expect: Int64) throws {
            let r = try client.pipeline(pipeline())
            XCTAssertEqual(r.count, 41)
            for (i, v) in r.enumerated() where i < 40 { XCTAssertEqual(v, .integer(expect), "reply \(i)") }
        }
        try run(1)
        XCTAssertEqual(client.stats.ask + client.stats.moved, 0)

        XCTAssertEqual(cluster.cli(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", srcID]), "OK")
        XCTAssertEqual(cluster.cli(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", tgtID]), "OK")
        XCTAssertEqual(cluster.cli(source, ["MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS"] + keys.prefix(10) + ["{mig}:new"]), "OK")
        try run(2)   // half the keys on each side: ASK for the migrated ones
        XCTAssertGreaterThanOrEqual(client.stats.ask, 11)
        XCTAssertEqual(client.stats.moved, 0)

        XCTAssertEqual(cluster.cli(source, ["MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS"] + keys.suffix(10)), "OK")
        for p in primaries { XCTAssertEqual(cluster.cli(p, ["CLUSTER", "SETSLOT", String(slot), "NODE", tgtID]), "OK") }
        try run(3)   // the client's map still names the source: MOVED
        XCTAssertGreaterThanOrEqual(client.stats.moved, 1)
        XCTAssertEqual(client.map?.primary(of: slot)?.port, target)

        for (i, k) in keys.enumerated() {
            XCTAssertEqual(cluster.cli(target, ["GET", k]), "3", k)
            XCTAssertEqual(cluster.cli(cluster.ports[0], ["GET", "other:\(i)"], follow: true), "3")
        }
        XCTAssertEqual(cluster.cli(target, ["GET", "{mig}:new"]), "3")
        XCTAssertEqual(cluster.cli(source, ["CLUSTER", "COUNTKEYSINSLOT", String(slot)]), "0")
    }

    /// A pipeline whose keys share one slot goes whole to its node (the caller's commands sent as
    /// they are): a server error stays in its place, and when the slot moves, ASK and MOVED are
    /// followed for just the commands they name, each INCR run once.
    func testAPipelineOfOneSlotIsSentWholeAndFollowsItsSlotWhenItMoves() throws {
        let slot = RESPSlots.slot(b("{whole}"))
        let keys = (0..<12).map { "{whole}:\($0)" }
        let source = try XCTUnwrap(cluster.primaryPort(slot: slot, askPort: cluster.ports[0]))
        let target = Set(cluster.ports.filter { cluster.role($0) == "master" }).first { $0 != source }!
        let (srcID, tgtID) = (cluster.nodeID(source), cluster.nodeID(target))
        XCTAssertEqual(try client.command(["SET", "{whole}:text", "abc"]), .simpleString(b("OK")))
        // lower-case names: routed as their upper-case selves
        let pipeline = keys.map { ["incr", $0] } + [["Incr", "{whole}:text"], ["GET", "{whole}:0"]]
        func run(_ expect: Int64) throws {
            let r = try client.pipeline(pipeline)
            XCTAssertEqual(r.count, keys.count + 2)
            for i in keys.indices { XCTAssertEqual(r[i], .integer(expect), "reply \(i)") }
            XCTAssertTrue(r[keys.count].errorMessage?.contains("not an integer") ?? false, "the server's error in its place: \(r[keys.count])")
            XCTAssertEqual(r[keys.count + 1], .bulkString(b(String(expect))))
        }
        try run(1)
        XCTAssertEqual(client.stats.ask + client.stats.moved + client.stats.retried, 0)

        XCTAssertEqual(cluster.cli(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", srcID]), "OK")
        XCTAssertEqual(cluster.cli(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", tgtID]), "OK")
        XCTAssertEqual(cluster.cli(source, ["MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS"] + keys.suffix(6)), "OK")
        try run(2)   // the whole part answered in part with ASK: those six sent again, once
        XCTAssertGreaterThanOrEqual(client.stats.ask, 6)

        XCTAssertEqual(cluster.cli(source, ["MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS"] + keys.prefix(6) + ["{whole}:text"]), "OK")
        for p in Set(cluster.ports.filter { cluster.role($0) == "master" }) {
            XCTAssertEqual(cluster.cli(p, ["CLUSTER", "SETSLOT", String(slot), "NODE", tgtID]), "OK")
        }
        try run(3)   // MOVED for every command of the part: all of them sent again to the new owner
        XCTAssertGreaterThanOrEqual(client.stats.moved, 1)
        try run(4)   // and now whole to the new owner at once
        for k in keys { XCTAssertEqual(cluster.cli(target, ["GET", k]), "4", k) }
    }
}

/// A primary killed: its replica takes over and the client follows (a cluster of its own).
final class ClusterFailoverTests: XCTestCase {
    func testPrimaryKilledReplicaPromotedClientFollows() throws {
        let cluster = try RedisCluster()
        defer { cluster.stop() }
        let client = RESPCluster(seeds: try RESPCluster.seeds(from: cluster.seedList), timeout: 30)
        defer { client.close() }
        let slot = RESPSlots.slot(b("survivor"))
        XCTAssertEqual(try client.command(["SET", "survivor", "before"]), .simpleString(b("OK")))
        let old = try XCTUnwrap(cluster.primaryPort(slot: slot, askPort: cluster.ports[0]))
        XCTAssertEqual(cluster.cli(old, ["WAIT", "1", "5000"]), "1")
        let victim = cluster.nodes.first { $0.port == old }!
        victim.kill9()

        // one call: retried (connection refused, CLUSTERDOWN) until the replica is promoted
        XCTAssertEqual(try client.command(["GET", "survivor"]), .bulkString(b("before")))
        XCTAssertEqual(try client.command(["SET", "survivor", "after"]), .simpleString(b("OK")))
        let now = try XCTUnwrap(client.map?.primary(of: slot))
        XCTAssertNotEqual(now.port, old)
        XCTAssertEqual(cluster.role(now.port), "master")
        XCTAssertEqual(cluster.cli(now.port, ["GET", "survivor"]), "after")
        XCTAssertGreaterThanOrEqual(client.stats.retried, 1)
    }
}
