import EventLoop

/// Runs a call written for an event loop (`RESPCluster`, `RESPSentinel`) to its end on a loop
/// of its own: their blocking form, for Swift programs and tests (not for code on a loop).
final class RESPBlockingLoop {
    private var loop: EventLoop?

    func wait<T>(_ what: String, _ start: (EventLoop, @escaping (Result<T, RESPError>) -> Void) -> Void) throws(RESPError) -> T {
        if loop == nil {
            do { loop = try EventLoop() } catch { throw RESPError(.io, "cannot make an event loop: \(error)") }
        }
        let l = loop!
        var out: Result<T, RESPError>? = nil
        start(l) { out = $0 }
        while out == nil {
            if l.runOnce(until: nil) == 0 && l.pendingCount == 0 && out == nil {
                throw RESPError(.broken, "the \(what) call stopped without an answer")
            }
        }
        return try out!.get()
    }
}
