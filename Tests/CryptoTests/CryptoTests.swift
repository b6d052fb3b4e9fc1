import OpshCrypto
import Foundation
import XCTest

/// opsh's one SHA-256 and its random bytes, from Swift alone; sha256sum is the reference.
final class CryptoTests: XCTestCase {
    func testDigestMatchesTheStandardVectors() throws {
        let empty = try [UInt8]().withUnsafeBytes { b throws(CryptoError) in try SHA256.digest(b) }
        XCTAssertEqual(Hex.encode(empty), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let h = try SHA256()
        h.update(Array("a".utf8))
        h.update(Array("bc".utf8))
        XCTAssertEqual(h.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        h.update(Array("more".utf8))   // ignored once finished
        XCTAssertEqual(h.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testFileDigestAgreesWithSha256sum() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-crypto-\(getpid())").path
        defer { unlink(path) }
        // larger than one read, not a multiple of it
        let data = Data((0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try data.write(to: URL(fileURLWithPath: path))
        let (digest, bytes) = try SHA256.file(path)
        XCTAssertEqual(bytes, Int64(data.count))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let expected = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        XCTAssertEqual(Hex.encode(digest), String(expected))
    }

    func testFileErrorsNameThePath() {
        XCTAssertThrowsError(try SHA256.file("/nonexistent/opsh")) { error in
            let e = error as! CryptoError
            XCTAssertEqual(e.kind, .file)
            XCTAssertEqual(e.path, "/nonexistent/opsh")
            XCTAssertTrue(e.message.contains("No such file"), e.message)
        }
    }

    func testRandomBytes() throws {
        XCTAssertEqual(SecureRandom.bytes(0), [])
        let a = try XCTUnwrap(SecureRandom.bytes(32)), b = try XCTUnwrap(SecureRandom.bytes(32))
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b)
    }
}
