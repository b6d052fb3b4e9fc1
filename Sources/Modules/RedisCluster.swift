import EventLoop
import LuaRuntime
import RESP

/// `redis.cluster`: a Redis Cluster behind the connection's API. The routing, redirects and
/// retries are `RESPCluster`'s (Sources/RESP); this file makes the Lua object and the
/// methods that mean more than one node (INFO, the node list).
extension RedisModule {
    static let clusterOptions = ["timeout", "read_from", "username", "password"]

    /// redis.cluster([url | {"host:port", ...}], [opts]) -> connection, or nil, err
    static let cluster: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var text: String
            switch lua.type(at: 1) {
            case .none, .nil: text = ConfigModule.string(lua, "redis_url") ?? "redis://localhost:6379"
            case .string: text = lua.toString(1)!
            case .table:
                var hosts: [String] = []
                let n = lua.rawLength(1)
                for k in 0..<n {
                    guard lua.rawGet(1, index: Int64(k + 1)) == .string else { lua.pop(); throw .argument(1, "seed \(k + 1) must be a \"host:port\" string") }
                    hosts.append(lua.toString(-1)!)
                    lua.pop()
                }
                guard !hosts.isEmpty else { throw .argument(1, "at least one seed node expected") }
                text = hosts.joined(separator: ",")
            default: throw .type(1, "string or table")
            }
            var timeout = defaultTimeout
            var readFrom = RESPCluster.ReadFrom.primary
            var username: String?, password: String?
            if !lua.isNoneOrNil(2) {
                try lua.checkTable(2)
                try lua.checkOptionKeys(2, clusterOptions, arg: 2)
                if try lua.optionField(2, "timeout", .number, arg: 2) { timeout = lua.toNumber(-1)!; lua.pop() }
                if try lua.optionField(2, "read_from", .string, arg: 2) {
                    switch lua.toString(-1) {
                    case "primary": readFrom = .primary
                    case "replica": readFrom = .replica
                    default: lua.pop(); throw .argument(2, "read_from must be \"primary\" or \"replica\"")
                    }
                    lua.pop()
                }
                if try lua.optionField(2, "username", .string, arg: 2) { username = lua.toString(-1); lua.pop() }
                if try lua.optionField(2, "password", .string, arg: 2) { password = lua.toString(-1); lua.pop() }
            }
            guard timeout > 0, timeout.isFinite else { throw .argument(2, "timeout must be a positive number of seconds") }
            return openCluster(lua, text, username: username, password: password, timeout, readFrom)
        }
    }

    /// The seeds of `text` ("redis://h1:p,h2:p" or "h1:p,h2:p"), credentials given apart applied to each.
    static func openCluster(_ lua: Lua, _ text: String, username: String?, password: String?,
                            _ timeout: Double, _ readFrom: RESPCluster.ReadFrom) -> Int32 {
        var seeds: [RESPEndpoint]
        do throws(RESPError) { seeds = try RESPCluster.seeds(from: text) } catch {
            return lua.failure(code: "bad_url", message: error.message)
        }
        for i in seeds.indices {
            if let username { seeds[i].username = username }
            if let password { seeds[i].password = password }
        }
        return openCluster(lua, seeds, timeout, readFrom)
    }

    /// Reads the slot map at once, so that a cluster that cannot be reached shows at redis.cluster.
    static func openCluster(_ lua: Lua, _ seeds: [RESPEndpoint], _ timeout: Double, _ readFrom: RESPCluster.ReadFrom) -> Int32 {
        let cl = RESPCluster(seeds: seeds, connectTimeout: timeout, timeout: max(timeout, 10), readFrom: readFrom)
        guard case .tcp(let h, let p) = seeds[0].address else {
            return lua.failure(code: "bad_url", message: "a cluster node is named by host:port")
        }
        let c = Connection(session: cl.session(for: RESPClusterNode.address(h, Int(p))), cluster: cl)
        let first: [[RESPArgument]] = lua.dryRun ? [[.string("COMMAND")]] : []
        return exchange(lua, c, first) { lua, replies in
            if let reply = replies.first, let table = RESPCommandTable.parse(reply) { c.commandTable = table }
            lua.push(object: c, type: connectionType)
            return 1
        }
    }

    /// A cluster's INFO: every primary's, merged. The counters of the clients, memory, stats and
    /// keyspace sections are summed over the primaries (keys, used memory, connected clients);
    /// every other field is the first primary's; `nodes` holds each primary's own INFO by address.
    static func clusterInfo(_ lua: Lua, _ c: Connection, _ cmd: [RESPArgument]) -> Int32 {
        guard let cl = c.cluster else { return 0 }
        return runCall(lua, c, failed: nil, done: { lua, flat in
            var parsed: [(String, RESPInfo)] = []
            var k = 0
            while k + 1 < flat.count {
                let reply = flat[k + 1]
                guard !reply.isError, let text = reply.string else { return result(lua, c, reply) }
                parsed.append((flat[k].string ?? "?", RESPInfo.parse(text)))
                k += 2
            }
            guard var merged = parsed.first?.1 else { lua.newTable(); return 1 }
            for (_, other) in parsed.dropFirst() {
                for section in ["clients", "memory", "stats", "keyspace"] {
                    for (name, v) in other.sections[section] ?? [:] {
                        merged.sections[section, default: [:]][name] = sum(merged.sections[section]?[name], v)
                    }
                }
            }
            pushInfo(lua, merged)
            lua.newTable(hashCount: Int32(parsed.count))
            for (address, info) in parsed { pushInfo(lua, info); lua.rawSet(-2, field: address) }
            lua.rawSet(-2, field: "nodes")
            return 1
        }) { loop, finished in
            cl.fanOut(cmd, on: loop) { r in
                finished(r.map { all in all.flatMap { [RESPValue.bulkString(Array($0.address.utf8)), $0.reply] } })
            }
        }
    }

    /// Integers added (keyspace's keys=, expires= too); anything else kept as the first had it.
    static func sum(_ a: RESPInfo.Value?, _ b: RESPInfo.Value) -> RESPInfo.Value {
        guard let a else { return b }
        switch (a, b) {
        case (.int(let x), .int(let y)): return .int(x &+ y)
        case (.fields(let x), .fields(let y)):
            var out = x
            for (k, v) in y { out[k] = sum(x[k], v) }
            return .fields(out)
        default: return a
        }
    }

    /// The nodes as tables {address=, id=, role="primary"|"replica", primary=, health=, slots=}.
    static func pushNode(_ lua: Lua, _ n: RESPClusterNode, _ map: RESPSlotMap) {
        lua.newTable(hashCount: 6)
        lua.push(n.address); lua.rawSet(-2, field: "address")
        lua.push(n.id); lua.rawSet(-2, field: "id")
        lua.push(n.isPrimary ? "primary" : "replica"); lua.rawSet(-2, field: "role")
        if let p = n.primaryID { lua.push(p); lua.rawSet(-2, field: "primary") }
        lua.push(n.health); lua.rawSet(-2, field: "health")
        if n.isPrimary, let i = map.nodes.firstIndex(of: n) {
            lua.push(Int64(map.slots.reduce(0) { $0 + ($1 == Int32(i) ? 1 : 0) })); lua.rawSet(-2, field: "slots")
        }
    }

    /// r:nodes() -> the cluster's nodes as the slot map names them (a plain connection: none)
    static let nodes: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            let map = c.cluster?.map ?? RESPSlotMap()
            lua.newTable(arrayCount: Int32(map.nodes.count))
            for (k, n) in map.nodes.enumerated() { pushNode(lua, n, map); lua.rawSet(-2, index: Int64(k + 1)) }
            return 1
        }
    }

    /// for node, conn in r:each_node([{role = "primary"|"replica"|"all"}]) do ... end: a connection
    /// to each node (an iterator, not a callback, so that calls in the loop can suspend a task).
    /// On a plain connection the one node is the connection itself.
    static let eachNode: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try connection(lua)
            var role = "primary"
            if !lua.isNoneOrNil(2) {
                try lua.checkTable(2)
                if try lua.optionField(2, "role", .string, arg: 2) { role = lua.toString(-1)!; lua.pop() }
                guard ["primary", "replica", "all"].contains(role) else { throw .argument(2, "role must be \"primary\", \"replica\" or \"all\"") }
            }
            guard let cl = c.cluster, let map = cl.map else {
                var done = false
                lua.push(closure: { lua in
                    if done { lua.pushNil(); return 1 }
                    done = true
                    lua.newTable(hashCount: 1); lua.push(c.endpoint.description); lua.rawSet(-2, field: "address")
                    lua.push(object: c, type: connectionType)
                    return 2
                })
                return 1
            }
            let list = map.nodes.filter { role == "all" || $0.isPrimary == (role == "primary") }
            var k = 0
            lua.push(closure: { lua in
                guard k < list.count else { lua.pushNil(); return 1 }
                let n = list[k]
                k += 1
                pushNode(lua, n, map)
                lua.push(object: Connection(session: cl.session(for: n.address), borrowed: true), type: connectionType)
                return 2
            })
            return 1
        }
    }
}

/// `redis.sentinel` and `sentinel://` URLs: the primary of a Sentinel service behind the
/// connection's API. Discovery and failover are `RESPSentinel`'s (Sources/RESP).
extension RedisModule {
    static let sentinelOptions = ["sentinels", "service", "timeout", "username", "password", "db",
                                   "sentinel_username", "sentinel_password"]

    /// redis.sentinel{sentinels = {"h:26379", ...}, service = "mymaster", ...} -> connection, or nil, err
    static let sentinel: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            try lua.checkOptionKeys(1, sentinelOptions, arg: 1)
            var hosts: [String] = []
            guard try lua.optionField(1, "sentinels", .table, arg: 1) else { throw .argument(1, "sentinels = {\"host:port\", ...} expected") }
            let t = lua.top
            for k in 0..<lua.rawLength(t) {
                guard lua.rawGet(t, index: Int64(k + 1)) == .string else { lua.pop(2); throw .argument(1, "sentinel \(k + 1) must be a \"host:port\" string") }
                hosts.append(lua.toString(-1)!)
                lua.pop()
            }
            lua.pop()
            guard !hosts.isEmpty else { throw .argument(1, "at least one sentinel expected") }
            guard try lua.optionField(1, "service", .string, arg: 1) else { throw .argument(1, "service (the name the sentinels monitor) expected") }
            let service = lua.toString(-1)!; lua.pop()
            var timeout = defaultTimeout
            if try lua.optionField(1, "timeout", .number, arg: 1) { timeout = lua.toNumber(-1)!; lua.pop() }
            guard timeout > 0, timeout.isFinite else { throw .argument(1, "timeout must be a positive number of seconds") }
            var template = RESPEndpoint.tcp("localhost")
            if try lua.optionField(1, "username", .string, arg: 1) { template.username = lua.toString(-1); lua.pop() }
            if try lua.optionField(1, "password", .string, arg: 1) { template.password = lua.toString(-1); lua.pop() }
            if try lua.optionField(1, "db", .number, arg: 1) { template.database = Int(lua.toInteger(-1) ?? 0); lua.pop() }
            // the sentinels' own credentials (requirepass in sentinel.conf), not the primary's
            var sentinelUser: String? = nil, sentinelPass: String? = nil
            if try lua.optionField(1, "sentinel_username", .string, arg: 1) { sentinelUser = lua.toString(-1); lua.pop() }
            if try lua.optionField(1, "sentinel_password", .string, arg: 1) { sentinelPass = lua.toString(-1); lua.pop() }
            var sentinels: [RESPEndpoint]
            do throws(RESPError) { sentinels = try RESPCluster.seeds(from: hosts.joined(separator: ",")) } catch {
                return lua.failure(code: "bad_url", message: error.message)
            }
            for k in sentinels.indices { sentinels[k].password = sentinelPass; sentinels[k].username = sentinelPass == nil ? nil : sentinelUser }
            return openSentinel(lua, RESPSentinel(sentinels: sentinels, service: service, template: template,
                                                  connectTimeout: timeout, timeout: max(timeout, 10)))
        }
    }

    static func openSentinel(_ lua: Lua, _ url: String, timeout: Double) -> Int32 {
        do throws(RESPError) {
            return openSentinel(lua, try RESPSentinel(url: url, connectTimeout: timeout, timeout: max(timeout, 10)))
        } catch {
            return lua.failure(code: "bad_url", message: error.message)
        }
    }

    /// Finds the primary at once, so that a service no sentinel knows shows at the call that opens it.
    static func openSentinel(_ lua: Lua, _ sn: RESPSentinel) -> Int32 {
        let c = Connection(session: RESPSession(endpoint: sn.template), sentinel: sn)
        let first: [[RESPArgument]] = lua.dryRun ? [[.string("COMMAND")]] : [[.string("PING")]]
        return exchange(lua, c, first) { lua, replies in
            if let reply = replies.first, let table = RESPCommandTable.parse(reply) { c.commandTable = table }
            lua.push(object: c, type: connectionType)
            return 1
        }
    }
}
