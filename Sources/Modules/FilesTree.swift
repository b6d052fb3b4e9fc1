import Archive
import FileSystem
import Glibc
import LuaRuntime

/// The second part of `opsh.fs`: trees and space, for the procedures that used to shell out
/// to find, cp, mv, rm, du and df.
extension FilesModule {
    static func entry(_ path: String, _ s: FileStatus) -> LuaValue {
        .map([.string("path"): .string(path), .string("type"): .string(s.type), .string("size"): .integer(s.size),
              .string("mode"): .integer(s.mode), .string("mtime"): .number(s.mtime)])
    }

    static func archiveFailure(_ lua: Lua, _ error: Error) -> Int32 {
        if let e = error as? ArchiveError {
            let code: String
            switch e.code { case .noSpace: code = "ENOSPC"; default: code = e.code.rawValue }
            return lua.failure(code: code, message: e.message, fields: e.path.map { [("path", .string($0))] } ?? [])
        }
        return lua.failure(code: "io", message: "\(error)")
    }

    static func seconds(_ lua: Lua, _ v: LuaValue?, arg: Int32, _ name: String) throws(LuaRaise) -> Double? {
        switch v {
        case nil: return nil
        case .integer(let i)?: return Double(i)
        case .number(let d)?: return d
        case .string?:
            guard let d = TimeModule.parseDuration(v!.text!) else { throw .argument(arg, "\(name): invalid duration '\(v!.text!)'") }
            return d
        default: throw .argument(arg, "\(name) must be a number of seconds or a duration like '30d'")
        }
    }

    static func bytes(_ v: LuaValue?, arg: Int32, _ name: String) throws(LuaRaise) -> Int64? {
        switch v {
        case nil: return nil
        case .integer(let i)?: return i
        case .number(let d)?: return Int64(d)
        case .string?:
            guard let n = UnitsParse.bytes(v!.text!) else { throw .argument(arg, "\(name): invalid size '\(v!.text!)' (e.g. 100M, 1gb)") }
            return n
        default: throw .argument(arg, "\(name) must be bytes or a size like '100M'")
        }
    }

    static func optionTable(_ lua: Lua, _ i: Int32, known: [String]) throws(LuaRaise) -> [String: LuaValue] {
        try lua.options(i, known: known)
    }

    /// fs.walk(root [, {max_depth=, max_entries=}]) -> iterator of path, stat-table (paths
    /// relative to root, depth first, names sorted; symlinks not followed)
    static let walk: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let root = try lua.checkString(1)
            let o = try optionTable(lua, 2, known: ["max_depth", "max_entries"])
            let maxDepth = Int(BackupModule.int(o["max_depth"]) ?? 256)
            let limit = Int(BackupModule.int(o["max_entries"]) ?? 1_000_000)
            var items: [(String, FileStatus)] = []
            do {
                try FileTree.walk(root, maxDepth: maxDepth) { rel, st in
                    if rel.isEmpty { return true }
                    if items.count >= limit { throw ArchiveError(.io, "\(root) has more than \(limit) entries (max_entries)", path: root) }
                    items.append((rel, FileStatus(st)))
                    return true
                }
            } catch { return archiveFailure(lua, error) }
            var i = 0
            lua.push(closure: { l in
                guard i < items.count else { l.pushNil(); return 1 }
                let (p, st) = items[i]
                i += 1
                l.push(p)
                l.push(value: entry(p, st))
                return 2
            })
            return 1
        }
    }

    /// fs.glob(pattern) -> sorted paths that match (shell wildcards, no ~ or brace expansion)
    static let glob: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let pattern = try lua.checkString(1)
            do throws(FileSystemError) { lua.push(value: .array(try FileSystem.glob(pattern).map { .string($0) })) }
            catch { return lua.failure(code: error.code, message: error.message) }
            return 1
        }
    }

    /// fs.find(root, {name="*.log", type="file", older_than="30d", newer_than=, larger_than="100M",
    ///                smaller_than=, max_depth=}) -> array of {path (absolute), type, size, mode, mtime}
    static let find: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let root = try lua.checkString(1)
            let o = try optionTable(lua, 2, known: ["name", "type", "older_than", "newer_than", "larger_than", "smaller_than", "max_depth"])
            let name = o["name"]?.text
            let type = o["type"]?.text
            let now = TimeModule.wallSeconds()
            let older = try seconds(lua, o["older_than"], arg: 2, "older_than").map { now - $0 }
            let newer = try seconds(lua, o["newer_than"], arg: 2, "newer_than").map { now - $0 }
            let larger = try bytes(o["larger_than"], arg: 2, "larger_than")
            let smaller = try bytes(o["smaller_than"], arg: 2, "smaller_than")
            let maxDepth = Int(BackupModule.int(o["max_depth"]) ?? 256)
            var out: [LuaValue] = []
            do {
                try FileTree.walk(root, maxDepth: maxDepth) { rel, st in
                    if rel.isEmpty { return true }
                    let base = rel.split(separator: "/").last.map(String.init) ?? rel
                    let s = FileStatus(st)
                    if let name, !FileSystem.matches(name, base) { return true }
                    if let type, s.type != type { return true }
                    if let older, !(s.mtime < older) { return true }
                    if let newer, !(s.mtime >= newer) { return true }
                    if let larger, !(s.size > larger) { return true }
                    if let smaller, !(s.size < smaller) { return true }
                    let full = root.hasSuffix("/") ? root + rel : root + "/" + rel
                    out.append(entry(full, s))
                    return true
                }
            } catch { return archiveFailure(lua, error) }
            lua.push(value: .array(out))
            return 1
        }
    }

    /// fs.copy(src, dst [, {mode=}]) -> {bytes, sha256}: a regular file, written next to dst,
    /// fsynced and renamed over it (atomic)
    static let copy: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let src = try lua.checkString(1)
            let dst = try lua.checkString(2)
            let o = try optionTable(lua, 3, known: ["mode"])
            let mode = BackupModule.int(o["mode"]).map { mode_t($0 & 0o7777) }
            if lua.dryRun {
                return lua.would("copy \(src) to \(dst)")
            }
            do {
                let (sha, n) = try FileTree.copyAtomically(src, to: dst, mode: mode)
                lua.push(value: .map([.string("bytes"): .integer(n), .string("sha256"): .string(sha)]))
                return 1
            } catch { return archiveFailure(lua, error) }
        }
    }

    /// fs.move(src, dst) -> true: rename, or (across filesystems, files only) copy + fsync +
    /// rename + delete the source
    static let move: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let src = try lua.checkString(1)
            let dst = try lua.checkString(2)
            if lua.dryRun {
                return lua.would("move \(src) to \(dst)")
            }
            do { try FileTree.move(src, to: dst) } catch { return archiveFailure(lua, error) }
            lua.push(true)
            return 1
        }
    }

    /// fs.delete(path [, {recursive=false}]) -> {deleted = n}; symlinks are deleted, never
    /// followed; refused under --dry-run ("would: delete ...")
    static let delete: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let o = try optionTable(lua, 2, known: ["recursive"])
            let recursive = o["recursive"] == .boolean(true)
            guard path != "/" && !path.isEmpty else { throw .argument(1, "refusing to delete '\(path)'") }
            let isDir: Bool
            do throws(FileSystemError) { isDir = try FileSystem.status(path, what: "cannot delete").type == "directory" }
            catch { return failure(lua, error) }
            if isDir && !recursive { return lua.failure(code: "EISDIR", message: "\(path) is a directory (pass {recursive = true})", fields: [("path", .string(path))]) }
            var count = 1
            if isDir { count = ((try? FileTree.usage(path))?.files) ?? 1 }
            if lua.dryRun {
                return lua.would("delete \(path)\(isDir ? " (\(count) entries)" : "")", returning: "delete \(path)",
                                 fields: [("deleted", .integer(Int64(count)))])
            }
            do { try FileTree.remove(path) } catch { return archiveFailure(lua, error) }
            lua.push(value: .map([.string("deleted"): .integer(Int64(count))]))
            return 1
        }
    }

    /// fs.du(path) -> {bytes (allocated), apparent, files} (hard links counted once)
    static let du: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do {
                let u = try FileTree.usage(path)
                lua.push(value: .map([.string("bytes"): .integer(u.allocated), .string("apparent"): .integer(u.apparent), .string("files"): .integer(Int64(u.files))]))
                return 1
            } catch { return archiveFailure(lua, error) }
        }
    }

    /// fs.df(path) -> {total, free, available, used, used_percent} of the filesystem holding path
    static let df: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do {
                let f = try FileTree.filesystem(path)
                let used = f.total - f.free
                // as df computes it: used / (used + available)
                let pct = used + f.available > 0 ? Double(used) * 100 / Double(used + f.available) : 0
                lua.push(value: .map([.string("total"): .integer(f.total), .string("free"): .integer(f.free),
                                      .string("available"): .integer(f.available), .string("used"): .integer(used),
                                      .string("used_percent"): .number((pct * 10).rounded() / 10)]))
                return 1
            } catch { return archiveFailure(lua, error) }
        }
    }
}

/// Byte sizes as opsh.units parses them ("100M", "1gb", "512kib", 2048: binary multiples).
enum UnitsParse {
    static func bytes(_ text: String) -> Int64? {
        let s = text.lowercased().filter { $0 != " " }
        let digits = s.prefix { $0.isNumber || $0 == "." }
        guard let n = Double(digits) else { return nil }
        let mult: Double
        switch s.dropFirst(digits.count) {
        case "", "b": mult = 1
        case "k", "kb", "kib": mult = 1024
        case "m", "mb", "mib": mult = 1024 * 1024
        case "g", "gb", "gib": mult = 1024 * 1024 * 1024
        case "t", "tb", "tib": mult = 1024 * 1024 * 1024 * 1024
        default: return nil
        }
        return Int64(n * mult)
    }
}
