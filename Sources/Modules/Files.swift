import FileSystem
import Glibc
import LuaRuntime

/// `opsh.fs`: atomic writes with a mode (secrets 0600), bounded reads, stat, directory listing,
/// mkdir -p, and (FilesTree.swift) walk, glob, find by age and size, copy, move, delete and disk
/// usage, on the FileSystem library and the backup engine's FileTree. Under --dry-run writes are
/// refused and reported in the dry-run channel ("would: ...").
public enum FilesModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("write_atomic", writeAtomic), ("read", read), ("stat", stat), ("mkdir", mkdirP), ("exists", exists), ("realpath", realpath),
            ("list", list),
            ("walk", walk), ("glob", glob), ("find", find), ("copy", copy), ("move", move), ("delete", delete),
            ("du", du), ("df", df),
        ])
        return 1
    }

    /// nil, err with err.code the errno's name and err.path.
    static func failure(_ lua: Lua, _ e: FileSystemError) -> Int32 {
        lua.failure(code: e.code, message: e.message, fields: [("path", .string(e.path))])
    }

    static func statTable(_ s: FileStatus, path: String? = nil) -> LuaValue {
        var m: [LuaValue: LuaValue] = [.string("type"): .string(s.type), .string("size"): .integer(s.size),
                                       .string("mode"): .integer(s.mode), .string("mtime"): .number(s.mtime),
                                       .string("uid"): .integer(s.uid), .string("gid"): .integer(s.gid)]
        if let path { m[.string("path")] = .string(path) }
        return .map(m)
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
            do throws(FileSystemError) { try FileSystem.writeAtomically(path, data, mode: mode) } catch { return failure(lua, error) }
            lua.push(true)
            return 1
        }
    }

    /// fs.read(path [, max_bytes]) -> contents, or nil, err (bounded: default 64 MiB)
    static let read: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let limit = Int(try lua.optInteger(2, 64 << 20))
            do throws(FileSystemError) { lua.push(bytes: try FileSystem.read(path, limit: limit)) } catch { return failure(lua, error) }
            return 1
        }
    }

    /// fs.stat(path) -> {type=, size=, mode=, mtime=, uid=, gid=} or nil, err
    static let stat: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do throws(FileSystemError) { lua.push(value: statTable(try FileSystem.status(path))) } catch { return failure(lua, error) }
            return 1
        }
    }

    /// fs.list(dir [, max_entries]) -> sorted names (no "." or ".."), or nil, err. Bounded (default 100,000).
    static let list: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let limit = Int(try lua.optInteger(2, 100_000))
            do throws(FileSystemError) { lua.push(value: .array(try FileSystem.list(path, limit: limit).map { .string($0) })) }
            catch { return failure(lua, error) }
            return 1
        }
    }

    /// fs.realpath(path) -> the absolute path without symlinks of an existing path, or nil, err
    static let realpath: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do throws(FileSystemError) { lua.push(try FileSystem.resolve(path)) } catch { return failure(lua, error) }
            return 1
        }
    }

    /// fs.exists(path) -> boolean
    static let exists: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(FileSystem.exists(try lua.checkString(1)))
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
            do throws(FileSystemError) { try FileSystem.makeDirectories(path, mode: mode) } catch { return failure(lua, error) }
            lua.push(true)
            return 1
        }
    }
}
