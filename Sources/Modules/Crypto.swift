import CDyn
import Glibc
import LuaRuntime

/// `opsh.crypto`: what operations need of cryptography: SHA-256 (libcrypto's EVP),
/// random bytes from a CSPRNG (RAND_bytes, falling back to getrandom(2)), hex, and a
/// comparison whose time does not depend on where the inputs differ.
public enum CryptoModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("sha256", sha256), ("sha256_hex", sha256Hex), ("random_bytes", randomBytes), ("random_hex", randomHex),
            ("hex", hex), ("constant_time_equal", constantTimeEqual), ("sha256_file", sha256File),
        ])
        return 1
    }

    /// SHA-256 of bytes through libcrypto (opened on first use); nil if it cannot be loaded.
    public static func digest(_ data: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let api = opsh_crypto(), let ctx = api.pointee.EVP_MD_CTX_new() else { return nil }
        defer { api.pointee.EVP_MD_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        guard api.pointee.EVP_DigestInit_ex(ctx, api.pointee.EVP_sha256(), nil) == 1,
              api.pointee.EVP_DigestUpdate(ctx, data.baseAddress, data.count) == 1,
              api.pointee.EVP_DigestFinal_ex(ctx, &out, &len) == 1, len == 32 else { return nil }
        return out
    }

    /// n bytes from the CSPRNG.
    public static func random(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        if n == 0 { return out }
        if let api = opsh_crypto(), api.pointee.RAND_bytes(&out, Int32(n)) == 1 { return out }
        // without libcrypto: the kernel's CSPRNG
        let fd = Glibc.open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, n - got) }
            if r < 0 { if errno == EINTR { continue }; return nil }
            if r == 0 { return nil }
            got += r
        }
        return out
    }

    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func cryptoFailure(_ lua: Lua) -> Int32 {
        lua.failure(code: "crypto", message: "libcrypto is not available: " + String(cString: opsh_dyn_error()))
    }

    /// crypto.sha256(data) -> 32 raw bytes
    static let sha256: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let d = digest(try lua.checkBytes(1)) else { return cryptoFailure(lua) }
            lua.push(bytes: d)
            return 1
        }
    }

    /// crypto.sha256_hex(data) -> 64 hex digits
    static let sha256Hex: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let d = digest(try lua.checkBytes(1)) else { return cryptoFailure(lua) }
            lua.push(hexString(d))
            return 1
        }
    }

    /// crypto.sha256_file(path) -> 64 hex digits, read in 1 MiB pieces (any size, constant memory)
    static let sha256File: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            guard let api = opsh_crypto(), let ctx = api.pointee.EVP_MD_CTX_new() else { return cryptoFailure(lua) }
            defer { api.pointee.EVP_MD_CTX_free(ctx) }
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                return lua.failure(code: "file", message: "cannot open \(path): \(String(cString: strerror(errno)))", fields: [("path", .string(path))])
            }
            defer { close(fd) }
            _ = api.pointee.EVP_DigestInit_ex(ctx, api.pointee.EVP_sha256(), nil)
            let size = 1 << 20
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = Glibc.read(fd, buffer, size)
                if n < 0 {
                    if errno == EINTR { continue }
                    return lua.failure(code: "file", message: "cannot read \(path): \(String(cString: strerror(errno)))", fields: [("path", .string(path))])
                }
                if n == 0 { break }
                _ = api.pointee.EVP_DigestUpdate(ctx, buffer, n)
            }
            var out = [UInt8](repeating: 0, count: 32)
            var len: UInt32 = 0
            guard api.pointee.EVP_DigestFinal_ex(ctx, &out, &len) == 1 else { return cryptoFailure(lua) }
            lua.push(hexString(out))
            return 1
        }
    }

    static func count(_ lua: Lua) throws(LuaRaise) -> Int {
        let n = try lua.checkInteger(1)
        guard (0...(1 << 20)).contains(n) else { throw .argument(1, "byte count must be 0..1048576") }
        return Int(n)
    }

    /// crypto.random_bytes(n) -> n bytes from the CSPRNG
    static let randomBytes: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let r = random(try count(lua)) else { return lua.failure(code: "crypto", message: "no random bytes available") }
            lua.push(bytes: r)
            return 1
        }
    }

    /// crypto.random_hex(n) -> 2n hex digits (the guide's `openssl rand -hex 32` is random_hex(32))
    static let randomHex: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let r = random(try count(lua)) else { return lua.failure(code: "crypto", message: "no random bytes available") }
            lua.push(hexString(r))
            return 1
        }
    }

    /// crypto.hex(bytes) -> lower-case hex
    static let hex: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(hexString(Array(try lua.checkBytes(1))))
            return 1
        }
    }

    /// crypto.constant_time_equal(a, b): the time depends only on the lengths.
    static let constantTimeEqual: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let a = try lua.checkBytes(1), b = try lua.checkBytes(2)
            var diff = UInt8(a.count == b.count ? 0 : 1)
            let n = max(a.count, b.count)
            for i in 0..<n {
                let x = i < a.count ? a[i] : 0
                let y = i < b.count ? b[i] : 0
                diff |= x ^ y
            }
            lua.push(diff == 0)
            return 1
        }
    }
}
