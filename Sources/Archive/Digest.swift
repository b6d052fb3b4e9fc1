import CDyn

/// SHA-256 through libcrypto's EVP (SHA-NI where the CPU has it), for hashing archives and
/// files in the same pass that writes or reads them. Mirrors HTTP's SHA256 (Archive must not
/// depend on HTTP).
public final class Digest: @unchecked Sendable {
    let api: UnsafePointer<opsh_crypto_api>
    let ctx: OpaquePointer

    public init() throws {
        guard let api = opsh_crypto(), let ctx = api.pointee.EVP_MD_CTX_new() else {
            throw ArchiveError(.library, "SHA-256 needs libcrypto: \(String(cString: opsh_dyn_error()))")
        }
        self.api = api
        self.ctx = ctx
        _ = api.pointee.EVP_DigestInit_ex(ctx, api.pointee.EVP_sha256(), nil)
    }

    deinit { api.pointee.EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 && result == nil { _ = api.pointee.EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    var result: String?

    /// The digest as lower-case hex (what sha256sum prints). Ends this digest: later calls
    /// return the same text, later updates are ignored.
    public func hex() -> String {
        if let result { return result }
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        _ = api.pointee.EVP_DigestFinal_ex(ctx, &out, &len)
        result = Digest.hex(out)
        return result!
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s: [UInt8] = []
        s.reserveCapacity(bytes.count * 2)
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }
}
