import LogScan
import LuaRuntime

/// `opsh.logs`: the log scanner (Sources/LogScan) as Lua sees it. `logs.scan{files=...}` reads
/// log files (globs, rotated and gzipped ones) on a thread of its own, so other tasks run
/// meanwhile; `logs.scan_text` scans text already in memory; `logs.feeder` takes text piece by
/// piece (a container's log stream); `logs.journal` reads `journalctl -o json` output.
/// Every call returns one report table (stdlib/meta/opsh/logs.lua); bad lines and unreadable
/// files are in its `problems`, never errors.
public enum LogsModule {
    static let feederType = "opsh.logs.feeder"

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: feederType, methods: [("feed", feed), ("report", feederReport)]))
        lua.newModule([("scan", scan), ("scan_text", scanText), ("feeder", feeder), ("journal", journal)])
        return 1
    }

    static let scanKeys = ["files", "format", "since", "until", "top", "threshold", "paths", "sets", "samples",
                           "sample_bytes", "threads", "max_line", "max_keys", "time_scale", "span", "times"]

    /// The scan options of the table at `i` (`files` aside).
    static func options(_ lua: Lua, _ o: [String: LuaValue], arg: Int32) throws(LuaRaise) -> ScanOptions {
        var s = ScanOptions()
        func int(_ k: String, min: Int = 0) throws(LuaRaise) -> Int? {
            guard let v = o[k] else { return nil }
            switch v {
            case .integer(let i) where i >= Int64(min): return Int(i)
            case .number(let d) where d == d.rounded() && d >= Double(min) && d < 1e15: return Int(d)
            default: throw .argument(arg, "option '\(k)' must be an integer of at least \(min)")
            }
        }
        func time(_ k: String) throws(LuaRaise) -> Int64? {
            guard let v = o[k] else { return nil }
            switch v {
            case .integer(let i): return i
            case .number(let d) where d.isFinite: return Int64(d.rounded(.down))
            default: throw .argument(arg, "option '\(k)' must be a Unix time in seconds (time.since(\"24h\"))")
            }
        }
        func bool(_ k: String) throws(LuaRaise) -> Bool? {
            guard let v = o[k] else { return nil }
            guard case .boolean(let b) = v else { throw .argument(arg, "option '\(k)' must be a boolean") }
            return b
        }
        if let f = o["format"] {
            guard let t = f.text, let fmt = ScanOptions.Format(rawValue: t) else { throw .argument(arg, "option 'format' must be \"access\" or \"plain\"") }
            s.format = fmt
        }
        s.since = try time("since")
        s.until = try time("until")
        if let v = try int("top") { s.top = v }
        s.okThreshold = try int("threshold")
        if let v = try bool("paths") { s.countPaths = v }
        if let v = try int("samples") { s.samples = v }
        if let v = try int("sample_bytes", min: 1) { s.sampleBytes = v }
        if let v = try int("threads", min: 1) { s.threads = v }
        if let v = try int("max_line", min: 1) { s.maxLine = v }
        if let v = try int("max_keys", min: 1) { s.maxKeys = v }
        if let v = try bool("span") { s.span = v }
        if let v = try bool("times") { s.responseTimes = v }
        if let v = o["time_scale"] {
            switch v {
            case .integer(let i) where i > 0: s.responseTimeScale = Double(i)
            case .number(let d) where d > 0: s.responseTimeScale = d
            default: throw .argument(arg, "option 'time_scale' must be a positive number (milliseconds per unit)")
            }
        }
        if let v = o["sets"] { s.patterns = try sets(v, arg: arg) }
        return s
    }

    /// sets = {name = {words = {...}, word = bool, ignore_case = bool} | {regex = "...", ignore_case = bool}},
    /// in name order.
    static func sets(_ v: LuaValue, arg: Int32) throws(LuaRaise) -> [PatternSpec] {
        guard case .map(let m) = v else {
            if case .array(let a) = v, a.isEmpty { return [] }
            throw .argument(arg, "option 'sets' must be a table of name = {words = {...}} or {regex = \"...\"}")
        }
        var out: [PatternSpec] = []
        for (k, spec) in m {
            guard let name = k.text else { throw .argument(arg, "set names must be strings") }
            guard case .map(let f) = spec else { throw .argument(arg, "set '\(name)' must be a table {words = {...}} or {regex = \"...\"}") }
            for key in f.keys where !["words", "word", "ignore_case", "regex"].contains(key.text ?? "") {
                throw .argument(arg, "set '\(name)': unknown field \(key.text.map { "'\($0)'" } ?? "") (fields: words, word, ignore_case, regex)")
            }
            var ignoreCase = false
            if let ic = f[.string("ignore_case")] {
                guard case .boolean(let b) = ic else { throw .argument(arg, "set '\(name)': ignore_case must be a boolean") }
                ignoreCase = b
            }
            if let r = f[.string("regex")] {
                guard let text = r.text, f[.string("words")] == nil else { throw .argument(arg, "set '\(name)': regex must be a string (and no words with it)") }
                out.append(PatternSpec(name: name, regex: text, ignoreCase: ignoreCase))
            } else if case .array(let ws)? = f[.string("words")] {
                var words: [String] = []
                for w in ws {
                    guard let t = w.text, !t.isEmpty else { throw .argument(arg, "set '\(name)': words must be non-empty strings") }
                    words.append(t)
                }
                var bounded = false
                if let b = f[.string("word")] {
                    guard case .boolean(let x) = b else { throw .argument(arg, "set '\(name)': word must be a boolean") }
                    bounded = x
                }
                out.append(PatternSpec(name: name, words: words, ignoreCase: ignoreCase, wordBounded: bounded))
            } else {
                throw .argument(arg, "set '\(name)' needs words = {...} (a non-empty list) or regex = \"...\"")
            }
        }
        return out.sorted { $0.name < $1.name }
    }

    final class Job: @unchecked Sendable {
        let files: [String]
        let options: ScanOptions
        var result: Result<ScanReport, PatternError>?
        init(files: [String], options: ScanOptions) { self.files = files; self.options = options }
    }

    /// logs.scan{files = {...}, ...} -> report, or nil, err (a bad regular expression).
    static let scan: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            let o = try lua.options(1, known: scanKeys)
            var files: [String] = []
            switch o["files"] {
            case .string(let b)?: files = [String(decoding: b, as: UTF8.self)]
            case .array(let a)?:
                for v in a {
                    guard let t = v.text else { throw .argument(1, "option 'files' must be a list of paths or globs") }
                    files.append(t)
                }
            default: throw .argument(1, "option 'files' (a path, a glob, or a list of them) is required")
            }
            let job = Job(files: files, options: try options(lua, o, arg: 1))
            let loop = lua.vm.loop
            let wait: NativeWait = .custom(start: { complete in
                let token = loop.runOnThread({
                    do throws(PatternError) {
                        job.result = .success(try LogScanner.scan(files: job.files, options: job.options))
                    } catch { job.result = .failure(error) }
                }, complete)
                return { loop.cancel(token) }
            })
            return lua.wait(wait, deadline: nil) { lua, _ in
                switch job.result {
                case .success(let r)?: lua.push(value: value(r, job.options)); return 1
                case .failure(let e)?: return lua.failure(code: "pattern", message: e.message)
                case nil: return lua.failure(code: "cancelled", message: "log scan interrupted")
                }
            }
        }
    }

    /// logs.scan_text(name, text [, opts]) -> report
    static let scanText: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let name = try lua.checkString(1)
            let text = try lua.checkBytes(2)
            var known = scanKeys
            known.removeFirst()
            let s = try options(lua, try lua.options(3, known: known), arg: 3)
            do throws(PatternError) {
                lua.push(value: value(try LogScanner.scan(name: name, bytes: text, options: s), s))
                return 1
            } catch { return lua.failure(code: "pattern", message: error.message) }
        }
    }

    final class Feeder: LuaClosable {
        var feeder: LineFeeder?
        let options: ScanOptions
        init(_ f: LineFeeder, _ o: ScanOptions) { feeder = f; options = o }
        func close() { feeder = nil }
    }

    /// logs.feeder(name [, opts]) -> feeder: feeder:feed(text) any number of times, then feeder:report().
    static let feeder: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let name = try lua.checkString(1)
            var known = scanKeys
            known.removeFirst()
            let s = try options(lua, try lua.options(2, known: known), arg: 2)
            do throws(PatternError) {
                lua.push(object: Feeder(try LineFeeder(name: name, options: s), s), type: feederType)
                return 1
            } catch { return lua.failure(code: "pattern", message: error.message) }
        }
    }

    static let feed: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let f = try lua.checkObject(1, type: feederType, as: Feeder.self)
            guard let feeder = f.feeder else { throw .message("feeder:feed: the feeder has reported (or was closed)") }
            feeder.feed(try lua.checkBytes(2))
            return 0
        }
    }

    static let feederReport: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let f = try lua.checkObject(1, type: feederType, as: Feeder.self)
            guard let feeder = f.feeder else { throw .message("feeder:report: the feeder has reported (or was closed)") }
            f.feeder = nil
            lua.push(value: value(feeder.finish(), f.options))
            return 1
        }
    }

    /// logs.journal(text [, {name =, sets =, keep =}]) -> report of `journalctl -o json` output.
    static let journal: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let text = try lua.checkBytes(1)
            let o = try lua.options(2, known: ["name", "sets", "keep"])
            let specs = try o["sets"].map { (v) throws(LuaRaise) in try sets(v, arg: 2) } ?? []
            var keep = 20
            if case .integer(let k)? = o["keep"] { keep = max(0, Int(k)) }
            do throws(PatternError) {
                let r = try Journal.read(text, name: o["name"]?.text ?? "journal", patterns: specs, keep: keep)
                lua.push(value: journalValue(r))
                return 1
            } catch { return lua.failure(code: "pattern", message: error.message) }
        }
    }

    // MARK: reports as Lua values

    static func s(_ t: String) -> LuaValue { .string(t) }
    static func i(_ n: Int) -> LuaValue { .integer(Int64(n)) }
    static func map(_ pairs: [(String, LuaValue?)]) -> LuaValue {
        var m: [LuaValue: LuaValue] = [:]
        for (k, v) in pairs { if let v { m[.string(k)] = v } }
        return .map(m)
    }
    static func list(_ items: [LuaValue]) -> LuaValue { .array(items) }

    static func samples(_ set: SetResult) -> LuaValue {
        list(set.samples.map { map([("file", s($0.file)), ("line", i($0.line)), ("text", .string($0.text))]) })
    }

    static func problems(_ ps: [Problem]) -> LuaValue {
        list(ps.map { p in map([("file", s(p.file)), ("line", p.line > 0 ? i(p.line) : nil), ("message", s(p.message)), ("text", s(p.description))]) })
    }

    static func value(_ r: ScanReport, _ o: ScanOptions) -> LuaValue {
        let files = r.files.map { f -> LuaValue in
            var setCounts: [(String, LuaValue?)] = []
            for (k, c) in f.setCounts.enumerated() { setCounts.append((r.sets[k].name, i(c))) }
            return map([("path", s(f.path)), ("lines", i(f.lines)), ("bytes", .integer(f.bytes)), ("malformed", i(f.malformed)),
                        ("outside", i(f.outside)), ("gzip", .boolean(f.gzip)), ("readable", .boolean(f.readable)),
                        ("first_time", f.firstTime.map { .integer($0) }), ("last_time", f.lastTime.map { .integer($0) }),
                        ("sets", map(setCounts))])
        }
        var sets: [(String, LuaValue?)] = []
        for set in r.sets { sets.append((set.name, map([("count", i(set.count)), ("samples", samples(set))]))) }
        var pairs: [(String, LuaValue?)] = [
            ("lines", i(r.lines)), ("malformed", i(r.malformed)), ("outside", i(r.outside)), ("bytes", .integer(r.bytes)),
            ("first_time", r.firstTime.map { .integer($0) }), ("last_time", r.lastTime.map { .integer($0) }),
            ("files", list(files)), ("sets", map(sets)), ("problems", problems(r.problems)),
        ]
        if o.format == .access {
            var codes: [LuaValue: LuaValue] = [:]
            for st in r.statuses { codes[i(st.status)] = i(st.count) }
            pairs += [
                ("top_ips", list(r.topIPs.map { map([("ip", .string($0.key)), ("count", i($0.count))]) })),
                ("distinct_ips", i(r.distinctIPs)), ("untracked_ips", i(r.untrackedIPs)),
                ("statuses", list(r.statuses.map { map([("status", i($0.status)), ("count", i($0.count))]) })),
                ("status_counts", .map(codes)),
                ("top_paths", list(r.topPaths.map { map([("path", .string($0.key)), ("count", i($0.count))]) })),
                ("untracked_paths", i(r.untrackedPaths)),
                ("clients", list(r.okClients.map { map([("ip", .string($0.key)), ("count", i($0.count))]) })),
            ]
            if let t = r.responseTimes {
                pairs.append(("response_ms", map([("count", i(t.count)), ("mean", .number(t.mean)), ("p50", i(t.p50)), ("p90", i(t.p90)),
                                                   ("p95", i(t.p95)), ("p99", i(t.p99)), ("max", i(t.max))])))
            }
        }
        return map(pairs)
    }

    static func journalValue(_ r: Journal.Report) -> LuaValue {
        let names = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
        var pr: [(String, LuaValue?)] = []
        for (k, c) in r.byPriority.enumerated() where c > 0 { pr.append((names[k], i(c))) }
        var sets: [(String, LuaValue?)] = []
        for set in r.sets { sets.append((set.name, map([("count", i(set.count)), ("samples", samples(set))]))) }
        return map([
            ("entries", i(r.entries)), ("malformed", i(r.malformed)), ("priorities", map(pr)),
            ("units", list(r.units.map { map([("unit", s($0.unit)), ("count", i($0.count))]) })),
            ("sets", map(sets)), ("problems", problems(r.problems)),
            ("first_time", r.firstTime.map { .number(Double($0) / 1e6) }), ("last_time", r.lastTime.map { .number(Double($0) / 1e6) }),
            ("last", list(r.last.map { e in map([("time", .number(Double(e.time) / 1e6)), ("priority", e.priority >= 0 ? i(e.priority) : nil),
                                                  ("unit", s(e.unit)), ("message", s(e.message))]) })),
        ])
    }
}
