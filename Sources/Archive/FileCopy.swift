import FileSystem
import Glibc

/// What `opsh.fs` copy and move do to files, on FileTree's copy: never a half-written target.
extension FileTree {
    /// Copies a regular file over `dst` atomically: a copy beside it (fsynced), renamed over it,
    /// and the directory fsynced. Returns the copy's SHA-256 and size.
    @discardableResult
    public static func copyAtomically(_ src: String, to dst: String, mode: mode_t? = nil) throws -> (sha256: String, bytes: Int64) {
        let dir = FileSystem.directory(of: dst)
        let tmp = "\(dir == "/" ? "" : dir)/.\(dst.split(separator: "/").last ?? "file").opsh-\(getpid())"
        unlink(tmp)
        let copied = try copyFile(src, to: tmp, mode: mode, sync: true)
        do { try rename(tmp, dst) } catch { unlink(tmp); throw error }
        syncDirectory(dir)
        return copied
    }

    /// Moves `src` to `dst`: a rename, or across filesystems (files only) a copy, fsynced and
    /// renamed into place, and then the source deleted.
    public static func move(_ src: String, to dst: String) throws {
        if Glibc.rename(src, dst) == 0 { return }
        guard errno == EXDEV else { throw ArchiveError.errno("cannot move", src, errno) }
        let tmp = dst + ".opsh-\(getpid())"
        try copyFile(src, to: tmp, sync: true)
        do { try rename(tmp, dst) } catch { unlink(tmp); throw error }
        guard unlink(src) == 0 else { throw ArchiveError.errno("copied, but cannot delete", src, errno) }
    }
}
