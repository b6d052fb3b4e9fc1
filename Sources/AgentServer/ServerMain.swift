import Agent
import Engine
import FileSystem
import Glibc
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Pool
import ServiceLifecycle
import UnixSignals

/// opsh-agent: parses its command line, reads the configuration, opens the history database
/// and the pools, starts the scheduler (the Agent core) and serves the API until SIGTERM
/// (graceful: no new work, running jobs finish within agent_grace_period) or SIGINT; SIGHUP
/// reloads the configuration, the jobs included.
public enum ServerMain {
    static let usage = """
        usage: opsh-agent [--listen ADDR:PORT] [--config FILE] [--env-file FILE] [--set KEY=VALUE ...]
          --listen ADDR:PORT   where to listen (default: agent_listen, else 127.0.0.1:8000)
          --config FILE        configuration file (default ~/.config/opsh/config.lua), as opsh reads it
          --env-file FILE      .env file (default ./.env)
          --set KEY=VALUE      override one configuration value (repeatable)
        signals: SIGTERM stops gracefully, SIGHUP reloads the configuration (a bad one is refused).
        API: docs/agent.md and docs/agent-openapi.yaml.
        """

    struct Arguments {
        var listen: String?
        var configFile: String?
        var envFile: String?
        var settings: [(String, String)] = []
    }

    static func parse(_ args: [String]) throws(ServerSettings.Invalid) -> Arguments {
        var a = Arguments()
        var i = 1
        func value(_ name: String) throws(ServerSettings.Invalid) -> String {
            i += 1
            guard i < args.count else { throw .init(description: "\(name) needs a value") }
            return args[i]
        }
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "--listen": a.listen = try value(arg)
            case "--config": a.configFile = try value(arg)
            case "--env-file": a.envFile = try value(arg)
            case "--set":
                let kv = try value(arg)
                guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw .init(description: "--set needs KEY=VALUE, got '\(kv)'") }
                a.settings.append((String(kv[..<eq]), String(kv[kv.index(after: eq)...])))
            case "--help", "-h":
                print(usage)
                exit(0)
            default: throw .init(description: "unknown argument '\(arg)'")
            }
            i += 1
        }
        return a
    }

    /// The server's and the scheduler's settings from one reading of the configuration (and
    /// --listen over agent_listen). The scheduler's history database is the server's too.
    static func load(_ a: Arguments) throws -> (ServerSettings, SchedulerSettings) {
        let config = try Configuration.resolve(configFile: a.configFile, envFile: a.envFile, settings: a.settings)
        var s = try ServerSettings(config)
        if let l = a.listen { (s.listenHost, s.listenPort) = try ServerSettings.parseListen(l, key: "--listen") }
        if let key = config.string("qdrant_api_key") { s.qdrantAPIKey = key }
        let jobs = try config.schedulerSettings(opshPath: opshPath(), configFile: a.configFile)
        s.historyDatabase = jobs.historyPath
        return (s, jobs)
    }

    /// The opsh binary the jobs run: the one installed beside opsh-agent (OPSH_AGENT_OPSH
    /// names another, e.g. for a build directory elsewhere).
    static func opshPath() -> String {
        getenvString("OPSH_AGENT_OPSH") ?? FileSystem.directory(of: AgentCommands.selfPath()) + "/opsh"
    }

    public static func main() async {
        setvbuf(stdout, nil, _IOLBF, 0)
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "opsh-agent")
        logger.logLevel = .info
        let args: Arguments
        let settings: ServerSettings
        let jobs: SchedulerSettings
        do {
            args = try parse(CommandLine.arguments)
            (settings, jobs) = try load(args)
        } catch {
            fputs("opsh-agent: \(error)\n\(usage)\n", stderr)
            exit(2)
        }
        do {
            try await serve(args: args, settings: settings, jobs: jobs, logger: logger)
        } catch {
            logger.error("stopped: \(error)")
            exit(1)
        }
        exit(0)
    }

    static func serve(args: Arguments, settings: ServerSettings, jobs: SchedulerSettings, logger: Logger) async throws {
        let jobMetrics = JobMetrics()
        let scheduler = try JobScheduler(settings: jobs, observer: { run in jobMetrics.record(run) })
        jobMetrics.seed(lastSuccess: try scheduler.history.lastSuccesses())
        let pools = try AgentPools(redisURL: settings.redisURL, qdrantURL: settings.qdrantURL, qdrantKey: settings.qdrantAPIKey,
                                   max: settings.poolMax, stateDir: settings.poolStateDir)
        let poolHistory = try PoolHistory(path: settings.historyDatabase)
        let history = scheduler.history
        let api = AgentAPI(settings: settings, pools: pools, history: poolHistory, logger: logger, audit: { record in
            do { try history.audit(record) } catch { logger.error("audit record not written: \(error)") }
        }, extraMetrics: { jobMetrics.text(scheduler) })
        api.addAuditEndpoint(history)
        for e in JobRoutes.endpoints(api, scheduler) { api.add(e) }
        let limits = api.limits
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [ConnectionGuard(limits: limits, logger: logger)],
            idleTimeout: nil))
        var server = http1
        if let cert = settings.tlsCertificate, let key = settings.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(http1, tlsConfiguration: tls)
        }
        let responder = CallbackResponder<AgentContext> { request, context in await api.respond(to: request, context: context) }
        let app = Application(
            responder: responder, server: server,
            configuration: .init(address: .hostname(settings.listenHost, port: settings.listenPort), serverName: "opsh-agent", backlog: 1024),
            onServerRunning: { channel in
                logger.info("listening on \(settings.tlsCertificate == nil ? "http" : "https")://\(channel.localAddress?.description ?? "?") (pid \(getpid()))")
            },
            logger: logger)
        let housekeeping = Housekeeping(api: api, pools: pools, history: poolHistory, logger: logger)
        let reloader = Reloader(api: api, scheduler: scheduler, args: args, logger: logger)
        let group = ServiceGroup(configuration: .init(
            // shut down last to first: draining is marked (and the scheduler starts nothing new)
            // before the server stops and waits; the running jobs are waited for last
            services: [SchedulerService(scheduler: scheduler, api: api, logger: logger),
                       housekeeping, CPUSampling(api: api, logger: logger), reloader, app, DrainOnShutdown(api: api, scheduler: scheduler, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        let errors = pools.savePredictors()
        for e in errors { logger.warning("predictor not saved: \(e)") }
        pools.close()
        logger.info("stopped")
    }
}

/// Marks the API as draining as soon as SIGTERM arrives, before the server stops accepting:
/// /health says "draining", and new work (run-now, retraining, breaker tests) is refused.
struct DrainOnShutdown: Service {
    let api: AgentAPI
    let scheduler: JobScheduler
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        api.draining.store(true, ordering: .relaxed)
        scheduler.refuseNewRuns()
        logger.info("shutting down: no new work is taken")
    }
}

/// Runs the scheduler (the Agent core) from start to SIGTERM; then waits for the running jobs
/// up to the grace period (settings at that moment: a reload may have changed it), kills what
/// still runs (recorded abandoned) and returns when every run is recorded.
struct SchedulerService: Service {
    let scheduler: JobScheduler
    let api: AgentAPI
    let logger: Logger
    func run() async throws {
        try await AgentPools.blocking { try scheduler.start() }
        logger.info("scheduler started: \(scheduler.settings.jobs.filter(\.enabled).count) jobs (history \(scheduler.history.path))")
        try? await gracefulShutdown()
        let grace = api.currentSettings.gracePeriod
        let running = scheduler.running().keys.sorted()
        if !running.isEmpty { logger.info("waiting up to \(Int(grace))s for running jobs: \(running.joined(separator: ", "))") }
        try await AgentPools.blocking { scheduler.stop(grace: grace) }
        logger.info("scheduler stopped")
    }
}

/// Once a minute (and at the first moment): each pool takes its load sample (the predictor
/// learns even when the API is idle) and the pools' snapshot goes to the history database.
struct Housekeeping: Service {
    let api: AgentAPI
    let pools: AgentPools
    let history: PoolHistory
    let logger: Logger
    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let t = PoolClock.unixSeconds()
                for v in pools.views { _ = v.sample(t: t) }
                do { try history.record(pools.views, at: t) } catch { logger.warning("pool snapshot not written: \(error)") }
                try? await Task.sleep(nanoseconds: 60_000_000_000)
            }
        }
    }
}

/// SIGHUP: reads the configuration again; a bad one is refused (logged, the old one kept).
struct Reloader: Service {
    let api: AgentAPI
    let scheduler: JobScheduler
    let args: ServerMain.Arguments
    let logger: Logger
    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                reload()
            }
        }
    }

    func reload() {
        let old = api.currentSettings
        let new: ServerSettings
        let jobs: SchedulerSettings
        do { (new, jobs) = try ServerMain.load(args) } catch {
            logger.error("SIGHUP: configuration refused, the previous one stays: \(error)")
            return
        }
        var restart: [String] = []
        if new.listenHost != old.listenHost || new.listenPort != old.listenPort { restart.append("agent_listen") }
        if new.tlsCertificate != old.tlsCertificate || new.tlsKey != old.tlsKey { restart.append("TLS") }
        if new.redisURL != old.redisURL { restart.append("redis_url") }
        if new.qdrantURL != old.qdrantURL { restart.append("qdrant_url") }
        if new.historyDatabase != old.historyDatabase { restart.append("agent_history_db") }
        do { try scheduler.reload(jobs) } catch {
            logger.error("SIGHUP: configuration refused, the previous one stays: \(error)")
            return
        }
        api.apply(new)
        logger.info("SIGHUP: configuration reloaded\(restart.isEmpty ? "" : "; needs a restart to change: " + restart.joined(separator: ", "))")
    }
}
