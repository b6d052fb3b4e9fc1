import Foundation
import Sys
import XCTest

/// Sys's terminal helpers, from Swift alone: a pipe is no terminal, a pty is one.
final class TerminalTests: XCTestCase {
    func testAPipeIsNoTerminalAndAPtyIs() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        XCTAssertFalse(Terminal.isTerminal(fds[1]))
        XCTAssertFalse(Terminal.wantsColor(fds[1]))
        // the master side of a new pseudo-terminal is a terminal too
        let pty = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        try XCTSkipIf(pty < 0, "no pseudo-terminal available")
        defer { close(pty) }
        XCTAssertTrue(Terminal.isTerminal(pty))
        unsetenv("NO_COLOR")
        XCTAssertTrue(Terminal.wantsColor(pty))
        setenv("NO_COLOR", "1", 1)
        defer { unsetenv("NO_COLOR") }
        XCTAssertFalse(Terminal.wantsColor(pty))
    }

    func testProgressLineRedrawsAtMostOncePerIntervalAndErases() {
        // stderr goes to a pipe for the length of the test
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let saved = dup(2)
        dup2(fds[1], 2)
        let line = ProgressLine(interval: 3600)
        line.show("first")
        line.show("second")              // within the interval: not drawn
        line.show("third", force: true)
        line.clear()
        line.clear()                     // nothing shown since: nothing written
        dup2(saved, 2)
        close(saved)
        close(fds[1])
        var out = [UInt8](repeating: 0, count: 256)
        let n = read(fds[0], &out, out.count)
        close(fds[0])
        XCTAssertEqual(String(decoding: out[0..<max(n, 0)], as: UTF8.self), "\r\u{1B}[Kfirst\r\u{1B}[Kthird\r\u{1B}[K")
    }
}
