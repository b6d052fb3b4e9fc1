/// opsh's own flags; they come before the command or script name.
public struct Options {
    public var json = false
    public var prom = false
    public var dryRun = false
    public var verbose = false
    public var yes = false
    /// --target GROUP: run the procedure once per member of targets[GROUP] in the configuration.
    public var target: String?
    public var force = false               // outside the procedure's maintenance window
    public var color: Bool? = nil
    public var timeout: Double = 0         // seconds; 0: none
    public var memoryLimit = 0             // bytes; 0: none
    public var configFile: String?
    public var envFile: String?
    public var paths: [String] = []
    public var settings: [(String, String)] = []
    public var chunks: [String] = []       // -e
    public var interactive = false         // -i

    static let usage = """
        usage: opsh [FLAGS] run NAME|PATH [SCRIPT ARGS]   run a procedure
               opsh [FLAGS] FILE.lua [ARGS]               run a Lua file (as lua5.4 does)
               opsh [FLAGS] -e CHUNK [-e CHUNK ...]       run Lua text
               opsh [FLAGS] repl                          interactive Lua, every module a global
               opsh list [CATEGORY] [--json]              procedures, their categories and descriptions
               opsh list --guide [--json|--markdown]      each item of the operations guide and its procedure
               opsh help [NAME|MODULE]                    a procedure's arguments or a module's API
               opsh eject NAME [--to DIR] [--force]       copy a built-in out for editing
               opsh config [--json]                       the effective configuration, redacted
               opsh agent jobs|history|run-now|windows    the agent's jobs and runs (opsh agent help)
               opsh agent [AGENT FLAGS]                   start the agent server (opsh-agent)
               opsh version

        flags:
          --json                 report as JSON (schema opsh.report/v1)
          --target GROUP         run the procedure once per member of targets.GROUP in config.lua
                                 (its redis, qdrant or docker list, by the procedure's area), concurrently
          --prom                 report as Prometheus text (node_exporter textfile collector)
          --dry-run              refuse changes in the native layer; report what would happen
          --timeout DURATION     stop the script after DURATION (30s, 5m, ...); exit code 3
          --max-memory SIZE      limit the Lua heap (64M, 1G, ...); exit code 3 when exceeded
          --yes, -y              run destructive procedures without asking
          --force                run a procedure outside its maintenance window
          --verbose, -v          tracebacks on errors, debug logging
          --config FILE          configuration file (default ~/.config/opsh/config.lua)
          --env-file FILE        .env file (default ./.env)
          --set KEY=VALUE        override one configuration value
          --path DIR             look for procedures and modules in DIR first (repeatable)
          --no-color, --color    colour in the text report (default: on a terminal)

        exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also script errors, timeouts,
        interrupts and usage errors). Procedures: opsh list. Modules: opsh help opsh.
        """

    /// Parses flags from `args` starting at `i`; stops at the first word that is not one.
    mutating func parse(_ args: [String], from i: inout Int) throws(UsageError) {
        while i < args.count {
            let a = args[i]
            var name = a, inline: String?
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq]); inline = String(a[a.index(after: eq)...])
            }
            func value() throws(UsageError) -> String {
                if let v = inline { return v }
                i += 1
                guard i < args.count else { throw UsageError("\(name) needs a value") }
                return args[i]
            }
            switch name {
            case "--json": json = true
            case "--prom": prom = true
            case "--dry-run": dryRun = true
            case "--verbose", "-v": verbose = true
            case "--yes", "-y": yes = true
            case "--target": target = try value()
            case "--force": force = true
            case "--color": color = true
            case "--no-color": color = false
            case "--timeout":
                let v = try value()
                guard let s = Options.parseDuration(v), s > 0 else { throw UsageError("--timeout: invalid duration '\(v)'") }
                timeout = s
            case "--max-memory":
                let v = try value()
                guard let b = Options.parseSize(v), b > 0 else { throw UsageError("--max-memory: invalid size '\(v)' (use e.g. 64M or 1G)") }
                memoryLimit = b
            case "--config": configFile = try value()
            case "--env-file": envFile = try value()
            case "--path": paths.append(try value())
            case "--set":
                let v = try value()
                guard let eq = v.firstIndex(of: "="), eq != v.startIndex else { throw UsageError("--set needs KEY=VALUE, got '\(v)'") }
                settings.append((String(v[..<eq]), String(v[v.index(after: eq)...])))
            case "-e": chunks.append(try value())
            case "-i": interactive = true
            case "--version", "--help", "-h": return   // handled as commands
            default:
                if a.hasPrefix("-") && a != "-" && a != "--" && !a.hasPrefix("-e") {
                    throw UsageError("unknown flag \(a)")
                }
                if a.hasPrefix("-e") && a.count > 2 { chunks.append(String(a.dropFirst(2))) } else { return }
            }
            i += 1
        }
    }

    static func parseDuration(_ s: String) -> Double? {
        if let d = Double(s) { return d }
        var total = 0.0, num = "", unit = ""
        func flush() -> Bool {
            guard let n = Double(num) else { return false }
            switch unit {
            case "ms": total += n / 1000
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86400
            default: return false
            }
            num = ""; unit = ""
            return true
        }
        for c in s {
            if c.isNumber || c == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                num.append(c)
            } else { unit.append(c) }
        }
        guard flush() else { return nil }
        return total
    }

    static func parseSize(_ s: String) -> Int? {
        var digits = s
        var mult = 1
        if let last = s.last, !last.isNumber {
            digits = String(s.dropLast())
            switch last.uppercased() {
            case "K": mult = 1 << 10
            case "M": mult = 1 << 20
            case "G": mult = 1 << 30
            default: return nil
            }
        }
        guard let n = Int(digits) else { return nil }
        return n * mult
    }
}

public struct UsageError: Error {
    public let message: String
    init(_ m: String) { message = m }
}
