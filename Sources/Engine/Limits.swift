import CLuaShim
import Glibc

/// --timeout and Ctrl-C for one run (DESIGN.md §2): the stop hook is armed
/// lazily when a limit fires, and the watchdog ends the process if the script
/// does not stop within the grace period.
final class Limits {
    static let graceMilliseconds = 2000
    let timeout: Double

    init(_ options: Options) {
        timeout = options.timeout
        lk_clear_stop()
        lk_install_sigint(1)
        if timeout > 0 { _ = lk_watchdog_start(Int(timeout * 1000), Limits.graceMilliseconds) }
    }

    func end() {
        lk_watchdog_stop()
        lk_restore_sigint()
    }

    func stopMessage(_ reason: Int32) -> String {
        switch reason {
        case LK_STOP_TIMEOUT: return "timed out after \(Limits.describe(timeout)) (--timeout)"
        case LK_STOP_INTERRUPT: return "interrupted"
        default: return "stopped"
        }
    }

    static func describe(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : "\(s)s"
    }
}
