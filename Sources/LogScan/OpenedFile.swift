import Glibc

/// One log file as the scan holds it: opened once (without blocking, so a FIFO named as a log
/// cannot hang the scan), checked to be a regular file, its size and identity noted so that a
/// file that grows, shrinks or is rotated while it is read can be reported afterwards.
final class OpenedFile: @unchecked Sendable {
    let path: String
    var fd: Int32 = -1
    var size: Int64 = 0
    var gzip = false
    /// Why the file was not read at all.
    var failure: String?
    private var device: UInt64 = 0
    private var inode: UInt64 = 0

    static let pieceSize: Int64 = 64 << 20

    init(path: String) { self.path = path }

    func open(_ options: ScanOptions) {
        let d = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if d < 0 {
            let e = errno
            failure = e == EACCES ? "permission denied: cannot read this log (run as a user that may)"
                : e == ENOENT ? "no such file" : "cannot open: \(String(cString: strerror(e)))"
            return
        }
        var st = stat()
        guard fstat(d, &st) == 0 else {
            failure = "cannot stat: \(String(cString: strerror(errno)))"
            Glibc.close(d)
            return
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else {
            failure = kind == S_IFDIR ? "is a directory, not a log file: skipped"
                : kind == S_IFIFO ? "is a FIFO, not a regular file: skipped (reading it could wait forever)"
                : "is not a regular file: skipped"
            Glibc.close(d)
            return
        }
        // back to blocking reads for the regular file
        _ = fcntl(d, F_SETFL, fcntl(d, F_GETFL) & ~O_NONBLOCK)
        fd = d
        size = Int64(st.st_size)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        var magic: (UInt8, UInt8) = (0, 0)
        if size >= 2 && pread(d, &magic, 2, 0) == 2 && magic.0 == 0x1f && magic.1 == 0x8b { gzip = true }
        _ = posix_fadvise(d, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    /// The reads the file needs: one stream for gzip, else the bytes it has now cut at line
    /// boundaries when it is large: one piece per thread at least, and pieces of about
    /// `pieceSize` beyond that, so that a thread the machine slows down holds back no more than
    /// one piece while the others take the rest from the queue.
    func jobs(file: Int, options: ScanOptions) -> [Job] {
        guard fd >= 0 else { return [] }
        if gzip { return [Job(file: file, kind: .gzip)] }
        let parts = size >= options.splitSize ? max(1, options.threads, Int(min(size / OpenedFile.pieceSize, 4096))) : 1
        var cuts: [Int64] = [0]
        for k in 1..<max(parts, 1) {
            guard let c = lineStart(after: size * Int64(k) / Int64(parts)), c > cuts.last!, c < size else { continue }
            cuts.append(c)
        }
        cuts.append(size)
        return (0..<(cuts.count - 1)).map { Job(file: file, kind: .range(cuts[$0], cuts[$0 + 1])) }
    }

    /// The offset just after the first newline at or after `offset`.
    private func lineStart(after offset: Int64) -> Int64? {
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        var off = offset
        while off < size {
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(off)) }
            if n <= 0 { return nil }
            if let i = buf[0..<n].firstIndex(of: 0x0A) { return off + Int64(i) + 1 }
            off += Int64(n)
        }
        return nil
    }

    /// What changed while the file was read: it grew (the new lines are not counted), or the
    /// name now points at another file (rotated: the scan read the one it had opened).
    func afterwards(lines: Int) -> [Problem] {
        guard fd >= 0 else { return [] }
        var out: [Problem] = []
        var st = stat()
        if fstat(fd, &st) == 0, !gzip, Int64(st.st_size) > size {
            out.append(Problem(file: path, line: lines, message: "grew from \(size) to \(st.st_size) bytes while it was read: lines after line \(lines) are not counted"))
        }
        var now = stat()
        if stat(path, &now) != 0 {
            out.append(Problem(file: path, line: 0, message: "was renamed or removed while it was read (rotated?): the \(lines) lines of the file as opened are counted"))
        } else if UInt64(now.st_dev) != device || UInt64(now.st_ino) != inode {
            out.append(Problem(file: path, line: 0, message: "was rotated while it was read (the name is now another file): the \(lines) lines of the file as opened are counted"))
        }
        return out
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
    }
}
