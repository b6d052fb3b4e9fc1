import Glibc

/// What opsh asks of the terminal: whether a descriptor is one, whether colour is wanted, and
/// stderr writes that keep their order with buffered stdout.
public enum Terminal {
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) != 0 }

    /// Whether stderr is a terminal: progress lines are shown only then (never in pipes or --json output).
    public static var stderrIsTerminal: Bool { isTerminal(2) }

    /// Colour on `fd`: a terminal, and NO_COLOR not set (no-color.org).
    public static func wantsColor(_ fd: Int32) -> Bool { isTerminal(fd) && getenv("NO_COLOR") == nil }

    /// Writes to fd 2 after flushing stdio, so log lines and report output keep their order.
    public static func writeStderr(_ s: String) {
        fflush(nil)
        var s = s
        s.withUTF8 { b in
            var off = 0
            while off < b.count {
                let n = write(2, b.baseAddress! + off, b.count - off)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                off += n
            }
        }
    }
}

/// A progress line on stderr, redrawn in place at most once per `interval` seconds and erased
/// by `clear()`. Create one only when `Terminal.stderrIsTerminal`.
public final class ProgressLine: @unchecked Sendable {
    let interval: Double
    var last = -Double.infinity
    var shown = false

    public init(interval: Double) { self.interval = interval }

    /// Shows `text` unless the line was redrawn less than `interval` ago (`force`: always).
    public func show(_ text: String, force: Bool = false) {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        let now = Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        guard force || now - last >= interval else { return }
        last = now
        shown = true
        Terminal.writeStderr("\r\u{1B}[K" + text)
    }

    /// Erases the line (when anything was shown).
    public func clear() {
        if shown { Terminal.writeStderr("\r\u{1B}[K") }
        shown = false
    }
}
