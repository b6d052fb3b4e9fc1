import Foundation
import OpshTestSupport
import XCTest

/// `opsh repl`: driven through a pipe and through a pseudo-terminal.
final class ReplTests: XCTestCase {
    func testPipedStatements() {
        let input = """
            1 + 2
            =math.pi
            function f(x)
              return x * 2
            end
            f(21)
            local t = { a = 1, list = { 1, 2 }, nested = { deep = { "x" } } }
            t
            t.self = t
            t
            error("boom")
            print("still here")
            json.encode({ 1, 2 })
            local task = opsh.spawn(function() opsh.sleep(0.01); return "task done" end)
            task:wait()
            time.duration("1h")
            """
        let r = Harness.run(["repl"], stdin: input)
        let out = r.stdout
        XCTAssertTrue(out.contains("3\n"), out)
        XCTAssertTrue(out.contains("3.141592653589793\n"), out)
        XCTAssertTrue(out.contains("42\n"), out)
        XCTAssertTrue(out.contains("""
            {
              a = 1,
              list = {
                1,
                2,
              },
            """), out)
        XCTAssertTrue(out.contains("self = <cycle>"), out)
        XCTAssertTrue(r.stderr.contains("stdin:1: boom"), r.stderr)
        XCTAssertTrue(out.contains("still here"), out)
        XCTAssertTrue(out.contains("[1,2]"), out)
        XCTAssertTrue(out.contains("task done"), out)
        XCTAssertTrue(out.contains("3600"), out)
        XCTAssertEqual(r.status, 1, "a piped session with an error exits 1")
        XCTAssertEqual(Harness.run(["repl"], stdin: "x = 1\n").status, 0)
    }

    /// os.exit in the REPL closes the state as everywhere else: a task's <close> variables and
    /// finalizers run, and the code is the one given.
    func testExitClosesTheState() {
        let r = Harness.run(["repl"], stdin: """
            t = opsh.spawn(function() local c <close> = setmetatable({}, { __close = function() print("task closed") end }); opsh.sleep(100) end)
            opsh.sleep(0.01)
            x = setmetatable({}, { __gc = function() print("finalizer ran") end })
            os.exit(4)
            print("not reached")
            """)
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stdout.contains("task closed\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("finalizer ran\n"), r.stdout)
        XCTAssertFalse(r.stdout.contains("not reached"), r.stdout)
    }

    /// Every module `opsh help` documents is a global, as the banner and the usage say.
    func testEveryModuleIsAGlobal() {
        let modules = Harness.run(["help"]).stdout.split(separator: "\n").first { $0.hasPrefix("modules") }
            .map { $0.drop { $0 != ":" }.dropFirst().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        XCTAssertGreaterThan(modules.count, 20)
        let checks = modules.map { m -> String in
            let global = m == "opsh" ? m : String(m.dropFirst(5)).replacingOccurrences(of: ".", with: "_")
            return "assert(\(global) == require('\(m)'), '\(m)')"
        }
        let r = Harness.run(["repl"], stdin: checks.joined(separator: "\n") + "\nprint('all globals')\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("all globals"), r.stdout)
    }

    func testIncompleteInputAtEndOfFile() {
        let r = Harness.run(["repl"], stdin: "x =")
        XCTAssertTrue(r.stderr.contains("unexpected symbol near <eof>"), r.stderr)
    }

    /// The terminal path: libedit, prompts, continuation lines, history, and Ctrl-C
    /// stopping the running statement but not the REPL.
    func testTerminalSession() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/tmux") else { throw XCTSkip("tmux is not installed (scripts/setup installs it)") }
        let session = "opsh-repl-\(getpid())"
        let home = Harness.tempDir("home")
        // tmux through the shell: its server outlives the client and must hold none of our pipes
        let env = "HOME=\(home.path)"
        func tmux(_ args: String) -> String {
            guard let f = popen("\(env) /usr/bin/tmux \(args) 2>/dev/null", "r") else { return "" }
            var out = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = fread(&buf, 1, buf.count, f)
                if n <= 0 { break }
                out += buf[0..<n]
            }
            pclose(f)
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertEqual(system("\(env) /usr/bin/tmux new-session -d -s \(session) -x 120 -y 40 '\(env) \(Harness.binary.path) repl' </dev/null >/dev/null 2>&1"), 0)
        defer { _ = system("/usr/bin/tmux kill-session -t \(session) >/dev/null 2>&1") }
        // -J joins the lines the terminal wrapped: the banner lists every module and grows with them
        func screen() -> String { tmux("capture-pane -p -J -t \(session)") }
        func waitFor(_ text: String, _ what: String) {
            for _ in 0..<100 {
                if screen().contains(text) { return }
                usleep(50_000)
            }
            XCTFail("\(what): '\(text)' never appeared:\n\(screen())\nsessions: \(tmux("ls"))")
        }
        waitFor("Ctrl-D exits.\n>", "banner and prompt")  // capture-pane trims trailing blanks
        _ = tmux("send-keys -t \(session) 'function g(x)' Enter")
        waitFor("\n>>", "continuation prompt")
        _ = tmux("send-keys -t \(session) 'return x + 1 end' Enter")
        _ = tmux("send-keys -t \(session) 'g(41)' Enter")
        waitFor("42", "result")
        _ = tmux("send-keys -t \(session) 'while true do end' Enter")
        usleep(300_000)
        _ = tmux("send-keys -t \(session) C-c")
        waitFor("interrupted", "Ctrl-C stops the statement")
        _ = tmux("send-keys -t \(session) \"'still alive'\" Enter")
        waitFor("still alive", "the REPL survives Ctrl-C")
        // tab completion of module fields
        _ = tmux("send-keys -t \(session) 'json.enc' Tab")
        waitFor("json.encode(", "completion of json.enc")
        _ = tmux("send-keys -t \(session) \"{1})\" Enter")
        waitFor("[1]", "the completed call ran")
        // Ctrl-C at the prompt abandons the line, not the REPL
        _ = tmux("send-keys -t \(session) 'abandoned' C-c")
        _ = tmux("send-keys -t \(session) '=6*7+1000' Enter")
        waitFor("\n1042", "the REPL survives Ctrl-C at the prompt")
        _ = tmux("send-keys -t \(session) C-d")
        for _ in 0..<100 where FileManager.default.fileExists(atPath: home.appendingPathComponent(".opsh_history").path) == false { usleep(50_000) }
        let history = try String(contentsOf: home.appendingPathComponent(".opsh_history"), encoding: .utf8)
        XCTAssertTrue(history.contains("g(41)"), history)
    }
}
