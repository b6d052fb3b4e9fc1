import CDyn
import Glibc

/// Where archive bytes go (a file, a compressor in front of a file) and where they come from.
/// Writers push; readers pull into the caller's buffer. Every stage streams with bounded
/// buffers, so memory does not grow with the data.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes what is buffered and ends the stream (a compressor writes its trailer).
    func finish() throws
}

public protocol ByteSource: AnyObject {
    /// Fills up to buffer.count bytes; 0 only at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Writes to a file descriptor, counting and hashing what it writes (the archive's SHA-256 is
/// computed here, in the pass that writes it).
public final class FileSink: ByteSink {
    public let fd: Int32
    public let path: String
    public private(set) var count: Int64 = 0
    public let digest: Digest?

    public init(fd: Int32, path: String, hashing: Bool = true) throws {
        self.fd = fd
        self.path = path
        self.digest = hashing ? try Digest() : nil
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        digest?.update(bytes)
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.errno("cannot write", path, errno)
            }
            off += n
        }
        count += Int64(bytes.count)
        ArchiveFaults.bytesWritten(count)
    }

    public func finish() throws {}
}

/// Reads a file descriptor, counting and optionally hashing what it reads.
public final class FileSource: ByteSource {
    public let fd: Int32
    public let path: String
    public private(set) var count: Int64 = 0
    public let digest: Digest?

    public init(fd: Int32, path: String, hashing: Bool = false) throws {
        self.fd = fd
        self.path = path
        self.digest = hashing ? try Digest() : nil
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.errno("cannot read", path, errno)
            }
            if n > 0 {
                digest?.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                count += Int64(n)
            }
            return n
        }
    }
}

/// Test hooks for fault tests (killing the process at chosen points of a backup or restore).
/// `OPSH_TEST_FAULT=name` makes the process stop itself with SIGKILL when it reaches the named
/// point; `OPSH_TEST_FAULT=bytes:N` when an archive has had N bytes written. Read once; costs
/// one branch when unset.
public enum ArchiveFaults {
    nonisolated(unsafe) static var spec: String? = {
        guard let p = getenv("OPSH_TEST_FAULT") else { return nil }
        return String(cString: p)
    }()
    nonisolated(unsafe) static var byteLimit: Int64 = {
        guard let s = spec, s.hasPrefix("bytes:"), let n = Int64(s.dropFirst(6)) else { return -1 }
        return n
    }()

    /// Called at named points ("backup.before-rename", "restore.staged", ...).
    public static func point(_ name: String) {
        if let s = spec, s == name { kill(getpid(), SIGKILL) }
    }

    static func bytesWritten(_ total: Int64) {
        if byteLimit >= 0 && total >= byteLimit { kill(getpid(), SIGKILL) }
    }
}
