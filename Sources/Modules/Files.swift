import Glibc
import LuaRuntime

/// `opsh.fs`: atomic writes with a mode (secrets 0600), bounded reads, stat, directory listing,
/// mkdir -p, and (FilesTree.swift) walk, glob, find by age and size, copy, move, delete and disk
/// usage on the backup engine's file operations. Under --dry-run writes are refused and
/// reported in the dry-run channel ("would: ...").
public enum FilesModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("write_atomic", writeAtomic), ("read", read), ("stat", stat), ("mkdir", mkdirP), ("exists", exists),
            ("list", list),
            ("walk", walk), ("glob", glob), ("find", find), ("copy", copy), ("move", move), ("delete", delete),
            ("du", du), ("df", df),
        ])
        return 1
    }

    static func errnoFailure(_ lua: Lua, _ path: String, _ what: String) -> Int32 {
        let e = errno
        let names: [Int32: String] = [ENOENT: "ENOENT", EACCES: "EACCES", EPERM: "EPERM", EEXIST: "EEXIST", ENOSPC: "ENOSPC",
                                      EISDIR: "EISDIR", ENOTDIR: "ENOTDIR", EROFS: "EROFS", EDQUOT: "EDQUOT", EIO: "EIO"]
        return lua.failure(code: names[e] ?? "EIO", message: "\(what) \(path): \(String(cString: strerror(e)))",
                           fields: [("path", .string(path))])
    }

    /// fs.write_atomic(path, data [, {mode = 0600}]): a temporary file in the same directory,
    /// written, fsynced, renamed over path, and the directory fsynced. Returns true or nil, err.
    static let writeAtomic: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let data = try lua.checkBytes(2)
            var mode: mode_t = 0o644
            if lua.type(at: 3) == .table, try lua.optionField(3, "mode", .number, arg: 3) {
                let m = lua.toInteger(-1) ?? 0o644
                lua.pop()
                guard (0...0o7777).contains(m) else { throw .argument(3, "mode must be 0..0o7777 (e.g. tonumber('600', 8))") }
                mode = mode_t(m)
            }
            if lua.dryRun {
                return lua.would("write \(data.count) bytes to \(path) (mode \(String(mode, radix: 8)))", returning: "write \(path)")
            }
            let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            let tmp = "\(dir.isEmpty ? "/" : dir)/.\(path.split(separator: "/").last ?? "file").opsh-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            guard fd >= 0 else { return errnoFailure(lua, tmp, "cannot create") }
            _ = fchmod(fd, mode)  // the umask must not widen or narrow what was asked
            var off = 0
            while off < data.count {
                let n = Glibc.write(fd, data.baseAddress! + off, data.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    let r = errnoFailure(lua, tmp, "cannot write")
                    close(fd); unlink(tmp)
                    return r
                }
                off += n
            }
            if fsync(fd) != 0 { let r = errnoFailure(lua, tmp, "cannot fsync"); close(fd); unlink(tmp); return r }
            close(fd)
            if rename(tmp, path) != 0 { let r = errnoFailure(lua, path, "cannot rename onto"); unlink(tmp); return r }
            let dfd = Glibc.open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { _ = fsync(dfd); close(dfd) }
            lua.push(true)
            return 1
        }
    }

    /// fs.read(path [, max_bytes]) -> contents, or nil, err (bounded: default 64 MiB)
    static let read: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let limit = Int(try lua.optInteger(2, 64 << 20))
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return errnoFailure(lua, path, "cannot open") }
            defer { close(fd) }
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; return errnoFailure(lua, path, "cannot read") }
                if n == 0 { break }
                out += buf[0..<n]
                if out.count > limit {
                    return lua.failure(code: "too_large", message: "\(path) is larger than \(limit) bytes", fields: [("path", .string(path))])
                }
            }
            lua.push(bytes: out)
            return 1
        }
    }

    /// fs.stat(path) -> {type=, size=, mode=, mtime=, uid=, gid=} or nil, err
    static let stat: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            var st = Glibc.stat()
            guard lstat(path, &st) == 0 else { return errnoFailure(lua, path, "cannot stat") }
            let type: String
            switch st.st_mode & S_IFMT {
            case S_IFREG: type = "file"
            case S_IFDIR: type = "directory"
            case S_IFLNK: type = "link"
            case S_IFSOCK: type = "socket"
            case S_IFIFO: type = "fifo"
            default: type = "device"
            }
            lua.newTable(hashCount: 6)
            lua.push(type); lua.rawSet(-2, field: "type")
            lua.push(Int64(st.st_size)); lua.rawSet(-2, field: "size")
            lua.push(Int64(st.st_mode & 0o7777)); lua.rawSet(-2, field: "mode")
            lua.push(Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9); lua.rawSet(-2, field: "mtime")
            lua.push(Int64(st.st_uid)); lua.rawSet(-2, field: "uid")
            lua.push(Int64(st.st_gid)); lua.rawSet(-2, field: "gid")
            return 1
        }
    }

    /// fs.list(dir [, max_entries]) -> sorted names (no "." or ".."), or nil, err. Bounded (default 100,000).
    static let list: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let limit = Int(try lua.optInteger(2, 100_000))
            guard let d = opendir(path) else { return errnoFailure(lua, path, "cannot list") }
            defer { closedir(d) }
            var names: [String] = []
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                    String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                }
                if name == "." || name == ".." { continue }
                names.append(name)
                if names.count > limit {
                    return lua.failure(code: "too_large", message: "\(path) has more than \(limit) entries", fields: [("path", .string(path))])
                }
            }
            names.sort()
            lua.newTable(arrayCount: Int32(names.count))
            for (i, n) in names.enumerated() { lua.push(n); lua.rawSet(-2, index: Int64(i + 1)) }
            return 1
        }
    }

    /// fs.exists(path) -> boolean
    static let exists: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var st = Glibc.stat()
            lua.push(lstat(try lua.checkString(1), &st) == 0)
            return 1
        }
    }

    /// fs.mkdir(path [, mode]) -> true or nil, err (parents too; existing directories are fine)
    static let mkdirP: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let mode = mode_t(try lua.optInteger(2, 0o755))
            if lua.dryRun {
                lua.vm.recordWould("mkdir -p \(path)")
                lua.push(true)
                return 1
            }
            var cur = path.hasPrefix("/") ? "" : "."
            for part in path.split(separator: "/") {
                cur += "/" + part
                if mkdir(cur, mode) != 0 && errno != EEXIST { return errnoFailure(lua, cur, "cannot create directory") }
            }
            lua.push(true)
            return 1
        }
    }
}
