import Archive
import Glibc
import LuaRuntime
import Sys

/// `opsh.backup`: the native backup engine (Sources/Archive) as Lua sees it. Backups are
/// directories with archives, per-file listings, SHA256SUMS and a manifest written last;
/// `begin` returns a writer whose items are added one by one and which becomes a complete
/// backup only at `commit`. Calls block the VM while they run (a backup is the only thing the
/// procedure is doing); compression uses every core. Under --dry-run nothing is written: the
/// writer reports what it would archive, restore lists what would change, retention lists
/// what it would delete.
public enum BackupModule {
    static let writerType = "opsh.backup.writer"

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: writerType, methods: [
            ("add_tree", addTree), ("add_file", addFile), ("add_data", addData), ("add_tar", addTar), ("add_redis_rdb", addRedisRDB), ("commit", commit), ("abort", abortWriter), ("info", writerInfo),
        ]))
        lua.newModule([
            ("begin", begin), ("list", list), ("latest", latest), ("verify", verify), ("restore", restore),
            ("retention", retention), ("manifest", manifest), ("export", export),
        ])
        return 1
    }

    /// The writer behind a Lua handle; closing an uncommitted one aborts it (removes its .partial).
    final class Handle: LuaClosable {
        var writer: BackupWriter?
        let dryRun: Bool
        let root: String
        var wouldItems: [LuaValue] = []
        init(writer: BackupWriter?, dryRun: Bool, root: String) { self.writer = writer; self.dryRun = dryRun; self.root = root }
        func close() { writer?.abort(); writer = nil }
    }

    // MARK: conversions

    static func int(_ v: LuaValue?) -> Int64? {
        switch v { case .integer(let i)?: return i; case .number(let d)?: return Int64(d); default: return nil }
    }

    static func strings(_ v: LuaValue?) -> [String] {
        switch v {
        case .array(let a)?: return a.compactMap { $0.text }
        case .string?: return [v!.text!]
        default: return []
        }
    }

    static func mvalue(_ v: LuaValue) -> MValue {
        switch v {
        case .nil: return .null
        case .boolean(let b): return .bool(b)
        case .integer(let i): return .int(i)
        case .number(let d): return .double(d)
        case .string: return .string(v.text!)
        case .array(let a): return .array(a.map(mvalue))
        case .map(let m): return .object(m.compactMap { k, v in k.text.map { ($0, mvalue(v)) } }.sorted { $0.0 < $1.0 })
        default: return .null
        }
    }

    static func lua(_ m: MValue) -> LuaValue {
        switch m {
        case .null: return .nil
        case .bool(let b): return .boolean(b)
        case .int(let i): return .integer(i)
        case .double(let d): return .number(d)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(lua))
        case .object(let o):
            var d: [LuaValue: LuaValue] = [:]
            for (k, v) in o { d[.string(k)] = lua(v) }
            return .map(d)
        }
    }

    static func fail(_ lua: Lua, _ error: Error) -> Int32 {
        if let e = error as? ArchiveError {
            var fields: [(String, LuaValue)] = []
            if let p = e.path { fields.append(("path", .string(p))) }
            return lua.failure(code: e.code.rawValue, message: e.message, fields: fields)
        }
        return lua.failure(code: "io", message: "\(error)")
    }

    static func push(_ lua: Lua, _ v: LuaValue) -> Int32 {
        lua.push(value: v)
        return 1
    }

    static func would(_ lua: Lua, _ what: String, _ extra: [(String, LuaValue)] = []) -> Int32 {
        lua.would(what, fields: extra)
    }

    // MARK: writer

    /// A progress line on stderr (only on a terminal: never in pipes or --json output), at most
    /// every half second, erased when the item is done.
    static func progressLine() -> (String, Int, Int64) -> Void {
        let line = ProgressLine(interval: 0.5)
        return { item, files, bytes in line.show("\(item): \(files) files, \(bytes >> 20) MiB") }
    }

    /// backup.begin{root=, tier="daily", compression="gzip"|"zstd"|"none", level=, threads=, meta={...}}
    static let begin: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["root", "tier", "compression", "level", "threads", "meta"])
            guard let root = o["root"]?.text, !root.isEmpty else { throw .argument(1, "root (the backup directory) is required") }
            let tier = o["tier"]?.text ?? "manual"
            guard let comp = Compression(rawValue: o["compression"]?.text ?? "gzip") else {
                throw .argument(1, "compression must be gzip, zstd or none")
            }
            if lua.dryRun {
                lua.vm.recordWould("start a \(tier) backup in \(root) (\(comp.rawValue))")
                lua.push(object: Handle(writer: nil, dryRun: true, root: root), type: writerType)
                return 1
            }
            do {
                let w = try BackupWriter(root: root, tier: tier, compression: comp)
                if Terminal.stderrIsTerminal { w.progress = progressLine() }
                if let l = int(o["level"]) { w.level = Int(l) }
                if let t = int(o["threads"]), t > 0 { w.threads = Int(t) }
                if case .map(let meta)? = o["meta"] {
                    for (k, v) in meta { if let key = k.text { w.metadata.append((key, mvalue(v))) } }
                    w.metadata.sort { $0.0 < $1.0 }
                }
                lua.push(object: Handle(writer: w, dryRun: false, root: root), type: writerType)
                return 1
            } catch { return fail(lua, error) }
        }
    }

    static func handle(_ lua: Lua) throws(LuaRaise) -> Handle {
        try lua.checkObject(1, type: writerType, as: Handle.self)
    }

    static func extra(_ o: [String: LuaValue]) -> [(String, MValue)] {
        guard case .map(let meta)? = o["meta"] else { return [] }
        return meta.compactMap { k, v in k.text.map { ($0, mvalue(v)) } }.sorted { $0.0 < $1.0 }
    }

    /// w:add_tree(item, path [, {exclude = {"*.tmp"}, meta = {...}}]) -> item info
    static let addTree: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let item = try lua.checkString(2)
            let path = try lua.checkString(3)
            let o = try lua.options(4, known: ["exclude", "meta"])
            if h.dryRun { return would(lua, "archive \(path) as \(item)", [("name", .string(item))]) }
            guard let w = h.writer else { throw .message("the backup was already committed or aborted") }
            defer { if w.progress != nil { writeToStderr("\r\u{1B}[K") } }
            do { return push(lua, BackupModule.lua(try w.addTree(item, path: path, exclude: strings(o["exclude"]), extra: extra(o)))) }
            catch { h.writer = nil; return fail(lua, error) }
        }
    }

    /// w:add_data(item, bytes [, {mode = tonumber("600", 8), meta = {...}}]) -> item info
    static let addData: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let item = try lua.checkString(2)
            let data = Array(try lua.checkBytes(3))
            let o = try lua.options(4, known: ["mode", "meta"])
            if h.dryRun { return would(lua, "write \(data.count) bytes as \(item)", [("name", .string(item))]) }
            guard let w = h.writer else { throw .message("the backup was already committed or aborted") }
            let mode = int(o["mode"]).map { mode_t($0 & 0o7777) } ?? 0o600
            do { return push(lua, BackupModule.lua(try w.addData(item, data, mode: mode, extra: extra(o)))) }
            catch { h.writer = nil; return fail(lua, error) }
        }
    }

    /// w:add_tar(item, tar_path [, {strip_components = 0, origin = "...", meta = {...}}]) -> item info:
    /// a tar made elsewhere (the Docker archive API's output) re-archived with per-file hashes
    static let addTar: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let item = try lua.checkString(2)
            let path = try lua.checkString(3)
            let o = try lua.options(4, known: ["strip_components", "origin", "meta"])
            if h.dryRun { return would(lua, "re-archive \(path) as \(item)", [("name", .string(item))]) }
            guard let w = h.writer else { throw .message("the backup was already committed or aborted") }
            let strip = Int(int(o["strip_components"]) ?? 0)
            do { return push(lua, BackupModule.lua(try w.addTar(item, from: path, stripComponents: strip, origin: o["origin"]?.text, extra: extra(o)))) }
            catch { h.writer = nil; return fail(lua, error) }
        }
    }

    /// w:add_file(item, path [, {mode = tonumber("600", 8), move = false, meta = {...}}]) -> item info
    static let addFile: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let item = try lua.checkString(2)
            let path = try lua.checkString(3)
            let o = try lua.options(4, known: ["mode", "move", "meta"])
            if h.dryRun { return would(lua, "copy \(path) as \(item)", [("name", .string(item))]) }
            guard let w = h.writer else { throw .message("the backup was already committed or aborted") }
            let mode = int(o["mode"]).map { mode_t($0 & 0o7777) }
            let move = o["move"] == .boolean(true)
            do { return push(lua, BackupModule.lua(try w.addFile(item, path: path, mode: mode, move: move, extra: extra(o)))) }
            catch { h.writer = nil; return fail(lua, error) }
        }
    }

    /// w:commit() -> manifest (with .path) : the backup becomes complete
    static let commit: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            if h.dryRun { return would(lua, "complete the backup in \(h.root)") }
            guard let w = h.writer else { throw .message("the backup was already committed or aborted") }
            do {
                var m = BackupModule.lua(try w.commit())
                if case .map(var d) = m {
                    d[.string("path")] = .string(w.finalPath)
                    d[.string("leftovers_removed")] = .array(w.leftoversRemoved.map { .string($0) })
                    m = .map(d)
                }
                h.writer = nil
                return push(lua, m)
            } catch { h.writer = nil; return fail(lua, error) }
        }
    }

    static let abortWriter: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            h.close()
            lua.push(true)
            return 1
        }
    }

    /// w:info() -> {name, path (the .partial while open), root}
    static let writerInfo: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            var m: [LuaValue: LuaValue] = [.string("root"): .string(h.root), .string("dry_run"): .boolean(h.dryRun)]
            if let w = h.writer {
                m[.string("name")] = .string(w.name)
                m[.string("path")] = .string(w.partialPath)
            }
            return push(lua, .map(m))
        }
    }

    // MARK: catalog, verify, restore, retention

    static func info(_ b: BackupSet.Info) -> LuaValue {
        .map([.string("name"): .string(b.name), .string("path"): .string(b.path), .string("tier"): .string(b.tier),
              .string("created"): .string(FileTree.isoTime(b.created)), .string("created_unix"): .integer(b.created),
              .string("complete"): .boolean(b.complete), .string("bytes"): .integer(b.bytes)])
    }

    static func other(_ o: BackupCatalog.Other) -> LuaValue {
        .map([.string("name"): .string(o.name), .string("reason"): .string(o.reason)])
    }

    /// backup.list(root) -> complete backups newest first, then interrupted leftovers (complete =
    /// false); second result: the entries that are not backups, {name, reason}
    static let list: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = BackupCatalog.read(try lua.checkString(1))
            lua.push(value: .array((c.backups + c.leftovers).map(info)))
            lua.push(value: .array(c.others.map(other)))
            return 2
        }
    }

    /// backup.latest(root [, at_or_before_unix [, tiers]]) -> the newest complete backup (of one
    /// of `tiers` when given), or nil
    static let latest: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let root = try lua.checkString(1)
            let t: Int64? = lua.isNoneOrNil(2) ? nil : Int64(try lua.checkNumber(2))
            var tiers: Set<String>?
            if !lua.isNoneOrNil(3) {
                guard lua.type(at: 3) == .table, case .array(let a)? = try? lua.value(at: 3, maxDepth: 2) else { throw .type(3, "list of tier names") }
                tiers = Set(a.compactMap { $0.text })
            }
            guard let b = BackupCatalog.newest(root, atOrBefore: t, tiers: tiers) else { lua.pushNil(); return 1 }
            return push(lua, info(b))
        }
    }

    /// backup.manifest(path) -> the manifest table, or nil, err
    static let manifest: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            guard let m = BackupSet.readManifest(path) else {
                return lua.failure(code: "incomplete", message: "\(path) has no readable manifest.json", fields: [("path", .string(path))])
            }
            return push(lua, BackupModule.lua(m))
        }
    }

    /// backup.verify(path [, {depth = "files"|"archives"}]) -> {ok, problems, first_bad, files, bytes, members}
    static let verify: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let o = try lua.options(2, known: ["depth"])
            guard let depth = BackupSet.Depth(rawValue: o["depth"]?.text ?? "files") else { throw .argument(2, "depth must be files or archives") }
            let v = BackupSet.verify(path, depth: depth)
            var m: [LuaValue: LuaValue] = [
                .string("ok"): .boolean(v.ok), .string("problems"): .array(v.problems.map { .string($0) }),
                .string("files"): .integer(Int64(v.checkedFiles)), .string("bytes"): .integer(v.checkedBytes),
                .string("members"): .integer(Int64(v.checkedMembers)), .string("depth"): .string(depth.rawValue),
            ]
            if let b = v.firstBad { m[.string("first_bad")] = .string(b) }
            return push(lua, .map(m))
        }
    }

    /// backup.restore(path, item, target [, {dry_run=, keep_old=}]) -> result, or nil, err
    static let restore: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let item = try lua.checkString(2)
            let target = try lua.checkString(3)
            let o = try lua.options(4, known: ["dry_run", "keep_old"])
            var opts = Restore.Options()
            opts.dryRun = lua.dryRun || o["dry_run"] == .boolean(true)
            opts.keepOld = o["keep_old"] == .boolean(true)
            if Terminal.stderrIsTerminal && !opts.dryRun {
                let line = progressLine()
                opts.progress = { line("restore \(item)", $0, $1) }
            }
            defer { if opts.progress != nil { writeToStderr("\r\u{1B}[K") } }
            do {
                let r = try Restore.restore(backup: path, item: item, target: target, options: opts)
                var m: [LuaValue: LuaValue] = [
                    .string("target"): .string(r.target), .string("item"): .string(r.item),
                    .string("files"): .integer(Int64(r.files)), .string("directories"): .integer(Int64(r.directories)),
                    .string("symlinks"): .integer(Int64(r.symlinks)), .string("hardlinks"): .integer(Int64(r.hardlinks)),
                    .string("bytes"): .integer(r.bytes), .string("dry_run"): .boolean(r.dryRun),
                ]
                if r.dryRun {
                    m[.string("added")] = .array(r.added.map { .string($0) })
                    m[.string("changed")] = .array(r.changed.map { .string($0) })
                    m[.string("removed")] = .array(r.removed.map { .string($0) })
                    m[.string("added_count")] = .integer(Int64(r.addedCount))
                    m[.string("changed_count")] = .integer(Int64(r.changedCount))
                    m[.string("removed_count")] = .integer(Int64(r.removedCount))
                    lua.vm.recordWould("restore \(item) onto \(target): \(r.addedCount) added, \(r.changedCount) changed, \(r.removedCount) removed")
                }
                if let k = r.keptOld { m[.string("kept_old")] = .string(k) }
                return push(lua, .map(m))
            } catch { return fail(lua, error) }
        }
    }

    /// backup.export(path, item, out_tar [, {prefix = "dir"}]) -> {bytes}: a tree item as a plain,
    /// checked tar (for the Docker archive API)
    static let export: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let item = try lua.checkString(2)
            let out = try lua.checkString(3)
            let o = try lua.options(4, known: ["prefix"])
            if lua.dryRun { return would(lua, "export \(item) of \(path) to \(out)") }
            do {
                let n = try Restore.export(backup: path, item: item, to: out, prefix: o["prefix"]?.text ?? "")
                return push(lua, .map([.string("bytes"): .integer(n), .string("path"): .string(out)]))
            } catch { return fail(lua, error) }
        }
    }

    static let policyFields: Set<String> = ["last", "daily", "weekly", "monthly", "days"]

    /// backup.retention(root, {tiers = {TIER = {last=, daily=, weekly=, monthly=, days=}}, now=, dry_run=})
    /// -> {kept = {{name, tier, reasons}}, deleted = {{name, tier, reason}}, untouched = {{name, tier}},
    ///     left_alone = {{name, reason}}, dry_run}
    static let retention: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let root = try lua.checkString(1)
            let o = try lua.options(2, known: ["tiers", "now", "dry_run"])
            guard case .map(let tiers)? = o["tiers"], !tiers.isEmpty else {
                throw .argument(2, "tiers = {TIER = {last=, daily=, weekly=, monthly=, days=}} is required: retention applies to the tiers it names, and to no other")
            }
            var policies: [String: Retention.Policy] = [:]
            for (k, v) in tiers {
                guard let tier = k.text else { throw .argument(2, "tiers: keys are tier names") }
                guard case .map(let fields) = v else { throw .argument(2, "tiers.\(tier) must be a table {last=, daily=, weekly=, monthly=, days=}") }
                var counts: [String: Int] = [:]
                for (fk, fv) in fields {
                    guard let f = fk.text, policyFields.contains(f) else {
                        throw .argument(2, "tiers.\(tier): unknown field '\(fk.text ?? "?")' (fields: \(policyFields.sorted().joined(separator: ", ")))")
                    }
                    guard let n = int(fv), n >= 0, n <= 100_000 else { throw .argument(2, "tiers.\(tier).\(f) must be a whole number >= 0") }
                    counts[f] = Int(n)
                }
                policies[tier] = Retention.Policy(last: counts["last"] ?? 0, daily: counts["daily"] ?? 0, weekly: counts["weekly"] ?? 0,
                                                  monthly: counts["monthly"] ?? 0, days: counts["days"] ?? 0)
            }
            let now = int(o["now"]) ?? Int64(TimeModule.wallSeconds())
            let dry = lua.dryRun || o["dry_run"] == .boolean(true)
            do {
                let (plan, _) = try Retention.apply(root, policies: policies, now: now, dryRun: dry)
                let kept: [LuaValue] = plan.keep.map { b, reasons in
                    .map([.string("name"): .string(b.name), .string("tier"): .string(b.tier), .string("reasons"): .array(reasons.map { .string($0) })])
                }
                let deleted: [LuaValue] = plan.delete.map { b, reason in
                    .map([.string("name"): .string(b.name), .string("tier"): .string(b.tier), .string("reason"): .string(reason)])
                }
                let untouched: [LuaValue] = plan.untouched.map { .map([.string("name"): .string($0.name), .string("tier"): .string($0.tier)]) }
                // under --dry-run the report lists each deletion (a dry_run option only previews: the result says it)
                if lua.dryRun { for (b, _) in plan.delete { lua.vm.recordWould("delete backup \(b.path)") } }
                return push(lua, .map([
                    .string("kept"): .array(kept), .string("deleted"): .array(deleted),
                    .string("untouched"): .array(untouched), .string("left_alone"): .array(plan.others.map(other)),
                    .string("dry_run"): .boolean(dry),
                ]))
            } catch { return fail(lua, error) }
        }
    }
}

import RESP

extension BackupModule {
    /// w:add_redis_rdb(item, url [, {timeout = 60, meta = {...}}]) -> item info: the RDB taken
    /// by replication (SYNC), stored as ITEM (0600)
    static let addRedisRDB: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let item = try lua.checkString(2)
            let url = try lua.checkString(3)
            let o = try lua.options(4, known: ["timeout", "meta"])
            let timeout = Double(int(o["timeout"]) ?? 60)
            let endpoint: RESPEndpoint
            do { endpoint = try RESPEndpoint(url: url) } catch { throw .argument(3, "\(error)") }
            if h.dryRun { return would(lua, "take an RDB from \(endpoint) as \(item)", [("name", .string(item))]) }
            guard let w = h.writer else { throw .message("the backup was already committed or aborted") }
            // The replication stream is read by blocking calls (RESPReplica) into the writer:
            // that runs on a thread of its own, which owns the writer until it is done, and the
            // task waits for it like any I/O, so timers and other tasks go on meanwhile.
            final class Fetch: @unchecked Sendable {
                let writer: BackupWriter
                var result: Result<(MValue, String), Error>?
                init(_ writer: BackupWriter) { self.writer = writer }
            }
            let job = Fetch(w)
            let extraFields = [("kind", MValue.string("redis-rdb"))] + extra(o)
            h.writer = nil
            let loop = lua.vm.loop
            let wait: NativeWait = .custom(start: { complete in
                let token = loop.runOnThread({
                    var framing = ""
                    job.result = Result {
                        let info = try job.writer.addStream(item, origin: endpoint.description, extra: extraFields) { sink in
                            framing = try RESPReplica.fetchRDB(endpoint: endpoint, timeout: timeout) { try sink.write($0) }.framing
                        }
                        return (info, framing)
                    }
                }, complete)
                return { loop.cancel(token) }
            })
            return lua.wait(wait, deadline: nil) { lua, _ in
                switch job.result {
                case .success(let (info, framing))?:
                    h.writer = job.writer
                    var v = BackupModule.lua(info)
                    if case .map(var d) = v { d[.string("framing")] = .string(framing); v = .map(d) }
                    return push(lua, v)
                case .failure(let e as RESPError)?:
                    let code = e.kind == .handshake ? "unsupported" : "redis"
                    return lua.failure(code: code, message: "RDB from \(endpoint): \(e.message)", fields: e.serverCode.map { [("server_code", .string($0))] } ?? [])
                case .failure(let e)?:
                    return fail(lua, e)
                case nil:
                    // stopped while the fetch runs: the thread keeps the writer and aborts it when done
                    return lua.failure(code: "cancelled", message: "RDB from \(endpoint): interrupted")
                }
            }
        }
    }
}
