import OpshCrypto

/// SHA-256 (Crypto's) for hashing archives and files in the same pass that writes or reads
/// them, failing with the backup engine's own error when libcrypto is missing.
public final class Digest: @unchecked Sendable {
    let sha: SHA256

    public init() throws {
        do { sha = try SHA256() } catch { throw ArchiveError(.library, "SHA-256 needs \(error.message)") }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) { sha.update(bytes) }

    public func update(_ bytes: [UInt8]) { sha.update(bytes) }

    /// The digest as lower-case hex (what sha256sum prints). Ends this digest: later calls
    /// return the same text, later updates are ignored.
    public func hex() -> String { sha.hex() }

    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
}
