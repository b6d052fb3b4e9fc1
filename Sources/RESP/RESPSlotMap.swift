/// One node of a Redis Cluster as the slot map names it.
public struct RESPClusterNode: Sendable, Equatable {
    public var id: String
    public var host: String { didSet { address = RESPClusterNode.address(host, port) } }
    public var port: Int { didSet { address = RESPClusterNode.address(host, port) } }
    public var isPrimary: Bool
    /// For a replica: the id of its primary.
    public var primaryID: String?
    /// CLUSTER SHARDS's health ("online", "failed", "loading"); "online" from CLUSTER SLOTS.
    public var health: String
    /// "host:port", kept with the node: routing reads it on every call.
    public private(set) var address: String

    public init(id: String, host: String, port: Int, isPrimary: Bool, primaryID: String?, health: String) {
        self.id = id; self.host = host; self.port = port; self.isPrimary = isPrimary
        self.primaryID = primaryID; self.health = health
        address = RESPClusterNode.address(host, port)
    }

    public static func address(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// "host:port" (or "[v6]:port") split; nil when it is not that.
    public static func split(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              port > 0, port < 65536 else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}

/// Which node serves each of the 16384 slots, from `CLUSTER SHARDS` (Redis 7) or `CLUSTER SLOTS`.
public struct RESPSlotMap: Sendable, Equatable {
    public private(set) var nodes: [RESPClusterNode] = []
    /// The index in `nodes` of each slot's primary; -1: no node serves the slot.
    public private(set) var slots: [Int32] = Array(repeating: -1, count: RESPSlots.count)

    public init() {}

    public func primary(of slot: Int) -> RESPClusterNode? {
        let i = slots[slot]
        return i < 0 ? nil : nodes[Int(i)]
    }

    public var primaries: [RESPClusterNode] { nodes.filter(\.isPrimary) }

    /// Primaries that serve at least one slot, in the order of their first slot.
    public var servingPrimaries: [RESPClusterNode] {
        var seen = Set<Int32>(), out: [RESPClusterNode] = []
        for i in slots where i >= 0 && !seen.contains(i) { seen.insert(i); out.append(nodes[Int(i)]) }
        return out
    }

    public func replicas(of primary: RESPClusterNode) -> [RESPClusterNode] {
        nodes.filter { !$0.isPrimary && $0.primaryID == primary.id && $0.health == "online" }
    }

    /// The slot ranges no node serves.
    public var missingRanges: [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        var start: Int? = nil
        for s in 0..<RESPSlots.count {
            if slots[s] < 0 { if start == nil { start = s } } else if let b = start { out.append(b...(s - 1)); start = nil }
        }
        if let b = start { out.append(b...(RESPSlots.count - 1)) }
        return out
    }

    public static func describe(_ ranges: [ClosedRange<Int>]) -> String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
    }

    /// `slot` is now served by the primary at `address` (a MOVED reply), added when unknown.
    public mutating func move(slot: Int, to address: String) {
        if let i = nodes.firstIndex(where: { $0.address == address && $0.isPrimary }) { slots[slot] = Int32(i); return }
        guard let (h, p) = RESPClusterNode.split(address) else { return }
        nodes.append(RESPClusterNode(id: address, host: h, port: p, isPrimary: true, primaryID: nil, health: "online"))
        slots[slot] = Int32(nodes.count - 1)
    }

    private mutating func add(_ n: RESPClusterNode) -> Int {
        if let i = nodes.firstIndex(where: { $0.id == n.id }) { return i }
        nodes.append(n)
        return nodes.count - 1
    }

    private mutating func assign(_ from: Int, _ to: Int, _ node: Int) -> Bool {
        guard from >= 0, to < RESPSlots.count, from <= to else { return false }
        for s in from...to { slots[s] = Int32(node) }
        return true
    }

    /// A map from a CLUSTER SHARDS reply (RESP2 flat lists or RESP3 maps); `askedHost` stands in
    /// for a node whose address is empty (the node we asked, seen from itself). Nil when the
    /// reply is not that shape.
    public static func parseShards(_ reply: RESPValue, askedHost: String) -> RESPSlotMap? {
        guard !reply.isError, let shards = reply.elements else { return nil }
        var m = RESPSlotMap()
        for shard in shards {
            let f = fields(shard)
            guard let slotList = f["slots"]?.elements, let nodeList = f["nodes"]?.elements else { return nil }
            var primaryIndex: Int? = nil
            var members: [RESPClusterNode] = []
            for n in nodeList {
                let nf = fields(n)
                guard let id = nf["id"]?.string, let role = nf["role"]?.string,
                      let port = (nf["port"] ?? nf["tls-port"])?.int else { return nil }
                var host = nf["endpoint"]?.string ?? ""
                if host.isEmpty || host == "?" { host = nf["ip"]?.string ?? "" }
                if host.isEmpty || host == "?" { host = askedHost }
                members.append(RESPClusterNode(id: id, host: host, port: Int(port), isPrimary: role == "master",
                                               primaryID: nil, health: nf["health"]?.string ?? "online"))
            }
            let primaryID = members.first(where: \.isPrimary)?.id
            for var n in members {
                if !n.isPrimary { n.primaryID = primaryID }
                let i = m.add(n)
                if n.isPrimary { primaryIndex = i }
            }
            guard slotList.count % 2 == 0 else { return nil }
            if let p = primaryIndex {
                var k = 0
                while k + 1 < slotList.count {
                    guard let a = slotList[k].int, let b = slotList[k + 1].int, m.assign(Int(a), Int(b), p) else { return nil }
                    k += 2
                }
            }
        }
        return m
    }

    /// A map from a CLUSTER SLOTS reply: [start, end, [host, port, id], replicas...] per range.
    public static func parseSlots(_ reply: RESPValue, askedHost: String) -> RESPSlotMap? {
        guard !reply.isError, let ranges = reply.elements else { return nil }
        var m = RESPSlotMap()
        for r in ranges {
            guard let e = r.elements, e.count >= 3, let a = e[0].int, let b = e[1].int else { return nil }
            var primary = -1
            for (k, n) in e.dropFirst(2).enumerated() {
                guard let f = n.elements, f.count >= 2, var host = f[0].string, let port = f[1].int else { return nil }
                if host.isEmpty || host == "?" { host = askedHost }
                let id = f.count >= 3 ? (f[2].string ?? "") : RESPClusterNode.address(host, Int(port))
                let node = RESPClusterNode(id: id.isEmpty ? RESPClusterNode.address(host, Int(port)) : id, host: host, port: Int(port),
                                           isPrimary: k == 0, primaryID: k == 0 ? nil : m.nodes[primary].id, health: "online")
                let i = m.add(node)
                if k == 0 { primary = i }
            }
            guard m.assign(Int(a), Int(b), primary) else { return nil }
        }
        return m
    }

    /// The name -> value pairs of a flat RESP2 list or a RESP3 map.
    private static func fields(_ v: RESPValue) -> [String: RESPValue] {
        var out: [String: RESPValue] = [:]
        let e = v.elements ?? []
        var i = 0
        while i + 1 < e.count {
            if let k = e[i].string { out[k] = e[i + 1] }
            i += 2
        }
        return out
    }
}
