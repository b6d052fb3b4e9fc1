import Foundation
import XCTest

/// A primary, a replica and three Sentinels watching them as `service`, all on loopback and
/// started by the test (stopped by pid). The init returns once every sentinel knows the replica
/// and the replica's link to the primary is up. With `sentinelPassword`, the sentinels ask
/// clients (and each other) for it (`requirepass`, `sentinel sentinel-pass`).
public final class RedisSentinels {
    public let service: String
    public let sentinelPassword: String?
    public private(set) var primary: RedisServer
    public private(set) var replica: RedisServer
    public private(set) var sentinelPorts: [Int] = []
    private var sentinels: [Process] = []
    private let dir: URL

    public init(service: String = "mymaster", sentinelPassword: String? = nil) throws {
        self.service = service
        self.sentinelPassword = sentinelPassword
        dir = Harness.tempDir("sentinels")
        primary = try RedisServer()
        replica = try RedisServer(extraArguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        for k in 0..<3 {
            let port = RedisServer.freePort()
            let conf = dir.appendingPathComponent("sentinel\(k).conf")
            try """
                port \(port)
                bind 127.0.0.1
                dir \(dir.path)
                logfile \(dir.appendingPathComponent("sentinel\(k).log").path)
                sentinel monitor \(service) 127.0.0.1 \(primary.port) 2
                sentinel down-after-milliseconds \(service) 1000
                sentinel failover-timeout \(service) 10000
                sentinel parallel-syncs \(service) 1
                \(sentinelPassword.map { "requirepass \($0)\nsentinel sentinel-pass \($0)" } ?? "")

                """.write(to: conf, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
            p.arguments = [conf.path, "--sentinel"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            sentinels.append(p)
            sentinelPorts.append(port)
        }
        for _ in 0..<600 {
            if sentinelPorts.allSatisfy({
                let r = cli($0, ["SENTINEL", "REPLICAS", service])
                return r.contains(String(replica.port)) && r.contains("master-link-status\nok")
            }) {
                return
            }
            usleep(100_000)
        }
        stop()
        throw NSError(domain: "RedisSentinels", code: 1, userInfo: [NSLocalizedDescriptionKey: "the sentinels did not see the replica"])
    }

    deinit { stop() }

    /// "sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/service"
    public var url: String { "sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/" + service }

    public func stop() {
        for p in sentinels where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        for p in sentinels { p.waitUntilExit() }
        sentinels.removeAll()
        primary.stop()
        replica.stop()
    }

    /// The port of the primary the first sentinel names.
    public func primaryPort() -> Int? {
        Int(cli(sentinelPorts[0], ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", service]).split(whereSeparator: \.isNewline).last ?? "")
    }

    @discardableResult
    public func cli(_ port: Int, _ args: [String]) -> String {
        let auth = sentinelPorts.contains(port) ? sentinelPassword.map { ["--no-auth-warning", "-a", $0] } ?? [] : []
        return Shell.run(["redis-cli", "-p", String(port)] + auth + args).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
