// cluster-bench: opsh's Redis Cluster client (RESPCluster) against one node (RESPSession), and
// the per-command cost of slot routing. Driven by Benchmarks/redis/cluster.sh; see BENCHMARKS.md
// "Redis Cluster".
//
//   cluster-bench MODE --seeds h:p[,h:p...] [--n N] [--depth D] [--reps R] [--keys K]
//
// MODE is one of
//   cluster   pipelined SET then GET through RESPCluster: D commands per pipeline (split per
//             node, sent at once, reassembled in order), N commands in all, req/s
//   single    the same pipelines through one RESPSession to the first seed, req/s
//   streams   one RESPCluster client per serving primary, all on one event loop, each sending
//             pipelines of D commands whose keys are tagged to its primary and sending its next
//             pipeline as soon as its own replies are in, N commands in all, req/s: the work of
//             redis-benchmark --cluster --threads 1 -c P -P D (P clients, one per primary, none
//             waiting for another), where a cluster call of D*P waits for all P parts
//   route     routing only, no I/O: RESPKeys.route + the slot of the key + the slot map lookup
//             for N GET commands (for callgrind: instructions per command)
// Values are "xxx" (redis-benchmark's default). K says where the 10,000 keys are (cluster mode;
// streams always has them per node):
//   spread    "cb:<i>": over every slot, so a pipeline of D is split about D/P per primary and a
//             call waits for the slowest of the P parts (the default)
//   one-node  "cb:{t}:<i>", t one hash tag of one slot of the first serving primary: every
//             pipeline goes whole to that node, as a client of `redis-benchmark --cluster` does
//             (it binds each client to one primary and tags all its keys with one of its slots)
//   per-node  key i tagged with a slot of primary (i mod P): a pipeline of D*P carries exactly D
//             commands to each primary, the work of P redis-benchmark --cluster clients of -P D
import EventLoop
import Glibc
import RESP

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func fail(_ msg: String) -> Never {
    let line = Array("cluster-bench: \(msg)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: cluster-bench cluster|single|streams|route --seeds h:p,... [--n N] [--depth D] [--reps R] [--keys spread|one-node|per-node]") }
args.removeFirst()
var seedText = "127.0.0.1:7000", n = 200_000, depth = 16, reps = 3
var keyOption: String? = nil
while !args.isEmpty {
    let flag = args.removeFirst()
    guard let v = args.first else { fail("\(flag) needs a value") }
    args.removeFirst()
    switch flag {
    case "--seeds": seedText = v
    case "--n": n = Int(v) ?? n
    case "--depth": depth = Int(v) ?? depth
    case "--reps": reps = Int(v) ?? reps
    case "--keys": keyOption = v
    default: fail("unknown option \(flag)")
    }
}

let total = n, perPipeline = depth, repetitions = reps
let value: [UInt8] = Array("xxx".utf8)
let seeds: [RESPEndpoint]
do { seeds = try RESPCluster.seeds(from: seedText) } catch { fail("\(error)") }

/// A hash tag whose slot the primary at `node` (an index in the map's nodes) serves.
func tag(for node: Int32, in map: RESPSlotMap) -> String {
    for t in 0... where map.slots[RESPSlots.slot(Array("{\(t)}".utf8))] == node { return String(t) }
    fatalError("unreachable: a serving primary serves a slot")
}

let keyPlacement = keyOption ?? (mode == "streams" ? "per-node" : "spread")
if mode == "streams" && keyPlacement != "per-node" { fail("the streams mode has its keys per node (--keys per-node)") }
var primaryCount = 1
let keys: [[UInt8]]
switch keyPlacement {
case "spread":
    keys = (0..<10_000).map { Array("cb:\($0)".utf8) }
case "one-node", "per-node":
    guard mode == "cluster" || mode == "streams" else { fail("--keys \(keyPlacement) is for the cluster mode") }
    let probe = RESPCluster(seeds: seeds)
    do { try probe.refresh() } catch { fail("\(error)") }
    guard let map = probe.map else { fail("no slot map") }
    probe.close()
    // The primaries in the order of their first slot, each named by its index in map.nodes.
    var order: [Int32] = []
    for i in map.slots where i >= 0 && !order.contains(i) { order.append(i) }
    guard !order.isEmpty else { fail("no primary serves a slot") }
    let tags = (keyPlacement == "one-node" ? [order[0]] : order).map { tag(for: $0, in: map) }
    primaryCount = tags.count
    keys = (0..<10_000).map { Array("cb:{\(tags[$0 % tags.count])}:\($0)".utf8) }
default:
    fail("unknown --keys \(keyPlacement) (spread, one-node or per-node)")
}

func batches(_ op: String) -> [[[RESPArgument]]] {
    var out: [[[RESPArgument]]] = []
    var i = 0
    while i < total {
        let d = min(perPipeline, total - i)
        out.append((0..<d).map { k in
            op == "SET" ? [.string("SET"), .bytes(keys[(i + k) % keys.count]), .bytes(value)]
                        : [.string("GET"), .bytes(keys[(i + k) % keys.count])]
        })
        i += d
    }
    return out
}

switch mode {
case "route":
    let cluster = RESPCluster(seeds: seeds)
    do { try cluster.refresh() } catch { fail("\(error)") }
    guard let map = cluster.map else { fail("no slot map") }
    let cmds: [[RESPArgument]] = (0..<1000).map { [.string("GET"), .bytes(keys[$0])] }
    var sum = 0
    let t0 = now()
    for i in 0..<total {
        let cmd = cmds[i % cmds.count]
        guard case .keys(let k) = RESPKeys.route(cmd) else { fail("not routed by key") }
        let found: Int? = (try? RESPKeys.slot(of: cmd, keys: k)) ?? nil
        let slot = found ?? 0
        sum &+= slot &+ Int(map.slots[slot])
    }
    let ns = Int((now() - t0) / Double(max(total, 1)) * 1e9)
    print("route \(ns) ns/cmd (checksum \(sum))")
case "cluster", "single":
    let sets = batches("SET"), gets = batches("GET")
    let cluster = RESPCluster(seeds: seeds)
    let single = RESPSession(endpoint: seeds[0])
    func run(_ b: [[[RESPArgument]]]) {
        for p in b {
            do {
                let r = mode == "cluster" ? try cluster.perform(p) : try single.perform(p)
                if r.count != p.count || r.contains(where: \.isError) { fail("bad replies: \(r.first { $0.isError } ?? .null)") }
            } catch { fail("\(error)") }
        }
    }
    run(Array(sets.prefix(100)))     // warm-up: connections, slot map
    for _ in 0..<repetitions {
        for (name, b) in [("SET", sets), ("GET", gets)] {
            let t0 = now()
            run(b)
            let dt = now() - t0
            print("\(mode) \(name) depth \(perPipeline): \(Int(Double(total) / dt)) req/s")
        }
    }
case "streams":
    // Stream s owns the keys i with i mod P == s (all tagged to primary s) and its own client.
    let p = primaryCount
    let clients = (0..<p).map { _ in RESPCluster(seeds: seeds) }
    let loop: EventLoop
    do { loop = try EventLoop() } catch { fail("cannot make an event loop: \(error)") }
    func pipelines(_ op: String, _ s: Int) -> [[[RESPArgument]]] {
        let own = stride(from: s, to: keys.count, by: p).map { keys[$0] }
        return (0..<(total + perPipeline - 1) / perPipeline).map { b in
            (0..<perPipeline).map { k in
                let key = own[(b * perPipeline + k) % own.count]
                return op == "SET" ? [.string("SET"), .bytes(key), .bytes(value)] : [.string("GET"), .bytes(key)]
            }
        }
    }
    func run(_ per: [[[[RESPArgument]]]], _ count: Int) {
        var issued = 0, finished = 0
        var cursor = Array(repeating: 0, count: p)
        func next(_ s: Int) {
            guard issued < count else { return }
            let d = min(perPipeline, count - issued)
            issued += d
            let full = per[s][cursor[s] % per[s].count]
            cursor[s] += 1
            clients[s].send(d == perPipeline ? full : Array(full.prefix(d)), on: loop) { r in
                switch r {
                case .success(let v):
                    if v.count != d || v.contains(where: \.isError) { fail("bad replies: \(v.first { $0.isError } ?? .null)") }
                case .failure(let e): fail("\(e)")
                }
                finished += d
                next(s)
            }
        }
        for s in 0..<p { next(s) }
        while finished < count {
            if loop.runOnce(until: nil) == 0 && loop.pendingCount == 0 && finished < count { fail("the loop stopped with \(count - finished) replies missing") }
        }
    }
    let sets = (0..<p).map { pipelines("SET", $0) }, gets = (0..<p).map { pipelines("GET", $0) }
    run(sets, min(total, 100 * perPipeline))     // warm-up: connections, slot maps
    for _ in 0..<repetitions {
        for (name, b) in [("SET", sets), ("GET", gets)] {
            let t0 = now()
            run(b, total)
            let dt = now() - t0
            print("streams \(name) depth \(perPipeline): \(Int(Double(total) / dt)) req/s")
        }
    }
default:
    fail("unknown mode \(mode)")
}
