/// What one archive member is, independent of how tar spells it.
public struct TarEntry: Sendable {
    public enum Kind: Sendable, Equatable {
        case file, directory, symlink, hardlink, characterDevice, blockDevice, fifo
        case other(UInt8)
    }

    /// The member's path as stored (bytes; usually UTF-8). Directories have no trailing slash.
    public var path: [UInt8]
    public var kind: Kind
    /// Symlink target, or the earlier member a hard link points at.
    public var linkTarget: [UInt8] = []
    /// The file's real size (for a sparse file: its logical size, holes included).
    public var size: Int64 = 0
    public var mode: UInt32 = 0o644
    public var uid: Int64 = 0
    public var gid: Int64 = 0
    public var userName: [UInt8] = []
    public var groupName: [UInt8] = []
    public var mtime: Int64 = 0
    public var mtimeNanoseconds: Int32 = 0
    public var deviceMajor: Int64 = 0
    public var deviceMinor: Int64 = 0
    /// Data regions of a sparse file (offset, length), in order; nil for a dense file.
    public var sparseMap: [SparseRegion]? = nil

    public init(path: [UInt8], kind: Kind) {
        self.path = path
        self.kind = kind
    }

    public var pathString: String { String(decoding: path, as: UTF8.self) }
    public var linkString: String { String(decoding: linkTarget, as: UTF8.self) }

    /// Bytes stored in the archive for this member's data (the regions of a sparse file).
    public var storedDataSize: Int64 {
        guard kind == .file else { return 0 }
        if let map = sparseMap { return map.reduce(0) { $0 + $1.length } }
        return size
    }
}

public struct SparseRegion: Sendable, Equatable {
    public var offset: Int64
    public var length: Int64
    public init(offset: Int64, length: Int64) { self.offset = offset; self.length = length }

    /// The map as pax sparse 1.0 writes it ("count\noffset\nlength\n..."). A sparse file's
    /// regions digest is the SHA-256 of this text followed by its data regions: it identifies
    /// the file's content (holes are where the map says) without hashing the holes' zeros.
    public static func digestPrefix(_ map: [SparseRegion]) -> [UInt8] {
        var text = "\(map.count)\n"
        for r in map { text += "\(r.offset)\n\(r.length)\n" }
        return Array(text.utf8)
    }
}

/// Errors of the archive engine: each names what and where, for the operator.
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case io, corrupt, truncated, unsafeEntry = "unsafe_entry", unsupported, checksum, noSpace = "no_space", library
    }
    public let code: Code
    public let message: String
    public let path: String?
    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }
    public var description: String { message }

    /// An errno failure: ENOSPC and EDQUOT become .noSpace so callers can say "disk full".
    public static func errno(_ what: String, _ path: String, _ e: Int32) -> ArchiveError {
        let text = String(cString: strerror(e))
        return ArchiveError(e == ENOSPC || e == EDQUOT ? .noSpace : .io, "\(what) \(path): \(text)", path: path)
    }
}

import Glibc
