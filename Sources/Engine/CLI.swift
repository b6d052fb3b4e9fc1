import Glibc
import LuaRuntime
import Modules

/// The opsh command: parses the command line and runs what it names.
public enum CLI {
    public static func main(_ args: [String]) -> Int32 {
        var options = Options()
        var i = 1
        do {
            try options.parse(args, from: &i)
        } catch {
            return usageError(error.message)
        }
        if !options.chunks.isEmpty {
            return runChunks(options, file: i < args.count ? args[i] : nil, args: Array(args.dropFirst(min(i + 1, args.count))))
        }
        guard i < args.count else {
            return Repl.run(options)
        }
        let command = args[i]
        i += 1
        switch command {
        case "run":
            do { try options.parse(args, from: &i) } catch { return usageError(error.message) }
            guard i < args.count else { return usageError("run needs a procedure name or a path (opsh list shows them)") }
            return runProcedure(args[i], arguments: Array(args[(i + 1)...]), options)
        case "repl":
            do { try options.parse(args, from: &i) } catch { return usageError(error.message) }
            return Repl.run(options)
        case "list":
            return Commands.list(Array(args[i...]), options)
        case "help", "--help", "-h":
            return Commands.help(i < args.count ? args[i] : nil, options)
        case "eject":
            return Commands.eject(Array(args[i...]), options)
        case "config":
            return Commands.config(Array(args[i...]), options)
        case "agent":
            return AgentCommands.main(Array(args[i...]), options)
        case "version", "--version":
            print("opsh \(CoreModule.version) (\(LuaVM.luaRelease))")
            return 0
        default:
            if command.hasSuffix(".lua") || command == "-" || fileExists(command) {
                return runFile(command, arguments: Array(args[i...]), options)
            }
            let hint = Catalog(extraPaths: options.paths).procedure(command) != nil ? " (did you mean: opsh run \(command)?)" : ""
            return usageError("unknown command '\(command)'\(hint)")
        }
    }

    static func usageError(_ message: String) -> Int32 {
        writeStderr("opsh: \(message)\n\(Options.usage.split(separator: "\n").prefix(9).joined(separator: "\n"))\n")
        return 3
    }

    /// Sets up a session, printing the problem if it cannot be set up.
    static func session(_ options: Options) -> Session? {
        do {
            return try Session(options: options)
        } catch let e as LuaError {
            writeStderr("opsh: \(e.message)\n")
        } catch {
            writeStderr("opsh: \(error)\n")
        }
        return nil
    }

    // MARK: opsh run

    static func runProcedure(_ name: String, arguments: [String], _ options: Options) -> Int32 {
        let limits = Limits(options)
        defer { limits.end() }   // after the state is closed: finalizers run under the watchdog too
        guard let session = session(options) else { return 3 }
        defer { printWouldActions(session.vm); session.vm.close() }
        guard let entry = session.catalog.procedure(name) else {
            writeStderr("opsh: \(notFound(name, session.catalog))\n")
            return 3
        }
        let lua = session.vm.main
        do {
            try session.vm.require("opsh.engine")
            _ = lua.rawGet(-1, field: "run")
            pushJob(lua, name: entry.name, ref: name, argv: arguments, options: options)
            try session.load(entry)
            lua.rawSet(-2, field: "chunk")
            try session.vm.pcall(nargs: 1, nresults: 1)
            return Int32(truncatingIfNeeded: lua.toInteger(-1) ?? 3)
        } catch {
            return finishAfterError(error, session, limits)
        }
    }

    /// Why `opsh run NAME|PATH` found nothing: a path that does not exist, or a name, with the
    /// procedures it may have meant.
    static func notFound(_ name: String, _ catalog: Catalog) -> String {
        if name.hasSuffix(".lua") {
            return "\(name): no such file"
        }
        let close = catalog.suggestions(for: name)
        let hint = close.isEmpty ? "" : "; did you mean \(close.map { "'\($0)'" }.joined(separator: " or "))?"
        return "no procedure named '\(name)'\(hint) (opsh list shows them)"
    }

    /// The job table engine.run takes: name, ref (how a command line names it), argv, flags.
    static func pushJob(_ lua: Lua, name: String, ref: String, argv: [String], options: Options) {
        lua.newTable(hashCount: 5)
        lua.push(name); lua.rawSet(-2, field: "name")
        lua.push(ref); lua.rawSet(-2, field: "ref")
        lua.newTable(arrayCount: Int32(argv.count))
        for (k, a) in argv.enumerated() { lua.push(a); lua.rawSet(-2, index: Int64(k + 1)) }
        lua.rawSet(-2, field: "argv")
        let tty = isTTY(0) && isTTY(2)
        let color = options.color ?? (isTTY(1) && getenv("NO_COLOR") == nil)
        // field by field: a LuaValue map would instantiate a Dictionary at every start
        lua.newTable(hashCount: 8)
        for (flag, on) in [("json", options.json), ("prom", options.prom), ("dry_run", options.dryRun), ("verbose", options.verbose),
                           ("yes", options.yes), ("force", options.force), ("tty", tty), ("color", color)] {
            lua.push(on); lua.rawSet(-2, field: flag)
        }
        if let t = options.target { lua.push(t); lua.rawSet(-2, field: "target") }
        lua.rawSet(-2, field: "flags")
    }

    /// A Lua error reached the host: a stop (timeout, Ctrl-C, os.exit), the memory limit, or an engine failure.
    static func finishAfterError(_ error: LuaError, _ session: Session, _ limits: Limits, plain: Bool = false) -> Int32 {
        let reason = ScriptStop.reason
        if reason == .exit {
            ScriptStop.clear()
            return ScriptStop.exitCode
        }
        if reason != .none {
            let message = limits.stopMessage(reason)
            ScriptStop.clear()
            writeStderr("opsh: \(message)\n")
            if !plain { printStoppedReport(session, message) }
            return 3
        }
        if session.vm.memoryLimitHit || error.kind == .memory {
            writeStderr("opsh: \(HostModule.memoryLimitMessage(session.vm))\n")
            return 3
        }
        var message = error.message
        // plain Lua prints the traceback as lua5.4 does; procedures only with --verbose
        if !plain && !session.options.verbose, let cut = message.range(of: "\nstack traceback:", options: .backwards) {
            message = String(message[..<cut.lowerBound])
        }
        writeStderr("opsh: \(message)\n")
        return plain ? 1 : 3
    }

    /// After a plain run: a task that failed when nothing waited for it makes the run UNKNOWN (3).
    static func reportLostTaskErrors(_ session: Session) -> Int32 {
        guard let lost = HostModule.lostTaskErrors(session.vm) else { return 0 }
        writeStderr("opsh: \(lost.message)\n")
        if session.options.verbose { writeStderr(lost.traceback + "\n") }
        return 3
    }

    static func printStoppedReport(_ session: Session, _ message: String) {
        let lua = session.vm.main
        do {
            try session.vm.require("opsh.engine")
            _ = lua.rawGet(-1, field: "finish_stopped")
            lua.push(message)
            try session.vm.pcall(nargs: 1, nresults: 0)
        } catch {}
    }

    // MARK: opsh FILE.lua, opsh -e

    /// Runs a Lua file as lua5.4 does (global `arg`, arguments as `...`). A file that
    /// returns a procedure table is run as a procedure.
    static func runFile(_ path: String, arguments: [String], _ options: Options) -> Int32 {
        let limits = Limits(options)
        defer { limits.end() }
        guard let session = session(options) else { return 3 }
        defer { printWouldActions(session.vm); session.vm.close() }
        let vm = session.vm
        let lua = vm.main
        setArgTable(lua, script: path, arguments: arguments)
        do {
            let source: [UInt8]
            if path == "-" {
                source = readAllStdin()
            } else {
                do { source = try readFile(path) } catch {
                    writeStderr("opsh: cannot open \(path)\n")
                    return 1
                }
            }
            var text = source[...]
            if text.first == 0x23 { // skip a #! line, keeping the line count
                while let c = text.first, c != 0x0A { text = text.dropFirst() }
            }
            try vm.load(Array(text), chunkName: path == "-" ? "=stdin" : "@" + path)
            for a in arguments { lua.push(a) }
            let base = lua.top - Int32(arguments.count) - 1
            try vm.pcall(nargs: Int32(arguments.count), nresults: 1)
            if lua.type(at: -1) == .table, isProcedure(lua, -1) {
                try vm.require("opsh.engine")
                _ = lua.rawGet(-1, field: "run")
                pushJob(lua, name: Catalog.procedureName(forPath: path), ref: path, argv: arguments, options: options)
                lua.pushValue(at: base + 1)
                lua.rawSet(-2, field: "meta")
                try vm.pcall(nargs: 1, nresults: 1)
                return Int32(truncatingIfNeeded: lua.toInteger(-1) ?? 3)
            }
            vm.scheduler.drain()
            if ScriptStop.requested { throw LuaError(kind: .stop, message: "stopped") }
            return reportLostTaskErrors(session)
        } catch let error as LuaError {
            return finishAfterError(error, session, limits, plain: true)
        } catch {
            writeStderr("opsh: \(error)\n")
            return 1
        }
    }

    static func isProcedure(_ lua: Lua, _ i: Int32) -> Bool {
        let t = lua.absIndex(i)
        defer { lua.pop(2) }
        return lua.rawGet(t, field: "run") == .function && lua.rawGet(t, field: "description") == .string
    }

    static func setArgTable(_ lua: Lua, script: String, arguments: [String]) {
        lua.newTable(arrayCount: Int32(arguments.count), hashCount: 2)
        lua.push(CommandLine.arguments.first ?? "opsh"); lua.rawSet(-2, index: -1)
        lua.push(script); lua.rawSet(-2, index: 0)
        for (k, a) in arguments.enumerated() { lua.push(a); lua.rawSet(-2, index: Int64(k + 1)) }
        lua.vm.setGlobal("arg")
    }

    static func runChunks(_ options: Options, file: String?, args: [String]) -> Int32 {
        let limits = Limits(options)
        guard let session = session(options) else { limits.end(); return 3 }
        let vm = session.vm
        do {
            for (n, chunk) in options.chunks.enumerated() {
                try vm.load(chunk, chunkName: "=(command line)" + (options.chunks.count > 1 ? " #\(n + 1)" : ""))
                try vm.pcall(nargs: 0, nresults: 0)
            }
            vm.scheduler.drain()
            if ScriptStop.requested { throw LuaError(kind: .stop, message: "stopped") }
            let lost = reportLostTaskErrors(session)
            if lost != 0 {
                session.vm.close()
                limits.end()
                return lost
            }
        } catch let error as LuaError {
            let code = finishAfterError(error, session, limits, plain: true)
            printWouldActions(vm)
            session.vm.close()
            limits.end()
            return code
        } catch {
            printWouldActions(vm)
            session.vm.close()
            limits.end()
            return 1
        }
        printWouldActions(vm)
        session.vm.close()
        limits.end()
        if let file { return runFile(file, arguments: args, options) }
        if options.interactive { return Repl.run(options) }
        return 0
    }

    /// A plain script has no report: what its calls would have done under --dry-run (the
    /// dry-run channel) is printed on stderr when it ends. A procedure's report took its own.
    static func printWouldActions(_ vm: LuaVM) {
        let actions = vm.takeWouldActions()
        if !actions.isEmpty { writeStderr(actions.map { "would: \(Redaction.redact($0))\n" }.joined()) }
    }

    static func readAllStdin() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}

func formatBytes(_ n: Int) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
    if n >= 1 << 20 { return "\(n >> 20) MiB" }
    if n >= 1 << 10 { return "\(n >> 10) KiB" }
    return "\(n) bytes"
}
