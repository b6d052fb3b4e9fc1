import LuaRuntime
import Modules

/// A VM set up as opsh runs scripts: every module requirable (loaded when first required),
/// configuration attached, limits applied.
final class Session {
    let vm: LuaVM
    let catalog: Catalog
    let options: Options

    private(set) var configuration: Configuration!

    init(options: Options) throws {
        self.options = options
        catalog = Catalog(extraPaths: options.paths)
        vm = try LuaVM()
        vm.dryRun = options.dryRun
        vm.makeActive()
        configuration = try Configuration(flags: options.settings, configFile: options.configFile,
                                          envFile: options.envFile, evaluate: evaluateConfig)
        ConfigModule.attach(configuration.values, to: vm)
        LogModule.configure(vm, level: options.verbose ? "debug" : configuration.string("log_level") ?? "info")
        try installSearcher()
        if options.memoryLimit > 0 { vm.memoryLimit = options.memoryLimit }
    }

    /// How `require` finds opsh's modules without changing what Lua shows of it (lua5.4 has four
    /// searchers, and so does opsh): the built-ins (native modules, the embedded stdlib) answer
    /// package.preload's lookups, made when first required; the search directories come first on
    /// package.path, so a local copy of a stdlib module overrides the built-in, and a module found
    /// nowhere gets lua5.4's message, opsh's directories listed as "no file '...'".
    /// The native module named `name`: a list search (a Dictionary would cost its generic
    /// instantiation at every start, BENCHMARKS.md).
    static func native(_ name: String) -> LuaFunction? {
        if name == "opsh._host" { return HostModule.open }
        return ModuleRegistry.natives.first { $0.0 == name }?.1
    }

    private func installSearcher() throws(LuaError) {
        let lua = vm.main
        let catalog = self.catalog
        try vm.load("""
            local builtin, load_procedure, dirs = ...
            local first = {}
            for i, dir in ipairs(dirs) do first[i] = dir .. "/?.lua;" end
            package.path = table.concat(first) .. package.path
            setmetatable(package.preload, { __index = builtin })
            package.preload["opsh._catalog"] = function() return { load = load_procedure } end
            """, chunkName: "=(opsh)")
        lua.push(closure: { lua in
            // __index(package.preload, name)
            guard lua.type(at: 2) == .string, let name = lua.toString(2) else { return 0 }
            if let opener = Session.native(name) {
                lua.push(function: opener)
                return 1
            }
            // a copy in a search directory is package.path's to find
            guard let entry = catalog.module(name), entry.origin == "built-in" else { return 0 }
            do throws(LuaError) {
                try Session.load(entry, onto: lua)
            } catch {
                lua.push("error loading module '\(name)' from \(entry.path):\n\t\(error.message)")
                return LuaStatus.error
            }
            return 1
        })
        // opsh.procedure: a procedure found as `opsh run NAME` finds it, compiled, for scripts
        // that run other procedures (the daily check runs several)
        lua.push(closure: { lua in
            guard let name = lua.toString(1) else { return 0 }
            guard let entry = catalog.procedure(name) else {
                lua.pushNil()
                lua.push("no procedure named '\(name)'")
                return 2
            }
            do throws(LuaError) {
                try Session.load(entry, onto: lua)
            } catch {
                lua.pushNil()
                lua.push("cannot load \(entry.path): \(error.message)")
                return 2
            }
            lua.push(entry.path)
            return 2
        })
        lua.push(value: .array(catalog.directories.map { .string($0) }))
        try vm.pcall(nargs: 3, nresults: 0)
    }

    /// Compiles an entry and pushes the function onto `lua`'s stack: the VM compiles on its main
    /// thread, and a `require` inside a task runs on the task's coroutine.
    static func load(_ entry: Catalog.Entry, onto lua: Lua) throws(LuaError) {
        try entry.load(into: lua.vm)
        lua.move(1, from: lua.vm.main)
    }

    /// Runs config.lua (in its own environment) and returns the table it returns.
    private func evaluateConfig(_ text: String, _ path: String) throws -> [String: LuaValue] {
        let lua = vm.main
        let base = lua.top
        defer { lua.top = base }
        try vm.load(text, chunkName: "@" + path)
        lua.newTable()
        lua.newTable()
        lua.pushGlobals()
        lua.rawSet(-2, field: "__index")
        lua.setMetatable(-2)
        guard lua.setUpvalue(-2, 1) else { throw FileError(path: path, message: "cannot set the environment") }
        try vm.pcall(nargs: 0, nresults: 1)
        guard lua.type(at: -1) == .table else {
            throw FileError(path: path, message: "must return a table (got \(lua.typeName(at: -1)))")
        }
        guard case .map(let m) = try lua.value(at: -1) else { return [:] }
        var out: [String: LuaValue] = [:]
        for (k, v) in m {
            guard let key = k.text else { throw FileError(path: path, message: "keys must be strings") }
            out[key] = v
        }
        return out
    }

    /// Loads a catalog entry's chunk and pushes the function.
    func load(_ entry: Catalog.Entry) throws(LuaError) { try entry.load(into: vm) }
}

extension Configuration {
    /// The configuration exactly as `opsh run` resolves it (flags, environment, .env,
    /// config.lua, defaults), for the programs beside opsh that read the same file (opsh-agent).
    public static func resolve(configFile: String?, envFile: String?, settings: [(String, String)]) throws -> Configuration {
        var o = Options()
        o.configFile = configFile
        o.envFile = envFile
        o.settings = settings
        return try Session(options: o).configuration
    }
}

