import JSON

/// The systemd journal as `journalctl -o json` prints it (one JSON object per line; a field
/// that is not text is an array of bytes or null), read into entries and counted: by priority,
/// by unit, and by the same pattern sets as log files, on the MESSAGE field. Debian 12 has no
/// auth.log by default: sshd's failures are only in the journal.
public enum Journal {
    public struct Entry: Sendable {
        /// Unix time in microseconds (__REALTIME_TIMESTAMP).
        public var time: Int64 = 0
        /// 0 (emerg) ... 7 (debug); -1 when absent.
        public var priority = -1
        /// _SYSTEMD_UNIT, else SYSLOG_IDENTIFIER, else _COMM.
        public var unit = ""
        public var message = ""
    }

    public struct Report: Sendable {
        public var entries = 0
        public var malformed = 0
        public var byPriority = [Int](repeating: 0, count: 8)
        public var units: [(unit: String, count: Int)] = []
        public var sets: [SetResult] = []
        /// The last entries, oldest first.
        public var last: [Entry] = []
        public var problems: [Problem] = []
        public var firstTime: Int64?
        public var lastTime: Int64?
    }

    static let names = (priority: Array("PRIORITY".utf8), unit: Array("_SYSTEMD_UNIT".utf8),
                        ident: Array("SYSLOG_IDENTIFIER".utf8), comm: Array("_COMM".utf8),
                        message: Array("MESSAGE".utf8), time: Array("__REALTIME_TIMESTAMP".utf8))

    /// Reads journalctl's JSON output. `name` names the source in problems and samples.
    public static func read(_ text: UnsafeRawBufferPointer, name: String = "journal", patterns specs: [PatternSpec] = [],
                            keep: Int = 20) throws(PatternError) -> Report {
        let patterns = try specs.map { (s) throws(PatternError) in try CompiledPattern(s) }
        var report = Report()
        report.sets = patterns.map { SetResult(name: $0.name) }
        var units: [String: Int] = [:]
        var lineNo = 0
        var start = 0
        let n = text.count
        while start < n {
            var end = start
            while end < n && text[end] != 0x0A { end += 1 }
            lineNo += 1
            let line = UnsafeRawBufferPointer(rebasing: text[start..<end])
            start = end + 1
            if line.isEmpty { continue }
            guard let e = entry(line) else {
                report.malformed += 1
                if report.problems.count < 10 {
                    report.problems.append(Problem(file: name, line: lineNo, message: "not a journal entry in JSON: skipped"))
                }
                continue
            }
            report.entries += 1
            if e.priority >= 0 && e.priority < 8 { report.byPriority[e.priority] += 1 }
            units[e.unit.isEmpty ? "(none)" : e.unit, default: 0] += 1
            if e.time > 0 {
                report.firstTime = min(report.firstTime ?? e.time, e.time)
                report.lastTime = max(report.lastTime ?? e.time, e.time)
            }
            var m = Array(e.message.utf8)
            m.withUnsafeMutableBufferPointer { b in
                guard let base = b.baseAddress else { return }
                for (k, p) in patterns.enumerated() where p.matches(base, b.count) {
                    report.sets[k].count += 1
                    report.sets[k].samples.append(Sample(file: name, line: lineNo, text: Array(b.prefix(1024))))
                    if report.sets[k].samples.count > keep { report.sets[k].samples.removeFirst() }
                }
            }
            report.last.append(e)
            if report.last.count > keep { report.last.removeFirst() }
        }
        report.units = units.map { (unit: $0.key, count: $0.value) }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.unit < $1.unit }
        return report
    }

    static func entry(_ line: UnsafeRawBufferPointer) -> Entry? {
        var tape = JSONTape()
        do throws(JSONError) { try tape.parse(line) } catch { return nil }
        guard tape.kind(at: 0) == .objectStart else { return nil }
        var e = Entry()
        var unit = "", ident = "", comm = ""
        var i = tape.next(after: 0)
        while tape.kind(at: i) == .string {
            let v = tape.next(after: i)
            let key = Array(tape.bytes(at: i))
            let value: String?
            switch tape.kind(at: v) {
            case .string: value = String(decoding: tape.bytes(at: v), as: UTF8.self)
            case .arrayStart: value = bytesArray(tape, v)   // a field that is not valid text
            default: value = nil
            }
            if let value {
                switch key {
                case names.priority: e.priority = Int(value) ?? -1
                case names.unit: unit = value
                case names.ident: ident = value
                case names.comm: comm = value
                case names.message: e.message = value
                case names.time: e.time = Int64(value) ?? 0
                default: break
                }
            }
            i = tape.skip(v)
        }
        e.unit = !unit.isEmpty ? unit : !ident.isEmpty ? ident : comm
        return e
    }

    /// A journal field printed as an array of byte values.
    static func bytesArray(_ tape: JSONTape, _ at: Int) -> String? {
        var bytes: [UInt8] = []
        var i = tape.next(after: at)
        while tape.kind(at: i) == .int {
            bytes.append(UInt8(truncatingIfNeeded: tape.int(at: i)))
            i = tape.next(after: i)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
