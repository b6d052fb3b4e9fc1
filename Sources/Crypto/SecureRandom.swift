import CDyn
import Glibc

/// Bytes from a CSPRNG: libcrypto's RAND_bytes, or the kernel's (/dev/urandom) without it.
public enum SecureRandom {
    /// `n` random bytes, or nil when neither source can give them.
    public static func bytes(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        if n == 0 { return out }
        if let api = opsh_crypto(), api.pointee.RAND_bytes(&out, Int32(n)) == 1 { return out }
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, n - got) }
            if r < 0 { if errno == EINTR { continue }; return nil }
            if r == 0 { return nil }
            got += r
        }
        return out
    }
}
