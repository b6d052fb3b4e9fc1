import Glibc
import LuaRuntime
import Modules

/// `opsh repl`: lua.c's REPL rules (expressions printed, `=expr`, multi-line
/// input continued while the chunk is incomplete) with every module loaded
/// as a global, pretty-printed results, tasks, and Ctrl-C that stops the
/// running statement but not the REPL. Without a terminal it reads statements
/// from stdin, so a pipe can drive it.
enum Repl {
    static func run(_ options: Options) -> Int32 {
        guard let session = CLI.session(options) else { return 3 }
        defer { session.vm.close() }
        let interactive = isTTY(0)
        let reader: LineReader = interactive ? (EditLineReader.make(session) ?? PlainReader(prompts: true)) : PlainReader(prompts: false)
        if interactive {
            print("opsh \(CoreModule.version) on \(LuaVM.luaRelease); every module is a global: \(globalNames.map(\.0).joined(separator: ", ")). Ctrl-D exits.")
        }
        do {
            try preloadGlobals(session.vm)
        } catch {
            writeStderr("opsh: \(error.message)\n")
            return 3
        }
        var failures = 0
        while let chunk = readChunk(session.vm, reader) {
            if chunk.isEmpty { continue }
            reader.remember(chunk.source)
            switch evaluate(session, chunk) {
            case .ok: continue
            case .failed: failures += 1
            case .exit(let code):
                // os.exit: return through the deferred close, so <close> variables and finalizers run
                reader.close()
                return code
            }
        }
        reader.close()
        if interactive { print("") }
        return interactive || failures == 0 ? 0 : 1
    }

    /// The globals the REPL defines: every module (each one `opsh help` documents) under its
    /// name without "opsh." (opsh.qdrant.spec is qdrant_spec).
    static let globalNames: [(String, String)] = Catalog.documentedModules.map { module in
        let short = module == "opsh" ? module : String(module.dropFirst("opsh.".count))
        return (String(short.map { $0 == "." ? "_" : $0 }), module)
    }

    static func preloadGlobals(_ vm: LuaVM) throws(LuaError) {
        for (global, module) in globalNames {
            try vm.require(module)
            vm.setGlobal(global)
        }
    }

    struct Chunk {
        var source: String
        var isEmpty: Bool { source.allSatisfy { $0 == " " || $0 == "\t" } }
    }

    /// Reads one complete chunk: more lines are read while the statement is incomplete.
    /// The compiled function is left on the stack when the result is non-empty.
    static func readChunk(_ vm: LuaVM, _ reader: LineReader) -> Chunk? {
        guard var line = reader.read(prompt: "> ") else { return nil }
        if line.hasPrefix("=") { line = "return " + line.dropFirst() }
        var source = line
        while true {
            if Chunk(source: source).isEmpty { return Chunk(source: "") }
            // an expression?
            if (try? vm.load("return " + rewriteLocals(source) + ";", chunkName: "=stdin")) != nil {
                return Chunk(source: source)
            }
            do {
                try vm.load(rewriteLocals(source), chunkName: "=stdin")
                return Chunk(source: source)
            } catch {
                if error.kind == .syntax && error.message.hasSuffix("<eof>") {
                    guard let more = reader.read(prompt: ">> ") else {
                        writeStderr(error.message + "\n")
                        return nil
                    }
                    source += "\n" + more
                    continue
                }
                writeStderr(error.message + "\n")
                return Chunk(source: "")
            }
        }
    }

    /// Top-level `local x = ...` would vanish after its line (each line is a chunk);
    /// the REPL makes such names global instead.
    static func rewriteLocals(_ s: String) -> String {
        var lines: [Substring] = []
        for l in s.split(separator: "\n", omittingEmptySubsequences: false) {
            if l.hasPrefix("local function ") { lines.append(l.dropFirst(6)) }
            else if l.hasPrefix("local ") && !l.contains("<close>") && !l.contains("<const>") { lines.append(l.dropFirst(6)) }
            else { lines.append(l) }
        }
        return lines.joined(separator: "\n")
    }

    enum Outcome: Equatable { case ok, failed, exit(Int32) }

    /// Runs the function on top; prints its results.
    static func evaluate(_ session: Session, _ chunk: Chunk) -> Outcome {
        let vm = session.vm
        let lua = vm.main
        let base = lua.top - 1
        ScriptStop.clear()
        ScriptStop.installInterruptHandler(exitOnSecond: true)
        defer { ScriptStop.restoreInterruptHandler(); lua.top = base; CLI.printWouldActions(vm) }
        do throws(LuaError) {
            try vm.pcall(nargs: 0)
            if ScriptStop.requested { throw LuaError(kind: .stop, message: "stopped") }
            let n = lua.top - base
            if n > 0 {
                try vm.require("opsh.pretty")
                _ = lua.rawGet(-1, field: "print")
                lua.remove(-2)
                lua.insert(base + 1)
                try vm.pcall(nargs: n, nresults: 0)
            }
            fflush(nil)
            if let lost = HostModule.lostTaskErrors(vm) {
                writeStderr(lost.message + "\n")
                return .failed
            }
            return .ok
        } catch {
            let reason = ScriptStop.reason
            ScriptStop.clear()
            if reason == .exit { return .exit(ScriptStop.exitCode) }
            if reason == .interrupt || error.kind == .stop {
                writeStderr("interrupted\n")
            } else if vm.memoryLimitHit {
                writeStderr(HostModule.memoryLimitMessage(vm) + "\n")
            } else if error.kind == .memory {
                writeStderr("not enough memory\n")
            } else {
                writeStderr(error.message + "\n")
            }
            return .failed
        }
    }
}

/// Where the REPL's lines come from.
protocol LineReader: AnyObject {
    func read(prompt: String) -> String?
    func remember(_ chunk: String)
    func close()
}

/// stdin without line editing (pipes, or a terminal when libedit is missing).
final class PlainReader: LineReader {
    let prompts: Bool
    init(prompts: Bool) { self.prompts = prompts }
    func read(prompt: String) -> String? {
        if prompts { writeStdout(prompt) }
        var line: [UInt8] = []
        while true {
            let c = getchar()
            if c == EOF { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if c == 10 { break }
            line.append(UInt8(truncatingIfNeeded: c))
        }
        if line.last == 13 { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }
    func remember(_ chunk: String) {}
    func close() {}
}
