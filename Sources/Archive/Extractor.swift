import Glibc

/// Extracts tar members under one root directory and never outside it. Refused, with the
/// member named: absolute paths, `..` components, paths too long to be handled again by path
/// (removed, walked, restored over), members whose parent path passes through a symlink (each
/// directory is opened with O_NOFOLLOW, so a symlink planted earlier in the archive cannot
/// redirect later members), symlinks whose target is absolute or, resolved through the other
/// links of the archive, leads out of the root (checked as each link is made, and again for all
/// of them by `finish`, since a later link can change where an earlier one leads), hard links
/// to anything outside it or to such a symlink, and device files. The root is expected to be a
/// fresh staging directory: restore swaps it in afterwards.
public final class Extractor {
    public struct Options: Sendable {
        /// Set owners from the archive (only effective as root).
        public var owners = getuid() == 0
        /// Compute each regular file's SHA-256 (holes as zeros) while writing it.
        public var hashFiles = false
        public init() {}
    }

    public struct Stats: Sendable {
        public var files = 0, directories = 0, symlinks = 0, hardlinks = 0, other = 0
        public var bytes: Int64 = 0
    }

    let rootFD: Int32
    let rootPath: String
    let options: Options
    public private(set) var stats = Stats()
    /// (path, SHA-256 hex, sparse) for each regular file written (the hash when
    /// options.hashFiles; for a sparse file its regions digest, see SparseRegion.digestPrefix).
    public var onFile: ((String, String?, Bool) -> Void)?
    var deferredDirs: [([UInt8], UInt32, Int64, Int32, Int64, Int64)] = []
    var cachedParent: [UInt8]? = nil
    var cachedFD: Int32 = -1
    let links = LinkTree()

    public init(root: String, options: Options = Options()) throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", root, errno) }
        rootFD = fd
        rootPath = root
        self.options = options
    }

    deinit {
        if cachedFD >= 0 { close(cachedFD) }
        close(rootFD)
    }

    func refuse(_ e: TarEntry, _ why: String) -> ArchiveError {
        // a name can be a megabyte long: the message shows its ends
        let name = e.path.count <= 300 ? e.pathString
            : "\(String(decoding: e.path.prefix(140), as: UTF8.self))...\(String(decoding: e.path.suffix(140), as: UTF8.self))"
        return ArchiveError(.unsafeEntry, "refused member \(name): \(why)", path: e.pathString)
    }

    /// Removes what a later member of the same name replaces (tar appends updates); never a
    /// directory, whose members would stay under a path that is then something else.
    func unlinkForReplacement(_ e: TarEntry, _ dir: Int32, _ base: [CChar]) throws {
        var st = stat()
        guard fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw refuse(e, "a directory with that name exists") }
        _ = unlinkat(dir, base, 0)
    }

    /// The member's path as clean components (no "." or empty ones); throws for unsafe paths.
    static func components(_ path: [UInt8]) -> [[UInt8]]? {
        if path.first == 0x2f { return nil }
        var out: [[UInt8]] = []
        for c in path.split(separator: 0x2f, omittingEmptySubsequences: true) {
            if c.elementsEqual([0x2e]) { continue }
            if c.elementsEqual([0x2e, 0x2e]) { return nil }
            out.append(Array(c))
        }
        return out
    }

    /// Checks a member before anything is written, and records the symlinks it makes (members
    /// are expected in archive order, each checked once).
    public func check(_ e: TarEntry) throws {
        if e.path.first == 0x2f { throw refuse(e, "absolute path") }
        guard let comps = Extractor.components(e.path) else { throw refuse(e, "path contains '..'") }
        if e.path.contains(0) { throw refuse(e, "NUL in path") }
        if comps.isEmpty && e.kind != .directory { throw refuse(e, "empty path") }
        // deeper paths could be made (one directory at a time) but not removed, walked or
        // restored over again by path: the next restore onto this target would fail
        let length = comps.reduce(comps.count) { $0 + $1.count }
        if rootPath.utf8.count + length >= Int(PATH_MAX) {
            throw refuse(e, "path too long (\(length) bytes below the target; at most \(Int(PATH_MAX) - 1 - rootPath.utf8.count))")
        }
        if let n = links.linkPrefix(comps.dropLast()) {
            throw refuse(e, "its path passes through a symlink (\(String(decoding: Array(comps[..<n].joined(separator: [0x2f])), as: UTF8.self)))")
        }
        switch e.kind {
        case .characterDevice, .blockDevice: throw refuse(e, "device file")
        case .other(let c): throw refuse(e, "unsupported member type '\(Character(Unicode.Scalar(c)))'")
        case .symlink:
            try checkLink(e, comps, target: e.linkTarget)
        case .hardlink:
            guard e.linkTarget.first != 0x2f, let tcomps = Extractor.components(e.linkTarget) else {
                throw refuse(e, "hard link pointing outside the target (\(e.linkString))")
            }
            if e.linkTarget.contains(0) { throw refuse(e, "NUL in hard link target") }
            if links.linkPrefix(tcomps.dropLast()) != nil { throw refuse(e, "hard link through a symlink (\(e.linkString))") }
            // a hard link to a symlink is that symlink again, at a path where it may lead elsewhere
            if let t = links.node(tcomps)?.target { try checkLink(e, comps, target: t) } else { links.clear(comps) }
        case .directory:
            if links.node(comps)?.target != nil { throw refuse(e, "a non-directory with that name exists") }
        default:
            links.clear(comps)
        }
    }

    /// A symlink at `comps` to `target`: relative, and inside the root however it is resolved
    /// through the links made so far.
    func checkLink(_ e: TarEntry, _ comps: [[UInt8]], target: [UInt8]) throws {
        let text = String(decoding: target, as: UTF8.self)
        if target.first == 0x2f { throw refuse(e, "symlink to an absolute path (\(text))") }
        // symlinkat takes a C string: a NUL would cut the target to another one than checked
        if target.contains(0) { throw refuse(e, "NUL in symlink target") }
        // a pax target can be a megabyte, each resolution walking it up to 40 times; the
        // kernel takes none this long
        if target.count >= Int(PATH_MAX) { throw refuse(e, "symlink target too long (\(target.count) bytes)") }
        if links.node(comps)?.children.isEmpty == false { throw refuse(e, "symlink replacing a directory") }
        links.setLink(comps, target: target)
        switch links.resolve(comps, target: target) {
        case .inside: break
        case .outside: throw refuse(e, "symlink pointing outside the target (\(text))")
        case .loop: throw refuse(e, "symlink loop (\(text))")
        }
    }

    /// Every symlink made, resolved again through all the others: a link made later can make an
    /// earlier one lead out (`b -> d/up/..` before `d/up -> ..`).
    public func checkLinks() throws {
        try links.forEach { comps, target in
            let r = links.resolve(comps, target: target)
            guard r != .inside else { return }
            let name = String(decoding: Array(comps.joined(separator: [0x2f])), as: UTF8.self)
            let why = r == .loop ? "symlink loop" : "symlink pointing outside the target"
            throw ArchiveError(.unsafeEntry, "refused member \(name): \(why) (\(String(decoding: target, as: UTF8.self))) through the archive's other symlinks", path: name)
        }
    }

    /// Opens (creating as needed) the directory holding `comps` without following symlinks.
    func parentFD(_ e: TarEntry, _ comps: ArraySlice<[UInt8]>) throws -> Int32 {
        let key = Array(comps.joined(separator: [0x2f]))
        if let c = cachedParent, c == key, cachedFD >= 0 { return cachedFD }
        var fd = dup(rootFD)
        for c in comps {
            let name = String(decoding: c, as: UTF8.self)
            var next = withCPath(c) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if next < 0 && errno == ENOENT {
                if withCPath(c, { mkdirat(fd, $0, 0o700) }) != 0 && errno != EEXIST {
                    let err = ArchiveError.errno("cannot create directory", name, errno)
                    close(fd)
                    throw err
                }
                next = withCPath(c) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            }
            if next < 0 {
                let err = errno
                close(fd)
                if err == ELOOP || err == ENOTDIR { throw refuse(e, "its path passes through a symlink or a file (\(name))") }
                throw ArchiveError.errno("cannot open directory", name, err)
            }
            close(fd)
            fd = next
        }
        if cachedFD >= 0 { close(cachedFD) }
        cachedParent = key
        cachedFD = fd
        return fd
    }

    /// Extracts every member; the first unsafe member stops it (nothing after it is written).
    public func extractAll(_ reader: TarReader) throws {
        while let e = try reader.next() {
            try extract(e, reader)
        }
        try finish()
    }

    public func extract(_ e: TarEntry, _ reader: TarReader) throws {
        try check(e)
        let comps = Extractor.components(e.path)!
        if comps.isEmpty {      // "." : the root itself
            if e.kind == .directory { deferredDirs.append((e.path, e.mode, e.mtime, e.mtimeNanoseconds, e.uid, e.gid)) ; return }
            throw refuse(e, "empty path")
        }
        let dir = try parentFD(e, comps.dropLast())
        // C strings made from the bytes: a name that is not UTF-8 is created as it is
        let base: [CChar] = comps.last!.map { CChar(bitPattern: $0) } + [0]
        switch e.kind {
        case .directory:
            if mkdirat(dir, base, 0o700) != 0 {
                let err = errno
                var st = stat()
                if !(err == EEXIST && fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFDIR) {
                    if err == EEXIST { throw refuse(e, "a non-directory with that name exists") }
                    throw ArchiveError.errno("cannot create directory", e.pathString, err)
                }
            }
            deferredDirs.append((comps.joined(separator: [0x2f]).map { $0 }, e.mode, e.mtime, e.mtimeNanoseconds, e.uid, e.gid))
            stats.directories += 1
        case .file:
            try writeFile(e, dir: dir, base: base, reader: reader)
            stats.files += 1
        case .symlink:
            try unlinkForReplacement(e, dir, base)
            guard symlinkat(e.linkTarget.map { CChar(bitPattern: $0) } + [0], dir, base) == 0 else {
                throw ArchiveError.errno("cannot create symlink", e.pathString, errno)
            }
            if options.owners { _ = fchownat(dir, base, uid_t(truncatingIfNeeded: e.uid), gid_t(truncatingIfNeeded: e.gid), AT_SYMLINK_NOFOLLOW) }
            var ts = [timespec(tv_sec: Int(e.mtime), tv_nsec: Int(e.mtimeNanoseconds)), timespec(tv_sec: Int(e.mtime), tv_nsec: Int(e.mtimeNanoseconds))]
            _ = utimensat(dir, base, &ts, AT_SYMLINK_NOFOLLOW)
            stats.symlinks += 1
        case .hardlink:
            let tcomps = Extractor.components(e.linkTarget)!
            guard !tcomps.isEmpty else { throw refuse(e, "hard link to the root") }
            // the target's directory is opened the same careful way
            let tdir = dup(try parentFD(e, tcomps.dropLast()))
            defer { close(tdir) }
            let dir2 = try parentFD(e, comps.dropLast())
            try unlinkForReplacement(e, dir2, base)
            guard linkat(tdir, tcomps.last!.map { CChar(bitPattern: $0) } + [0], dir2, base, 0) == 0 else {
                throw ArchiveError.errno("cannot create hard link to \(e.linkString) at", e.pathString, errno)
            }
            stats.hardlinks += 1
        case .fifo:
            try unlinkForReplacement(e, dir, base)
            guard mkfifoat(dir, base, mode_t(e.mode & 0o7777)) == 0 else { throw ArchiveError.errno("cannot create fifo", e.pathString, errno) }
            stats.other += 1
        default:
            throw refuse(e, "unsupported member type")
        }
    }

    func writeFile(_ e: TarEntry, dir: Int32, base: [CChar], reader: TarReader) throws {
        var fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 && errno == EEXIST {
            // a later copy of the same member: replace it, never follow it
            try unlinkForReplacement(e, dir, base)
            fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw ArchiveError.errno("cannot create", e.pathString, errno) }
        defer { close(fd) }
        let digest = options.hashFiles ? try Digest() : nil
        let sparse = e.sparseMap != nil
        var logical: Int64 = 0
        let path = e.pathString
        if let map = e.sparseMap { digest?.update(SparseRegion.digestPrefix(map)) }
        try reader.readData { (off, bytes) in
            digest?.update(bytes)
            var done = 0
            while done < bytes.count {
                let n = sparse ? pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(off) + off_t(done))
                               : Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ArchiveError.errno("cannot write", path, errno)
                }
                done += n
            }
            logical = off + Int64(bytes.count)
        }
        if sparse || logical < e.size {
            guard ftruncate(fd, off_t(e.size)) == 0 else { throw ArchiveError.errno("cannot set the size of", path, errno) }
        }
        if options.owners { _ = fchown(fd, uid_t(truncatingIfNeeded: e.uid), gid_t(truncatingIfNeeded: e.gid)) }
        _ = fchmod(fd, mode_t(e.mode & 0o7777))
        var ts = [timespec(tv_sec: Int(e.mtime), tv_nsec: Int(e.mtimeNanoseconds)), timespec(tv_sec: Int(e.mtime), tv_nsec: Int(e.mtimeNanoseconds))]
        _ = futimens(fd, &ts)
        stats.bytes += e.size
        onFile?(path, digest?.hex(), sparse)
    }

    /// After the last member: the symlinks checked all together, then directory modes and times.
    public func finish() throws {
        try checkLinks()
        try finishDirectories()
    }

    /// Directory modes and times are set last (writing into a directory changes its mtime,
    /// and a read-only directory could not be filled), deepest first.
    func finishDirectories() throws {
        if cachedFD >= 0 { close(cachedFD); cachedFD = -1; cachedParent = nil }
        for (path, mode, mtime, ns, uid, gid) in deferredDirs.reversed() {
            let fd = withCPath(path.isEmpty ? [0x2e] : path) { openat(rootFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { continue }
            if options.owners { _ = fchown(fd, uid_t(truncatingIfNeeded: uid), gid_t(truncatingIfNeeded: gid)) }
            _ = fchmod(fd, mode_t(mode & 0o7777))
            var ts = [timespec(tv_sec: Int(mtime), tv_nsec: Int(ns)), timespec(tv_sec: Int(mtime), tv_nsec: Int(ns))]
            _ = futimens(fd, &ts)
            close(fd)
        }
        deferredDirs = []
    }
}

extension TarWriter {
    static func hashZerosStatic(_ n: Int64, _ digest: Digest) {
        var left = n
        while left > 0 {
            let k = Int(min(left, Int64(zeroBlock.count)))
            digest.update(UnsafeRawBufferPointer(rebasing: zeroBlock[0..<k]))
            left -= Int64(k)
        }
    }
}
