import Archive
import Foundation
import XCTest

/// Hostile and damaged archives: every escaping member refused and named, nothing written
/// outside the target; truncation and flipped bytes detected.
final class SafetyTests: XCTestCase {
    /// Builds an archive with Python's tarfile, which writes whatever member it is told to.
    func hostile(_ members: String) -> String {
        let work = T.tmp("hostile")
        let script = """
        import tarfile, io
        t = tarfile.open('\(work)/h.tar', 'w', format=tarfile.GNU_FORMAT)
        def f(name, data=b'x'):
            i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
        def l(name, target, kind=tarfile.SYMTYPE):
            i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; t.addfile(i)
        def d(name, kind):
            i = tarfile.TarInfo(name); i.type = kind; i.devmajor = 1; i.devminor = 3; t.addfile(i)
        f('ok.txt')
        \(members)
        t.close()
        """
        try! script.write(toFile: "\(work)/mk.py", atomically: true, encoding: .utf8)
        let (rc, out) = T.sh("python3 \(work)/mk.py")
        XCTAssertEqual(rc, 0, out)
        return "\(work)/h.tar"
    }

    func assertRefused(_ members: String, naming: String, reason: String, allowed: Set<String> = [], line: UInt = #line) {
        let arch = hostile(members)
        let parent = T.tmp("victim")
        let target = "\(parent)/target"
        mkdir(target, 0o755)
        let before = T.snapshot(parent)
        do {
            _ = try T.extract(arch, .none, into: target)
            XCTFail("extracted an archive with \(naming)", line: line)
        } catch let e as ArchiveError {
            XCTAssertEqual(e.code, .unsafeEntry, "\(e)", line: line)
            XCTAssertTrue(e.message.contains(naming), "\(e.message) should name \(naming)", line: line)
            XCTAssertTrue(e.message.contains(reason), "\(e.message) should say \(reason)", line: line)
        } catch { XCTFail("\(error)", line: line) }
        // nothing appeared next to the target; inside it only ok.txt may exist
        var after = T.snapshot(parent)
        after = after.filter { !$0.key.hasPrefix("target/") }
        XCTAssertEqual(Set(after.keys), Set(before.keys.filter { !$0.hasPrefix("target/") }), line: line)
        XCTAssertEqual(T.snapshot(target).keys.filter { $0 != "ok.txt" && !allowed.contains($0) }, [], line: line)
    }

    func testTraversalEntriesAreRefused() {
        assertRefused("f('../escape.txt')", naming: "../escape.txt", reason: "..")
        assertRefused("f('sub/../../escape.txt')", naming: "sub/../../escape.txt", reason: "..")
        assertRefused("f('/tmp/opsh-absolute-escape.txt')", naming: "/tmp/opsh-absolute-escape.txt", reason: "absolute")
        assertRefused("l('evil', '/etc')", naming: "evil", reason: "absolute")
        assertRefused("l('sub/evil', '../../..')", naming: "sub/evil", reason: "outside")
        assertRefused("l('evil', '/etc/passwd', tarfile.LNKTYPE)", naming: "evil", reason: "hard link")
        assertRefused("l('evil', '../x', tarfile.LNKTYPE)", naming: "evil", reason: "hard link")
        assertRefused("d('null', tarfile.CHRTYPE)", naming: "null", reason: "device")
        assertRefused("d('sda', tarfile.BLKTYPE)", naming: "sda", reason: "device")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/opsh-absolute-escape.txt"))
    }

    /// A symlink inside the tree is fine on its own; a later member written through it is not,
    /// even when the symlink points inside (it could be re-pointed; the path must be real).
    func testMembersThroughSymlinksAreRefused() {
        assertRefused("l('sub', '.')\nf('sub/x/../../../escape')", naming: "escape", reason: "..", allowed: ["sub"])
        assertRefused("l('sub', 'ok.txt')\nf('sub/file')", naming: "sub/file", reason: "symlink", allowed: ["sub"])
        let outside = T.tmp("outside")
        assertRefused("l('hop', '.')\nl('hop/hop2', '..')\nf('hop/hop2/x')", naming: "hop/hop2", reason: "symlink", allowed: ["hop"])
        XCTAssertEqual(T.snapshot(outside).count, 0)
    }

    func testTruncatedArchivesAreDetected() throws {
        let src = T.tmp("src")
        T.makeTree(src)
        for c in [T.Compression.none, .gzip, .zstd] {
            let work = T.tmp("trunc")
            let arch = "\(work)/a"
            try T.archive(src, to: arch, c)
            let size = (try FileManager.default.attributesOfItem(atPath: arch)[.size] as! NSNumber).intValue
            for cut in [size / 3, size / 2, size - (c == .none ? 11_500 : 100)] {  // (a plain tar ends in up to 11 KiB of zeros)
                let whole = try Data(contentsOf: URL(fileURLWithPath: arch))
                try whole.prefix(cut).write(to: URL(fileURLWithPath: "\(arch).cut"))
                let dst = T.tmp("trunc-x")
                do {
                    _ = try T.extract("\(arch).cut", c, into: dst)
                    XCTFail("\(c) archive cut at \(cut) of \(size) was read as complete")
                } catch let e as ArchiveError {
                    XCTAssertTrue([.truncated, .corrupt].contains(e.code), "\(c) \(cut): \(e)")
                    XCTAssertTrue(e.message.contains("truncated") || e.message.contains("corrupt") || e.message.contains("checksum"), e.message)
                }
            }
        }
    }

    func testFlippedByteIsDetected() throws {
        let src = T.tmp("src")
        T.makeTree(src)
        for c in [T.Compression.gzip, .zstd] {
            let work = T.tmp("flip")
            let arch = "\(work)/a"
            try T.archive(src, to: arch, c)
            var data = try Data(contentsOf: URL(fileURLWithPath: arch))
            data[data.count / 2] ^= 0x10
            try data.write(to: URL(fileURLWithPath: arch))
            let dst = T.tmp("flip-x")
            XCTAssertThrowsError(try T.extract(arch, c, into: dst), "\(c): a flipped byte went unnoticed") { e in
                XCTAssertEqual((e as? ArchiveError)?.code, .corrupt, "\(e)")
            }
        }
    }

    func testNotAnArchive() throws {
        let work = T.tmp("garbage")
        try T.random(20_000, seed: 9).write(to: URL(fileURLWithPath: "\(work)/g"))
        XCTAssertThrowsError(try T.extract("\(work)/g", .none, into: T.tmp("g-x"))) { e in
            XCTAssertEqual((e as? ArchiveError)?.code, .corrupt)
        }
        XCTAssertThrowsError(try T.extract("\(work)/g", .gzip, into: T.tmp("g-x"))) { e in
            XCTAssertEqual((e as? ArchiveError)?.code, .corrupt)
        }
    }
}
