import CSys
import Glibc

/// A program run where no API exists (systemctl, journalctl, apt: docs/ARCHITECTURE.md §4): started with
/// posix_spawn (no shell: the arguments are passed as they are), stdin from /dev/null, stdout
/// and stderr into anonymous memory files (memfd: the child never blocks on a full pipe, and
/// nothing waits on two pipes; each is sized and sealed at `maxBytes` + 64 KiB, so a runaway
/// writer gets write errors instead of filling memory), its end seen through a pidfd (readable when the child exits), so
/// the caller can wait on the event loop with a deadline and kill it when the time is up.
public final class SpawnedProcess {
    public let pid: pid_t
    /// Readable when the process has exited.
    public let pidfd: Int32
    let out: Int32
    let err: Int32
    public private(set) var exitStatus: Int32?
    public private(set) var exitSignal: Int32?
    var reaped = false

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public enum Kind: String, Sendable { case notFound = "not_found", denied, spawn }
        public let kind: Kind
        public let message: String
        public var description: String { message }
    }

    /// Starts `argv[0]` (looked up in PATH when it has no "/") with `argv`.
    public init(_ argv: [String], environment: [String]? = nil, directory: String? = nil, maxBytes: Int = 1 << 20) throws(Failure) {
        precondition(!argv.isEmpty)
        out = opsh_memfd("opsh-stdout")
        err = opsh_memfd("opsh-stderr")
        // 64 KiB of slack: a write that would cross the cap fails whole, so the last one before it
        // must still fit for the first maxBytes to be kept and the excess to be seen
        let cap = Int64(maxBytes) + 65536 + 1
        guard out >= 0, err >= 0, opsh_memfd_cap(out, cap) == 0, opsh_memfd_cap(err, cap) == 0 else {
            if out >= 0 { Glibc.close(out) }
            if err >= 0 { Glibc.close(err) }
            throw Failure(kind: .spawn, message: "memfd_create: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out, 1)
        posix_spawn_file_actions_adddup2(&actions, err, 2)
        if let d = directory { opsh_spawn_addchdir(&actions, d) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // the child starts with default signal dispositions and an empty mask, whatever opsh set
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var p: pid_t = 0
        let rc: Int32
        if let env = environment {
            let cenv = env.map { strdup($0) } + [nil]
            defer { for e in cenv { free(e) } }
            rc = posix_spawnp(&p, argv[0], &actions, &attr, cargs, cenv)
        } else {
            rc = posix_spawnp(&p, argv[0], &actions, &attr, cargs, environ)
        }
        guard rc == 0 else {
            Glibc.close(out); Glibc.close(err)
            let why = String(cString: strerror(rc))
            switch rc {
            case ENOENT: throw Failure(kind: .notFound, message: "\(argv[0]): not found")
            case EACCES: throw Failure(kind: .denied, message: "\(argv[0]): \(why)")
            default: throw Failure(kind: .spawn, message: "cannot run \(argv[0]): \(why)")
            }
        }
        pid = p
        pidfd = opsh_pidfd_open(p)
        if pidfd < 0 {
            // no pidfd (kernel before 5.3): reap now, blocking; the deadline cannot apply
            var status: Int32 = 0
            while waitpid(p, &status, 0) < 0 && errno == EINTR {}
            record(status)
        }
    }

    var closed = false

    deinit { close() }

    /// Kills the process if it still runs, reaps it, and closes its descriptors (pidfd, outputs):
    /// what a caller that gives up on it does. Idempotent; `output` is empty afterwards.
    public func close() {
        guard !closed else { return }
        closed = true
        kill()
        if pidfd >= 0 { Glibc.close(pidfd) }
        Glibc.close(out); Glibc.close(err)
    }

    private func record(_ status: Int32) {
        reaped = true
        if status & 0x7f == 0 { exitStatus = (status >> 8) & 0xff } else { exitSignal = status & 0x7f }
    }

    /// Reaps the process if it has exited; true when it has.
    @discardableResult
    public func poll() -> Bool {
        if reaped { return true }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { record(status); return true }
        return false
    }

    /// Ends the process now (SIGKILL) and reaps it.
    public func kill() {
        guard !reaped else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        record(status)
    }

    /// What it wrote, at most `limit` bytes of each, and whether either was longer.
    public func output(limit: Int) -> (stdout: [UInt8], stderr: [UInt8], truncated: Bool) {
        if closed { return ([], [], false) }
        func read(_ fd: Int32) -> ([UInt8], Bool) {
            // the child shares this open file's offset: it is how far the child wrote
            let size = Int(lseek(fd, 0, SEEK_CUR))
            let n = min(size, limit)
            var buf = [UInt8](repeating: 0, count: n)
            var got = 0
            while got < n {
                let r = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, n - got, off_t(got)) }
                if r <= 0 { break }
                got += r
            }
            return (Array(buf[0..<got]), size > limit)
        }
        let (o, ot) = read(out)
        let (e, et) = read(err)
        return (o, e, ot || et)
    }
}
