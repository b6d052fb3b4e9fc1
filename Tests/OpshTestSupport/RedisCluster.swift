import Foundation
import XCTest

/// A real Redis Cluster on loopback: `primaries` redis-servers with `replicas` each, started by
/// the test (each a `RedisServer`, stopped by its pid), joined with `redis-cli --cluster create`.
/// The init returns once every node reports `cluster_state:ok` and `redis-cli --cluster check`
/// finds the slots covered and the nodes agreeing. Each node's cluster bus listens on a free port
/// of its own (`cluster-port`), not port + 10000.
public final class RedisCluster {
    public private(set) var nodes: [RedisServer] = []
    private var arguments: [[String]] = []

    public init(primaries: Int = 3, replicas: Int = 1) throws {
        for _ in 0..<(primaries * (1 + replicas)) {
            let args = [
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                // short enough that a killed primary's replica takes over within seconds
                "--cluster-node-timeout", "1000", "--cluster-port", String(RedisServer.freePort()),
                "--cluster-replica-validity-factor", "0",
            ]
            arguments.append(args)
            nodes.append(try RedisServer(extraArguments: args))
        }
        let create = Shell.run(["redis-cli", "--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" }
                               + ["--cluster-replicas", String(replicas), "--cluster-yes"])
        guard create.status == 0 else {
            stop()
            throw NSError(domain: "RedisCluster", code: 1, userInfo: [NSLocalizedDescriptionKey: "redis-cli --cluster create failed: \(create.stdout) \(create.stderr)"])
        }
        try waitHealthy()
    }

    deinit { stop() }

    public func stop() { for n in nodes { n.stop() } }

    public var ports: [Int] { nodes.map(\.port) }
    /// "127.0.0.1:p1,127.0.0.1:p2,..." (every node).
    public var seedList: String { nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") }

    /// Starts the node on `port` again (after `kill9`/`stop`) on its port, cluster bus port and
    /// directory: it reads its nodes.conf and rejoins the cluster as the node it was.
    public func restart(_ port: Int) throws {
        guard let i = nodes.firstIndex(where: { $0.port == port }) else { return }
        nodes[i].waitGone()
        // the second --dir wins: the node finds its nodes.conf there
        nodes[i] = try RedisServer(port: port, extraArguments: arguments[i] + ["--dir", nodes[i].dir.path])
    }

    /// redis-cli against one node (`-c`: following redirects as an operator would).
    @discardableResult
    public func cli(_ port: Int, _ args: [String], follow: Bool = false) -> String {
        let r = Shell.run(["redis-cli", "-p", String(port)] + (follow ? ["-c"] : []) + args)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The value of `field` in CLUSTER INFO of the node on `port`.
    public func clusterInfo(_ port: Int, _ field: String) -> String? {
        for line in cli(port, ["CLUSTER", "INFO"]).split(whereSeparator: \.isNewline) {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2, kv[0] == field { return kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// The node's role from ROLE ("master" or "slave"); nil when it does not answer.
    public func role(_ port: Int) -> String? {
        let out = cli(port, ["ROLE"])
        return out.split(whereSeparator: \.isNewline).first.map(String.init)
    }

    /// The port of the primary that serves `slot` according to the node on `askPort`.
    public func primaryPort(slot: Int, askPort: Int) -> Int? {
        let lines = cli(askPort, ["CLUSTER", "NODES"]).split(whereSeparator: \.isNewline)
        for l in lines {
            let f = l.split(separator: " ")
            guard f.count >= 8, f[2].contains("master"), !f[2].contains("fail") else { continue }
            for r in f.dropFirst(8) {
                let b = r.split(separator: "-")
                if let a = Int(b[0]), let z = Int(b.count > 1 ? b[1] : b[0]), a <= slot, slot <= z {
                    return Int(f[1].split(separator: "@")[0].split(separator: ":").last!)
                }
            }
        }
        return nil
    }

    /// The node id of the node on `port`.
    public func nodeID(_ port: Int) -> String { cli(port, ["CLUSTER", "MYID"]) }

    /// Waits (a readiness wait, not a latency bound) until the nodes still running report
    /// cluster_state:ok and redis-cli --cluster check passes.
    public func waitHealthy(skipping gone: Set<Int> = []) throws {
        let live = nodes.filter { !gone.contains($0.port) }
        for _ in 0..<600 {
            if live.allSatisfy({ clusterInfo($0.port, "cluster_state") == "ok" }),
               Shell.run(["redis-cli", "--cluster", "check", "127.0.0.1:\(live[0].port)"]).status == 0 {
                return
            }
            usleep(100_000)
        }
        throw NSError(domain: "RedisCluster", code: 2, userInfo: [NSLocalizedDescriptionKey: "the cluster did not become healthy"])
    }
}
