import LuaRuntime
import Sys

/// `opsh.log`: opsh's own levelled log, to stderr, secrets redacted.
public enum LogModule {
    static let levels = ["debug", "info", "warn", "error"]

    final class Settings { var level = 1; var color = false }

    public static func configure(_ vm: LuaVM, level: String) {
        let s = Settings()
        s.level = levels.firstIndex(of: level.lowercased()) ?? 1
        s.color = Terminal.wantsColor(2)
        vm.hostObjects["log"] = s
    }

    static func settings(_ lua: Lua) -> Settings {
        if let s = lua.vm.hostObjects["log"] as? Settings { return s }
        let s = Settings()
        lua.vm.hostObjects["log"] = s
        return s
    }

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("debug", debug), ("info", info), ("warn", warn), ("error", error),
            ("level", level), ("redact", redact),
        ])
        return 1
    }

    static let debug: LuaFunction = { L in emit(Lua(L!), 0) }
    static let info: LuaFunction = { L in emit(Lua(L!), 1) }
    static let warn: LuaFunction = { L in emit(Lua(L!), 2) }
    static let error: LuaFunction = { L in emit(Lua(L!), 3) }

    /// log.info(message [, fields]): one line on stderr; fields whose names look secret show as ***.
    static func emit(_ lua: Lua, _ lvl: Int) -> Int32 {
        lua.call { lua throws(LuaRaise) in
            let s = settings(lua)
            try lua.checkAny(1)
            if !lua.isNoneOrNil(2) && lua.type(at: 2) != .table { throw .type(2, "table") }
            guard lvl >= s.level else { return 0 }
            var line = TimeModule.iso8601(TimeModule.wallSeconds(), fractionDigits: 3) + " "
            let name = levels[lvl].uppercased()
            let padded = name + String(repeating: " ", count: 5 - name.count)
            if s.color {
                let colors = ["\u{1B}[2m", "\u{1B}[36m", "\u{1B}[33m", "\u{1B}[31m"]
                line += colors[lvl] + padded + "\u{1B}[0m "
            } else {
                line += padded + " "
            }
            line += Redaction.redact(lua.toString(1) ?? lua.describe(1))
            if lua.type(at: 2) == .table {
                guard case .map(let m)? = try? lua.value(at: 2, maxDepth: 8) else {
                    throw .argument(2, "fields must be a table of name = value")
                }
                var fields: [(String, String)] = []
                for (k, v) in m {
                    let key = k.text ?? ConfigModule.display(k)
                    fields.append((key, ConfigModule.looksSecret(key) ? "***" : Redaction.redact(ConfigModule.display(v))))
                }
                for (k, v) in fields.sorted(by: { $0.0 < $1.0 }) {
                    line += " \(k)=" + (v.contains(" ") ? "\"\(v)\"" : v)
                }
            } else if !lua.isNoneOrNil(2) {
                throw .type(2, "table")
            }
            line += "\n"
            writeToStderr(line)
            return 0
        }
    }

    /// log.level([name]) -> the current level; sets it when given
    static let level: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let s = settings(lua)
            if let name = try lua.optString(1) {
                guard let i = levels.firstIndex(of: name.lowercased()) else {
                    throw .argument(1, "level must be one of debug, info, warn, error")
                }
                s.level = i
            }
            lua.push(levels[s.level])
            return 1
        }
    }

    /// log.redact(text) -> text with URL passwords and key=value secrets hidden
    static let redact: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(Redaction.redact(try lua.checkString(1)))
            return 1
        }
    }
}

/// Writes to fd 2 after flushing stdio, so log lines and report output keep their order.
public func writeToStderr(_ s: String) { Terminal.writeStderr(s) }
