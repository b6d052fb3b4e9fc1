import Glibc
import LuaRuntime
import Modules

/// The effective configuration (docs/ARCHITECTURE.md §4), highest first: command-line
/// flags (--set key=value), environment variables, a .env file, the config.lua
/// table, then defaults. Every value remembers where it came from.
public struct Configuration {
    public struct Setting: Sendable {
        public let key: String
        public let env: String?
        public let defaultValue: LuaValue
        public let secret: Bool
        public let help: String
    }

    /// The settings opsh itself knows; config.lua may add any other key.
    public static let known: [Setting] = [
        Setting(key: "qdrant_url", env: "QDRANT_URL", defaultValue: .string("http://localhost:6333"), secret: false, help: "Qdrant REST endpoint"),
        Setting(key: "qdrant_api_key", env: "QDRANT_API_KEY", defaultValue: .nil, secret: true, help: "Qdrant API key (api-key header)"),
        Setting(key: "qdrant_metrics_prefix", env: "QDRANT_METRICS_PREFIX", defaultValue: .nil, secret: false, help: "Qdrant's service.metrics_prefix, if the server sets one (e.g. qdrant_)"),
        Setting(key: "maintenance_timezone", env: "OPSH_MAINTENANCE_TIMEZONE", defaultValue: .nil, secret: false, help: "zone of the maintenance windows (default UTC, as the guide)"),
        Setting(key: "maintenance_windows", env: "OPSH_MAINTENANCE_WINDOWS", defaultValue: .nil, secret: false, help: "enforce (default): procedures that declare a window refuse to start outside it without --force; off: never refuse"),
        Setting(key: "agent_history_db", env: "OPSH_AGENT_HISTORY_DB", defaultValue: .nil, secret: false, help: "the agent's run history, SQLite (default ~/.local/state/opsh/agent.db)"),
        Setting(key: "agent_lock_url", env: "OPSH_AGENT_LOCK_URL", defaultValue: .nil, secret: false, help: "the Redis of the agents' job locks (default redis_url; none: no lock)"),
        Setting(key: "redis_url", env: "REDIS_URL", defaultValue: .string("redis://localhost:6379"), secret: false, help: "Redis/DragonflyDB URL"),
        Setting(key: "redis_cluster", env: "REDIS_CLUSTER", defaultValue: .nil, secret: false, help: "true: redis_url names Redis Cluster seed nodes (a list host:port,host:port does too); sentinel://h1:26379,h2:26379/service names a Sentinel service"),
        Setting(key: "task_queue_redis_url", env: "TASK_QUEUE_REDIS_URL", defaultValue: .string("redis://localhost:6379/1"), secret: false, help: "Redis database of the ARQ task queue (the guide's redis-cli -n 1)"),
        Setting(key: "task_queue_name", env: "TASK_QUEUE_NAME", defaultValue: .string("arq:queue"), secret: false, help: "ARQ queue key"),
        Setting(key: "docker_host", env: "DOCKER_HOST", defaultValue: .string("unix:///var/run/docker.sock"), secret: false, help: "Docker Engine API endpoint"),
        Setting(key: "prometheus_url", env: "PROMETHEUS_URL", defaultValue: .string("http://localhost:9090"), secret: false, help: "Prometheus HTTP API"),
        Setting(key: "pool_state_dir", env: "OPSH_POOL_STATE_DIR", defaultValue: .nil, secret: false, help: "where the pool procedures keep their state: predictors, incidents, scaling reviews (default ~/.local/state/opsh/pool)"),
        Setting(key: "state_dir", env: "OPSH_STATE_DIR", defaultValue: .nil, secret: false, help: "where opsh keeps what must outlive a run: incidents, history, a failover in force (default ~/.local/state/opsh)"),
        Setting(key: "backup_dir", env: "BACKUP_DIR", defaultValue: .string("/backup"), secret: false, help: "where backups are written"),
        Setting(key: "slack_webhook_url", env: "SLACK_WEBHOOK_URL", defaultValue: .nil, secret: true, help: "Slack-compatible incoming webhook"),
        Setting(key: "agent_url", env: "OPSH_AGENT_URL", defaultValue: .nil, secret: false, help: "the opsh agent's URL, for procedures that act on its pools (pool/*) (docs/agent.md)"),
        Setting(key: "agent_api_key", env: "OPSH_AGENT_API_KEY", defaultValue: .nil, secret: true, help: "the API key procedures send to the agent (X-API-Key)"),
        Setting(key: "agent_cpu_sample_interval", env: "OPSH_AGENT_CPU_SAMPLE_INTERVAL", defaultValue: .nil, secret: false, help: "seconds between the agent's CPU samples in state_dir/cpu, which system/resources measures CPU since (default 5; 0: none)"),
        Setting(key: "agent_listen", env: "OPSH_AGENT_LISTEN", defaultValue: .nil, secret: false, help: "where opsh-agent listens, ADDR:PORT (default 127.0.0.1:8000)"),
        Setting(key: "log_level", env: "OPSH_LOG_LEVEL", defaultValue: .string("info"), secret: false, help: "debug, info, warn or error"),
        Setting(key: "tls_files", env: "TLS_FILES", defaultValue: .nil, secret: false, help: "certificate files security/tls checks (comma-separated, or a list in config.lua)"),
        Setting(key: "tls_endpoints", env: "TLS_ENDPOINTS", defaultValue: .nil, secret: false, help: "host:port endpoints security/tls checks (comma-separated, or a list)"),
        Setting(key: "tls_ca_file", env: "TLS_CA_FILE", defaultValue: .nil, secret: false, help: "CA file to verify certificates against instead of the system store"),
        Setting(key: "public_urls", env: "PUBLIC_URLS", defaultValue: .nil, secret: false, help: "the public endpoints' URLs security/config-audit expects behind TLS (comma-separated, or a list)"),
    ]

    public private(set) var values: [ConfigModule.Entry] = []
    public private(set) var files: [String] = []

    public func string(_ key: String) -> String? {
        values.first { $0.key == key }?.value.text
    }

    /// Resolves the configuration. `evaluate` runs config.lua's text and returns its table.
    public init(flags: [(String, String)], configFile: String?, envFile: String?,
                evaluate: (String, String) throws -> [String: LuaValue]) throws {
        // lists, not dictionaries: a dozen keys, and no generic Dictionary to instantiate at every
        // start (BENCHMARKS.md, start-up)
        var table: [(key: String, value: LuaValue, source: String)] = []
        func set(_ key: String, _ value: LuaValue, _ source: String) {
            if let i = table.firstIndex(where: { $0.key == key }) { table[i] = (key, value, source) } else { table.append((key, value, source)) }
        }
        func current(_ key: String) -> LuaValue? { table.first { $0.key == key }?.value }
        for s in Configuration.known where s.defaultValue != .nil { set(s.key, s.defaultValue, "default") }
        set("state_dir", .string(Catalog.homeDirectory + "/.local/state/opsh"), "default")

        let configPath = configFile ?? (Catalog.userConfigDirectory + "/config.lua")
        if fileExists(configPath) {
            let text = String(decoding: try readFile(configPath), as: UTF8.self)
            for (k, v) in try evaluate(text, configPath) { set(k, v, configPath) }
            files.append(configPath)
        } else if configFile != nil {
            throw FileError(path: configPath, message: "no such configuration file")
        }

        let dotenvPath = envFile ?? ".env"
        var dotenv: [(key: String, value: String)] = []
        if fileExists(dotenvPath) {
            dotenv = Configuration.parseDotenv(String(decoding: try readFile(dotenvPath), as: UTF8.self))
            files.append(dotenvPath)
        } else if envFile != nil {
            throw FileError(path: dotenvPath, message: "no such .env file")
        }
        for s in Configuration.known {
            guard let env = s.env else { continue }
            if let v = dotenv.last(where: { $0.key == env })?.value { set(s.key, Configuration.typed(v, like: current(s.key)), dotenvPath + " (\(env))") }
            if let p = getenv(env) { set(s.key, Configuration.typed(String(cString: p), like: current(s.key)), "env \(env)") }
        }
        // A failover in force (dr/failover) moves opsh's own endpoints with the application's:
        // state_dir/failover.env holds them until `dr/failover --back` removes them. Above the
        // environment (a shell's REDIS_URL is the endpoint that failed), below --set.
        let failoverPath = (current("state_dir")?.text ?? "") + "/failover.env"
        if fileExists(failoverPath) {
            for (k, v) in Configuration.parseDotenv(String(decoding: try readFile(failoverPath), as: UTF8.self))
            where k == "redis_url" || k == "qdrant_url" {
                set(k, .string(v), "failover (\(failoverPath))")
            }
            files.append(failoverPath)
        }
        for (k, v) in flags { set(k, Configuration.typed(v, like: current(k)), "flag --set") }

        values = table.sorted { $0.key < $1.key }.map { e in
            ConfigModule.Entry(key: e.key, value: e.value, source: e.source,
                               secret: Configuration.known.contains { $0.key == e.key && $0.secret } || ConfigModule.looksSecret(e.key))
        }
    }

    /// A value from the command line, env or .env takes the type of what it overrides.
    static func typed(_ s: String, like old: LuaValue?) -> LuaValue {
        switch old {
        case .integer?: if let i = Int64(s) { return .integer(i) }
        case .number?: if let d = Double(s) { return .number(d) }
        case .boolean?:
            if ["true", "yes", "1", "on"].contains(s.lowercased()) { return .boolean(true) }
            if ["false", "no", "0", "off"].contains(s.lowercased()) { return .boolean(false) }
        default: break
        }
        return .string(s)
    }

    /// KEY=VALUE lines; `export` prefixes, comments, single and double quotes.
    static func parseDotenv(_ text: String) -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingSpaces()
            var value = line[line.index(after: eq)...].trimmingSpaces()
            if value.count >= 2, let f = value.first, (f == "\"" || f == "'"), value.last == f {
                value = String(value.dropFirst().dropLast())
                if f == "\"" { value = value.replacingEscapes() }
            } else if let hash = value.range(of: " #", options: .backwards) {
                value = String(value[..<hash.lowerBound]).trimmingSpaces()
            }
            if !key.isEmpty { out.append((key, value)) }   // a later line wins
        }
        return out
    }
}

extension Catalog {
    static var userConfigDirectory: String {
        if let xdg = getenv("XDG_CONFIG_HOME"), xdg.pointee != 0 { return String(cString: xdg) + "/opsh" }
        return homeDirectory + "/.config/opsh"
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}

extension String {
    func replacingEscapes() -> String {
        var out = ""
        var esc = false
        for c in self {
            if esc {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                esc = false
            } else if c == "\\" { esc = true } else { out.append(c) }
        }
        return out
    }
}
