import Glibc
import LuaRuntime

/// Where procedures and stdlib modules come from (docs/ARCHITECTURE.md §4): the --path
/// directories, $OPSH_PATH, ~/.config/opsh/scripts, then the built-ins embedded
/// in the binary. The first match wins, so a local copy overrides a built-in.
public struct Catalog {
    public struct Entry {
        public let name: String        // "backup/daily" or "opsh.report"
        public let chunkName: String   // "@lua/backup/daily.lua" or "@/home/x/.config/opsh/scripts/backup/daily.lua"
        public let origin: String      // "built-in" or the directory
        public let path: String        // repository path (built-in) or file path
        let embedded: StaticString?
        var bytecode: StaticString? = nil
        public var source: [UInt8] {
            if let e = embedded { return e.withUTF8Buffer { Array($0) } }
            return (try? readFile(path)) ?? []
        }
        /// Compiles the entry and pushes the function (embedded text is not copied).
        public func load(into vm: LuaVM) throws(LuaError) {
            if let b = bytecode, b.utf8CodeUnitCount > 0,
               (try? vm.load(Catalog.unhex(b), chunkName: chunkName, binary: true)) != nil {
                return
            }
            if let e = embedded {
                try vm.load(UnsafeRawBufferPointer(start: e.utf8Start, count: e.utf8CodeUnitCount), chunkName: chunkName)
                return
            }
            let bytes: [UInt8]
            do { bytes = try readFile(path) } catch {
                throw LuaError(kind: .file, message: "cannot read \(path): \(error)")
            }
            try vm.load(bytes, chunkName: chunkName)
        }

        /// The source without copying when embedded.
        public func withSource<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
            if let e = embedded { return try body(UnsafeRawBufferPointer(start: e.utf8Start, count: e.utf8CodeUnitCount)) }
            let bytes = try readFile(path)
            return try bytes.withUnsafeBytes(body)
        }
    }

    public let directories: [String]

    public init(extraPaths: [String]) {
        var dirs = extraPaths
        if let env = getenv("OPSH_PATH") {
            dirs += String(cString: env).split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        dirs.append(Catalog.userScriptsDirectory)
        directories = dirs
    }

    public static var userScriptsDirectory: String {
        if let xdg = getenv("XDG_CONFIG_HOME"), xdg.pointee != 0 { return String(cString: xdg) + "/opsh/scripts" }
        return homeDirectory + "/.config/opsh/scripts"
    }

    static var homeDirectory: String {
        if let h = getenv("HOME") { return String(cString: h) }
        return "/root"
    }

    // MARK: procedures

    /// A procedure by name ("backup/daily"), or a path to a .lua file.
    public func procedure(_ nameOrPath: String) -> Entry? {
        if nameOrPath.hasSuffix(".lua") || nameOrPath.contains("/") && fileExists(nameOrPath) {
            guard fileExists(nameOrPath) else { return nil }
            let name = Catalog.procedureName(forPath: nameOrPath)
            return Entry(name: name, chunkName: "@" + nameOrPath, origin: "file", path: nameOrPath, embedded: nil)
        }
        guard Catalog.isValidName(nameOrPath) else { return nil }
        for dir in directories {
            let p = dir + "/" + nameOrPath + ".lua"
            if fileExists(p) { return Entry(name: nameOrPath, chunkName: "@" + p, origin: dir, path: p, embedded: nil) }
        }
        return Catalog.builtin("lua/" + nameOrPath + ".lua").map {
            Entry(name: nameOrPath, chunkName: "@" + $0.path, origin: "built-in", path: $0.path, embedded: $0.source, bytecode: $0.bytecode)
        }
    }

    /// Every procedure, overrides first (one entry per name).
    public func procedures() -> [Entry] {
        var seen = Set<String>()
        var out: [Entry] = []
        for dir in directories {
            for rel in listLuaFiles(dir) where !rel.hasPrefix("opsh/") {
                let name = String(rel.dropLast(4))
                if seen.insert(name).inserted {
                    out.append(Entry(name: name, chunkName: "@" + dir + "/" + rel, origin: dir, path: dir + "/" + rel, embedded: nil))
                }
            }
        }
        for f in EmbeddedFiles.all where f.path.hasPrefix("lua/") {
            let name = String(f.path.dropFirst(4).dropLast(4))
            if seen.insert(name).inserted {
                out.append(Entry(name: name, chunkName: "@" + f.path, origin: "built-in", path: f.path, embedded: f.source, bytecode: f.bytecode))
            }
        }
        return out
    }

    /// Procedure names close to a misspelled one (a typo or two in the whole name, or in its last
    /// part: "dayly" finds backup/daily), nearest first, at most three.
    public func suggestions(for name: String) -> [String] {
        let wanted = Array(name.lowercased().utf8)
        let scored: [(Int, String)] = procedures().compactMap { e in
            let full = Array(e.name.lowercased().utf8)
            let tail = full.split(separator: 0x2F).last.map(Array.init) ?? full
            let d = min(Catalog.editDistance(wanted, full), Catalog.editDistance(wanted, tail))
            return d <= max(2, wanted.count / 4) ? (d, e.name) : nil
        }
        return scored.sorted { $0 < $1 }.prefix(3).map(\.1)
    }

    /// Levenshtein distance, two rows.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var prev = Array(0...b.count), cur = prev
        for i in 1...a.count {
            cur[0] = i
            if !b.isEmpty {
                for j in 1...b.count {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    // MARK: stdlib modules

    /// A Lua stdlib module ("opsh.report") from the search directories or the built-ins.
    public func module(_ name: String) -> Entry? {
        let rel = name.replacingDots() + ".lua"
        for dir in directories where fileExists(dir + "/" + rel) {
            return Entry(name: name, chunkName: "@" + dir + "/" + rel, origin: dir, path: dir + "/" + rel, embedded: nil)
        }
        return Catalog.builtin("stdlib/" + rel).map {
            Entry(name: name, chunkName: "@" + $0.path, origin: "built-in", path: $0.path, embedded: $0.source, bytecode: $0.bytecode)
        }
    }

    /// The LuaCATS documentation stub of a module ("opsh.json" -> stdlib/meta/opsh/json.lua).
    public static func moduleDoc(_ name: String) -> StaticString? {
        builtin("stdlib/meta/" + name.replacingDots() + ".lua")?.source
    }

    /// Names of every documented module.
    public static var documentedModules: [String] {
        EmbeddedFiles.all.compactMap { f in
            guard f.path.hasPrefix("stdlib/meta/") else { return nil }
            return String(f.path.dropFirst("stdlib/meta/".count).dropLast(4)).replacingSlashes()
        }.sorted()
    }

    static func builtin(_ path: String) -> (path: String, source: StaticString, bytecode: StaticString)? {
        EmbeddedFiles.all.first { $0.path == path }
    }

    /// Bytes from the hex text EmbedGen wrote.
    static func unhex(_ s: StaticString) -> [UInt8] {
        let p = s.utf8Start
        let n = s.utf8CodeUnitCount / 2
        return [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            @inline(__always) func v(_ c: UInt8) -> UInt8 { c <= 0x39 ? c &- 0x30 : c &- 0x57 }
            for i in 0..<n { buf[i] = v(p[2 * i]) << 4 | v(p[2 * i + 1]) }
            count = n
        }
    }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && !s.hasPrefix("/") && !s.split(separator: "/").contains("..") &&
            s.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2F || c == 0x5F || c == 0x2D || c == 0x2E
            }
    }

    static func procedureName(forPath p: String) -> String {
        var s = Substring(p)
        if let r = s.range(of: "lua/", options: .backwards) { s = s[r.upperBound...] }
        else if let slash = s.lastIndex(of: "/") { s = s[s.index(after: slash)...] }
        return String(s.hasSuffix(".lua") ? s.dropLast(4) : s)
    }
}

extension String {
    func replacingDots() -> String { String(map { $0 == "." ? "/" : $0 }) }
    func replacingSlashes() -> String { String(map { $0 == "/" ? "." : $0 }) }
    func range(of needle: String, options: BackwardsOption) -> Range<Index>? {
        var i = endIndex
        while i > startIndex {
            i = index(before: i)
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
        }
        return nil
    }
    enum BackwardsOption { case backwards }
}

extension Substring {
    func range(of needle: String, options: String.BackwardsOption) -> Range<Index>? {
        var i = endIndex
        while i > startIndex {
            i = index(before: i)
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
        }
        return nil
    }
}
