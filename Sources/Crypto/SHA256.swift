import CDyn
import Glibc

/// libcrypto could not be opened (it is loaded on first use), or a file could not be read.
public struct CryptoError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case unavailable, file }
    public let kind: Kind
    public let message: String
    /// The file, for `.file`.
    public let path: String?
    public var description: String { message }

    static func unavailable() -> CryptoError {
        CryptoError(kind: .unavailable, message: "libcrypto is not available: " + String(cString: opsh_dyn_error()), path: nil)
    }
}

/// SHA-256 through libcrypto's EVP (SHA-NI where the CPU has it), fed incrementally: archives,
/// downloads and files are hashed in the same pass that writes or reads them. opsh's one
/// SHA-256: the backup engine, HTTP downloads and `opsh.crypto` all use it.
public final class SHA256: @unchecked Sendable {
    let api: UnsafePointer<opsh_crypto_api>
    let ctx: OpaquePointer
    var result: [UInt8]?

    public init() throws(CryptoError) {
        guard let api = opsh_crypto(), let ctx = api.pointee.EVP_MD_CTX_new() else { throw .unavailable() }
        self.api = api
        self.ctx = ctx
        _ = api.pointee.EVP_DigestInit_ex(ctx, api.pointee.EVP_sha256(), nil)
    }

    deinit { api.pointee.EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 && result == nil { _ = api.pointee.EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The 32-byte digest. Ends this hash: later calls return the same digest, later updates are ignored.
    public func finish() -> [UInt8] {
        if let result { return result }
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        _ = api.pointee.EVP_DigestFinal_ex(ctx, &out, &len)
        result = out
        return out
    }

    /// The digest as lower-case hex (what sha256sum prints); ends the hash as `finish` does.
    public func hex() -> String { Hex.encode(finish()) }

    /// The digest of `data`.
    public static func digest(_ data: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        let h = try SHA256()
        h.update(data)
        return h.finish()
    }

    /// The digest and size of a file, read once in 1 MiB pieces (any size, constant memory).
    public static func file(_ path: String) throws(CryptoError) -> (digest: [UInt8], bytes: Int64) {
        let h = try SHA256()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fileError("cannot open", path) }
        defer { close(fd) }
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw fileError("cannot read", path)
            }
            if n == 0 { break }
            h.update(UnsafeRawBufferPointer(start: buffer, count: n))
            total += Int64(n)
        }
        return (h.finish(), total)
    }

    static func fileError(_ what: String, _ path: String) -> CryptoError {
        CryptoError(kind: .file, message: "\(what) \(path): \(String(cString: strerror(errno)))", path: path)
    }
}

/// Lower-case hexadecimal.
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
