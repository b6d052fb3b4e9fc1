import Glibc
import LuaRuntime
import Modules

/// opsh list, help, eject, config.
enum Commands {
    static func list(_ args: [String], _ options: Options) -> Int32 {
        var category: String?
        var json = options.json, guide = false, markdown = false
        for a in args {
            switch a {
            case "--json": json = true
            case "--guide": guide = true
            case "--markdown": markdown = true
            default:
                if a.hasPrefix("-") { return CLI.usageError("list: unknown flag \(a)") }
                category = a
            }
        }
        if markdown && !guide { return CLI.usageError("list: --markdown goes with --guide") }
        guard let session = CLI.session(options) else { return 3 }
        defer { session.vm.close() }
        let lua = session.vm.main
        do {
            try session.vm.require("opsh.engine")
            _ = lua.rawGet(-1, field: "list")
            let entries = session.catalog.procedures()
            lua.newTable(arrayCount: Int32(entries.count))
            for (k, e) in entries.enumerated() {
                lua.newTable(hashCount: 5)
                lua.push(e.name); lua.rawSet(-2, field: "name")
                lua.push(e.origin); lua.rawSet(-2, field: "origin")
                lua.push(e.path); lua.rawSet(-2, field: "path")
                lua.push(e.chunkName); lua.rawSet(-2, field: "chunkname")
                (try? e.withSource { lua.push(bytes: $0) }) ?? lua.push("")
                lua.rawSet(-2, field: "source")
                lua.rawSet(-2, index: Int64(k + 1))
            }
            if let category { lua.push(category) } else { lua.pushNil() }
            lua.push(json)
            if guide { lua.push(markdown ? "markdown" : json ? "json" : "text") } else { lua.pushNil() }
            try session.vm.pcall(nargs: 4, nresults: 1)
            return Int32(truncatingIfNeeded: lua.toInteger(-1) ?? 3)
        } catch {
            writeStderr("opsh: \(error.message)\n")
            return 3
        }
    }

    static func help(_ name: String?, _ options: Options) -> Int32 {
        guard let name else {
            print(Options.usage)
            print("\nmodules (opsh help MODULE): " + Catalog.documentedModules.joined(separator: ", "))
            return 0
        }
        if let doc = Catalog.moduleDoc(name) {
            print(ModuleDocs.render(name, doc.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }), terminator: "")
            return 0
        }
        guard let session = CLI.session(options) else { return 3 }
        defer { session.vm.close() }
        guard let entry = session.catalog.procedure(name) else {
            writeStderr("opsh: no procedure or module named '\(name)' (opsh list shows procedures; modules: \(Catalog.documentedModules.joined(separator: ", ")))\n")
            return 3
        }
        let lua = session.vm.main
        do {
            try session.vm.require("opsh.engine")
            _ = lua.rawGet(-1, field: "help")
            lua.push(entry.name)
            try session.load(entry)
            try session.vm.pcall(nargs: 2, nresults: 1)
            return Int32(truncatingIfNeeded: lua.toInteger(-1) ?? 3)
        } catch {
            writeStderr("opsh: \(error.message)\n")
            return 3
        }
    }

    /// Copies a built-in procedure or stdlib module into the user's scripts directory
    /// (or --to DIR), where it then overrides the built-in.
    static func eject(_ args: [String], _ options: Options) -> Int32 {
        var name: String?
        var target = Catalog.userScriptsDirectory
        var force = false
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--force": force = true
            case "--to":
                i += 1
                guard i < args.count else { return CLI.usageError("eject: --to needs a directory") }
                target = args[i]
            default:
                if args[i].hasPrefix("-") { return CLI.usageError("eject: unknown flag \(args[i])") }
                name = args[i]
            }
            i += 1
        }
        guard let name else { return CLI.usageError("eject needs a procedure or module name") }
        let rel: String
        let source: StaticString
        if let f = Catalog.builtin("lua/" + name + ".lua") {
            rel = name + ".lua"; source = f.source
        } else if let f = Catalog.builtin("stdlib/" + name.replacingDots() + ".lua") {
            rel = name.replacingDots() + ".lua"; source = f.source
        } else {
            writeStderr("opsh: no built-in procedure or module named '\(name)'\n")
            return 3
        }
        let dest = target + "/" + rel
        if fileExists(dest) && !force {
            writeStderr("opsh: \(dest) exists; it already overrides the built-in (use --force to overwrite it)\n")
            return 3
        }
        do {
            if let slash = dest.lastIndex(of: "/") { try makeDirectories(String(dest[..<slash])) }
            try writeFileAtomically(dest, source.withUTF8Buffer { Array($0) })
        } catch {
            writeStderr("opsh: \(error)\n")
            return 3
        }
        print(dest)
        return 0
    }

    static func config(_ args: [String], _ options: Options) -> Int32 {
        var json = options.json
        for a in args {
            if a == "--json" { json = true } else { return CLI.usageError("config: unexpected argument \(a)") }
        }
        guard let session = CLI.session(options) else { return 3 }
        defer { session.vm.close() }
        do {
            try session.vm.run("""
                local config = require "opsh.config"
                local rows = config.show()
                if \(json) then
                  local json = require "opsh.json"
                  local out = json.array {}
                  for i, r in ipairs(rows) do out[i] = r end
                  io.stdout:write(json.encode(out, { pretty = true, sort_keys = true }), "\\n")
                else
                  local w = 4
                  for _, r in ipairs(rows) do if #r.key > w then w = #r.key end end
                  for _, r in ipairs(rows) do
                    io.stdout:write(string.format("%-" .. w .. "s = %s   (%s)\\n", r.key, r.value, r.source))
                  end
                end
                """, chunkName: "=(opsh config)")
            return 0
        } catch {
            writeStderr("opsh: \(error.message)\n")
            return 3
        }
    }
}

/// Renders a LuaCATS stub (stdlib/meta/...) as text for `opsh help MODULE`.
enum ModuleDocs {
    static func render(_ name: String, _ source: String) -> String {
        var out = "\(name)\n\(String(repeating: "=", count: name.count))\n"
        var doc: [String] = []
        var params: [String] = []
        var returns: [String] = []
        var fields: [String]?   // the @field lines of the @class being read
        for raw in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingSpaces()
            if line.hasPrefix("---@meta") { continue }
            // an option or result type (---@class NAME, then ---@field lines): its fields, one a line
            if let f = fields, !line.hasPrefix("---@field") {
                for field in f { out += "    " + field + "\n" }
                fields = nil
            }
            if line.hasPrefix("---@class") {
                out += "\n" + line.dropFirst(9).trimmingSpaces() + "\n"
                for d in doc where !d.isEmpty { out += "    " + d + "\n" }
                doc = []
                fields = []
            } else if line.hasPrefix("---@field") {
                fields?.append(line.dropFirst(9).trimmingSpaces())
            } else if line.hasPrefix("---@param") {
                params.append("    " + line.dropFirst(9).trimmingSpaces())
            } else if line.hasPrefix("---@return") {
                returns.append("    returns " + line.dropFirst(10).trimmingSpaces())
            } else if line.hasPrefix("---@") {
                continue
            } else if line.hasPrefix("---") {
                doc.append(String(line.dropFirst(3)).trimmingSpaces())
            } else if line.hasPrefix("function ") {
                let sig = String(line.dropFirst(9)).replacingOccurrences(of: " end", with: "")
                out += "\n" + sig + "\n"
                for d in doc where !d.isEmpty { out += "    " + d + "\n" }
                for p in params { out += p + "\n" }
                for r in returns { out += r + "\n" }
                doc = []; params = []; returns = []
            } else if line.isEmpty {
                if !doc.isEmpty && params.isEmpty && returns.isEmpty {
                    out += "\n" + doc.joined(separator: "\n") + "\n"
                    doc = []
                }
            } else if line.contains("=") && !line.hasPrefix("local") && !line.hasPrefix("return") {
                let field = line.split(separator: "=").first!.trimmingSpaces()
                out += "\n" + field + "\n"
                for d in doc where !d.isEmpty { out += "    " + d + "\n" }
                doc = []; params = []; returns = []
            }
        }
        for field in fields ?? [] { out += "    " + field + "\n" }
        return out
    }
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
