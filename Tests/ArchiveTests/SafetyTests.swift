import Archive
import Foundation
import OpshTestSupport
import XCTest

/// Hostile and damaged archives: every escaping member refused and named, nothing written
/// outside the target; truncation and flipped bytes detected.
final class SafetyTests: XCTestCase {
    /// Builds an archive with Python's tarfile, which writes whatever member it is told to.
    func hostile(_ members: String, format: String = "GNU_FORMAT") -> String {
        let work = T.tmp("hostile")
        let script = """
        import tarfile, io
        t = tarfile.open('\(work)/h.tar', 'w', format=tarfile.\(format))
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
        let (rc, out) = sh("python3 \(work)/mk.py")
        XCTAssertEqual(rc, 0, out)
        return "\(work)/h.tar"
    }

    func assertRefused(_ members: String, naming: String, reason: String, allowed: Set<String> = [], format: String = "GNU_FORMAT", line: UInt = #line) {
        let arch = hostile(members, format: format)
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

    /// Symlinks each harmless alone (the lexical check passes) that together lead out of the
    /// root: every link is resolved through the others, whatever order they come in.
    func testSymlinkChainsOutOfTheRootAreRefused() {
        // two hops: d/up is the root, so d/up/.. is its parent
        assertRefused("l('d/up', '..')\nl('b', 'd/up/..')", naming: "b", reason: "outside", allowed: ["d", "d/up"])
        // the same links the other way round: b is made before d/up exists, refused at the end
        assertRefused("l('b', 'd/up/..')\nl('d/up', '..')", naming: "b", reason: "outside", allowed: ["b", "d", "d/up"])
        // three hops: l3 -> p/l2/.., p/l2 -> q/l1/.., p/q/l1 -> ..
        assertRefused("l('p/q/l1', '..')\nl('p/l2', 'q/l1/..')\nl('l3', 'p/l2/..')", naming: "l3", reason: "outside",
                      allowed: ["p", "p/q", "p/q/l1", "p/l2"])
        // a hard link to a symlink is the same symlink one level up, where ../.. leads out
        assertRefused("l('a/b/up', '../..')\nl('up2', 'a/b/up', tarfile.LNKTYPE)", naming: "up2", reason: "outside",
                      allowed: ["a", "a/b", "a/b/up"])
        assertRefused("l('x', 'y')\nl('y', 'x')", naming: "y", reason: "loop", allowed: ["x"])
    }

    /// Links that resolve inside the tree, through other links too, are extracted as they are.
    func testRelativeLinksInsideTheTreeAreKept() throws {
        let arch = hostile("""
            l('d/up', '..')
            l('x', 'd/up/ok.txt')
            l('c', 'x')
            l('d/e/deep', '../../d/up/d/e')
            l('d/e/same', 'd/e/deep', tarfile.LNKTYPE)
            l('b', 'd/up/d/up/d')
            """)
        let target = T.tmp("links")
        _ = try T.extract(arch, .none, into: target)
        let links = T.snapshot(target).filter { $0.value.type == "link" }.mapValues(\.link)
        XCTAssertEqual(links, ["d/up": "..", "x": "d/up/ok.txt", "c": "x", "d/e/deep": "../../d/up/d/e", "d/e/same": "../../d/up/d/e", "b": "d/up/d/up/d"])
        let real = URL(fileURLWithPath: target).resolvingSymlinksInPath().path
        for l in links.keys {
            let to = URL(fileURLWithPath: "\(target)/\(l)").resolvingSymlinksInPath().path
            XCTAssertTrue(to == real || to.hasPrefix(real + "/"), "\(l) leads to \(to)")
        }
        XCTAssertEqual(try String(contentsOfFile: "\(target)/c", encoding: .utf8), "x")
    }

    /// What an attacker tries beyond `..`: a NUL that cuts a checked symlink target short, a
    /// directory replaced by a symlink and written through, a path too long to be removed again.
    func testTruncatedTargetsReplacedDirectoriesAndLongPathsAreRefused() {
        // a pax linkpath keeps the NUL: checked as "x/../..<NUL>aaa..." (inside), it would be
        // made as "x/../.." (outside)
        assertRefused("l('n', 'x/../..\\x00' + 'a' * 120)", naming: "n", reason: "NUL", format: "PAX_FORMAT")
        assertRefused("f('s/x')\nl('s', '.')\nf('s/y')", naming: "s", reason: "directory", allowed: ["s", "s/x"])
        assertRefused("f('/'.join(['a' * 200] * 25) + '/x')", naming: "aaaa", reason: "too long")
        assertRefused("l('t', 'a/' * 300000)", naming: "t", reason: "too long", format: "PAX_FORMAT")
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
