/// One tree item's archive compared with its listing (ITEM.files.sha256, and the manifest's
/// sparse_files), as verify, restore and export all compare them: every member under the name
/// it is extracted as (`./b//x` is `b/x`), whatever the archive calls it. Every regular file
/// must be listed with the SHA-256 of its content (a sparse one with its regions digest), a
/// hard link listed (if it is) with its target's, no other kind of member may stand where the
/// listing has a file, and nothing listed may be missing. An archive rebuilt with edited
/// members, renamed and resealed, fails here, member by member.
public struct ListingCheck {
    var files: [String: String] = [:]
    var sparse: [String: String] = [:]
    /// Listed names met so far as a regular file or a hard link.
    var met = Set<String>()

    /// `listing` as sha256sum writes it ("HASH  NAME" lines); `sparse` as (path, regions digest).
    public init(listing: String, sparse: [(String, String)]) {
        for line in listing.split(separator: "\n") {
            // a leading backslash: the name is escaped as GNU sha256sum escapes it (BackupWriter.sumsLine)
            let escaped = line.hasPrefix("\\")
            let parts = (escaped ? line.dropFirst() : line).split(separator: " ", maxSplits: 1)
            // the second field starts with the separator's other character (" " or "*")
            guard parts.count == 2 else { continue }
            var raw = Array(parts[1].dropFirst().utf8)
            if escaped { raw = ListingCheck.unescape(raw) }
            if let n = ListingCheck.name(raw) { files[n] = String(parts[0]) }
        }
        for (p, h) in sparse { if let n = ListingCheck.name(Array(p.utf8)) { self.sparse[n] = h } }
    }

    /// sha256sum's escapes (backslash-n, backslash-r, two backslashes) back to the bytes they stand for.
    static func unescape(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == 0x5c, i + 1 < b.count {
                switch b[i + 1] {
                case 0x6e: out.append(0x0a); i += 2; continue
                case 0x72: out.append(0x0d); i += 2; continue
                case 0x5c: out.append(0x5c); i += 2; continue
                default: break
                }
            }
            out.append(b[i])
            i += 1
        }
        return out
    }

    /// The listing of tree item `it` of the backup in `dir`.
    init(backup dir: String, item it: MValue) throws {
        guard let l = it["listing"]?.string else { throw ArchiveError(.checksum, "item \(it["name"]?.string ?? "") has no listing") }
        let sparse = (it["sparse_files"]?.array ?? []).compactMap { sf in
            sf["path"]?.string.flatMap { p in sf["regions_sha256"]?.string.map { (p, $0) } }
        }
        self.init(listing: try BackupSet.readSmall("\(dir)/\(l)", limit: 1 << 30), sparse: sparse)
    }

    /// A member's path as it is extracted, as text ("." for the root); nil when it is refused
    /// (absolute, or with a `..`).
    public static func name(_ path: [UInt8]) -> String? {
        guard let comps = Extractor.components(path) else { return nil }
        return comps.isEmpty ? "." : String(decoding: Array(comps.joined(separator: [0x2f])), as: UTF8.self)
    }

    /// What is wrong with member `e` (nil: nothing), given the SHA-256 of a regular file's
    /// content (for a sparse file its regions digest, see SparseRegion.digestPrefix).
    public mutating func check(_ e: TarEntry, hash: String?) -> String? {
        guard let n = ListingCheck.name(e.path) else { return "unsafe member name" }
        switch e.kind {
        case .file:
            let want = e.sparseMap != nil ? sparse[n] : files[n]
            guard let want else { return e.sparseMap != nil ? "sparse file not in the manifest's sparse_files" : "file not in the listing" }
            if hash != want { return e.sparseMap != nil ? "sparse file's regions digest does not match the manifest" : "SHA-256 does not match the listing" }
            met.insert(n)
        case .hardlink:
            // the link's content is its target's, checked when the target was
            guard let t = ListingCheck.name(e.linkTarget) else { return "hard link pointing outside the target" }
            if sparse[n] != nil { return "listed as a sparse file, archived as a hard link" }
            if let want = files[n] {
                guard files[t] == want, met.contains(t) else { return "hard link to \(t), which is not the file the listing has" }
                met.insert(n)
            }
        default:
            if files[n] != nil || sparse[n] != nil { return "listed as a regular file, archived as a \(ListingCheck.kindName(e.kind))" }
        }
        return nil
    }

    /// Listed names no member had (sorted).
    public func missing() -> [String] {
        (Set(files.keys).union(sparse.keys)).subtracting(met).sorted()
    }

    static func kindName(_ k: TarEntry.Kind) -> String {
        switch k {
        case .file: return "file"
        case .directory: return "directory"
        case .symlink: return "symlink"
        case .hardlink: return "hard link"
        case .characterDevice, .blockDevice: return "device"
        case .fifo: return "fifo"
        case .other: return "member of another type"
        }
    }
}

extension TarReader {
    /// Reads the current file member's data, each chunk passed on to `body` (offset, bytes),
    /// and returns its SHA-256 as a listing has it (a sparse file's regions digest).
    public func readDataHashed(_ body: (Int64, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws -> String {
        let d = try Digest()
        if let map = current?.sparseMap { d.update(SparseRegion.digestPrefix(map)) }
        try readData { off, bytes in
            d.update(bytes)
            try body(off, bytes)
        }
        return d.hex()
    }
}
