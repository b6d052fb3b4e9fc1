import CDyn
import Glibc
import LuaRuntime

/// Line editing for the REPL on a terminal: libedit (opened on first use),
/// persistent history in ~/.opsh_history, tab completion of globals and
/// module fields (`json.de<TAB>`).
final class EditLineReader: LineReader {
    let api: UnsafePointer<opsh_edit_api>
    let historyPath: String

    /// nil when libedit cannot be opened (the REPL then reads plain lines).
    static func make(_ session: Session) -> LineReader? {
        guard let api = opsh_edit() else { return nil }
        return EditLineReader(api: api, vm: session.vm)
    }

    private init(api: UnsafePointer<opsh_edit_api>, vm: LuaVM) {
        self.api = api
        historyPath = Catalog.homeDirectory + "/.opsh_history"
        Completion.vm = vm
        opsh_edit_set_readline_name(Completion.name)
        opsh_edit_set_word_break_characters(Completion.breaks)
        opsh_edit_set_attempted_completion(Completion.attempt)
        api.pointee.stifle_history(1000)
        _ = api.pointee.read_history(historyPath)
    }

    func read(prompt: String) -> String? {
        ScriptStop.installInterruptHandler(exitOnSecond: false) // Ctrl-C at the prompt abandons the line, not the REPL
        let p = api.pointee.readline(prompt)
        ScriptStop.restoreInterruptHandler()
        guard let p else {
            if ScriptStop.reason == .interrupt {
                ScriptStop.clear()
                writeStdout("\n")
                return ""
            }
            return nil
        }
        defer { free(p) }
        return String(cString: p)
    }

    func remember(_ chunk: String) {
        _ = api.pointee.add_history(chunk)
    }

    func close() {
        _ = api.pointee.write_history(historyPath)
        Completion.vm = nil
    }
}

/// Completion callbacks (C function pointers: their state lives here, used only
/// on the REPL's thread while readline runs).
enum Completion {
    nonisolated(unsafe) static var vm: LuaVM?
    nonisolated(unsafe) static var candidates: [String] = []
    nonisolated(unsafe) static var next = 0
    nonisolated(unsafe) static let name = strdup("opsh")
    nonisolated(unsafe) static let breaks = strdup(" \t\n\"\\'`@$><=;|&{(+-*/%^~#,[")

    static let attempt: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, _, _ in
        guard let text, let api = opsh_edit() else { return nil }
        candidates = complete(String(cString: text))
        next = 0
        opsh_edit_set_completion_append_character(0)
        return api.pointee.rl_completion_matches(text, generator)
    }

    static let generator: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = { _, state in
        if state == 0 { next = 0 }
        guard next < candidates.count else { return nil }
        defer { next += 1 }
        return strdup(candidates[next])
    }

    /// "json.de" -> ["json.decode"]; "pri" -> ["print"]; "r:cl" -> methods of r.
    static func complete(_ text: String) -> [String] {
        guard let vm else { return [] }
        let lua = vm.main
        let base = lua.top
        defer { lua.top = base }
        var parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var method = false
        if parts.count == 1, let colon = text.lastIndex(of: ":") {
            parts = [String(text[..<colon]), String(text[text.index(after: colon)...])]
            method = true
        }
        let prefix = parts.removeLast()
        lua.pushGlobals()
        for p in parts {
            guard lua.type(at: -1) == .table else { return [] }
            _ = lua.rawGet(-1, field: p)
            if method, lua.type(at: -1) == .userdata || lua.type(at: -1) == .table {
                // methods of an object: its metatable's __index table
                if lua.pushMetatable(of: -1) { _ = lua.rawGet(-1, field: "__index") }
            }
        }
        guard lua.type(at: -1) == .table else { return [] }
        let head = method ? parts.joined(separator: ".") + ":" : parts.map { $0 + "." }.joined()
        var out: [String] = []
        lua.withCollectorStopped {
            lua.pushNil()
            while lua.next(-2) {
                if lua.type(at: -2) == .string, let k = lua.toString(-2), k.hasPrefix(prefix), !k.hasPrefix("__") {
                    out.append(head + k + (lua.type(at: -1) == .function ? "(" : lua.type(at: -1) == .table ? "." : ""))
                }
                lua.pop()
            }
        }
        return out.sorted()
    }
}
