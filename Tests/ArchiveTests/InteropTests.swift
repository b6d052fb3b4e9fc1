import Archive
import Foundation
import OpshTestSupport
import XCTest

/// opsh's archives read by GNU tar 1.34, and GNU tar's archives (its default gnu format, pax,
/// ustar, every sparse version) read by opsh, compared byte for byte.
final class InteropTests: XCTestCase {
    func testGNUTarExtractsOpshArchives() throws {
        let src = T.tmp("src")
        T.makeTree(src)
        for c in [T.Compression.none, .gzip, .zstd] {
            let work = T.tmp("out-\(c)")
            let arch = "\(work)/a.tar"
            let lines = try T.archive(src, to: arch, c)
            let flag = c == .gzip ? "-z" : c == .zstd ? "--zstd" : ""
            let dst = "\(work)/x"
            mkdir(dst, 0o755)
            let (rc, out) = sh("tar \(flag) -xpf \(arch) -C \(dst)")
            XCTAssertEqual(rc, 0, "GNU tar failed on the \(c) archive: \(out)")
            XCTAssertEqual(out, "", "GNU tar warned: \(out)")
            T.assertSameTree(src, dst)
            // the sparse file comes back sparse
            XCTAssertLessThan(T.allocatedBlocks("\(dst)/sparse.wal") * 512, 1 << 20)
            // the per-file listing is what sha256sum -c accepts
            try (lines.joined(separator: "\n") + "\n").write(toFile: "\(work)/SUMS", atomically: true, encoding: .utf8)
            let (rc2, out2) = sh("sha256sum -c --quiet \(work)/SUMS", cwd: dst)
            XCTAssertEqual(rc2, 0, out2)
            XCTAssertFalse(lines.contains { $0.hasSuffix("  sparse.wal") }, "sparse files carry a regions digest instead")
            XCTAssertTrue(lines.contains { $0.hasSuffix("  random.bin") })
            // GNU tar's own listing agrees on names, sizes and kinds
            let (_, listing) = sh("tar \(flag) -tvf \(arch)")
            XCTAssertTrue(listing.contains("link-to-small -> small.txt"), listing)
            // names are sorted: the hard link's first name is the one stored with the data
            XCTAssertTrue(listing.contains("small.txt link to hardlink-to-small"), listing)
        }
    }

    func testUncompressedArchiveIsWhatGNUTarReadsAsPax() throws {
        let src = T.tmp("src")
        T.makeTree(src)
        let arch = T.tmp("a") + "/a.tar"
        try T.archive(src, to: arch, .none)
        // tar --compare (-d) checks every member against the disk: contents, modes, times, links
        let (rc, out) = sh("tar -df \(arch) -C \(src)")
        XCTAssertEqual(rc, 0, out)
        let size = (try FileManager.default.attributesOfItem(atPath: arch)[.size] as! NSNumber).intValue
        XCTAssertEqual(size % 10240, 0, "padded to GNU tar's record size")
    }

    func testOpshReadsGNUTarFormats() throws {
        let src = T.tmp("src")
        T.makeTree(src)
        let formats: [(String, String)] = [
            ("default", ""),  // GNU tar 1.34's default: --format=gnu (LongLink, base-256, old sparse)
            ("gnu", "--format=gnu"),
            ("pax00", "--format=posix --sparse-version=0.0"),
            ("pax01", "--format=posix --sparse-version=0.1"),
            ("pax10", "--format=posix --sparse-version=1.0"),
        ]
        for (name, flags) in formats {
            for c in [T.Compression.none, .gzip] {
                let work = T.tmp("gnu-\(name)")
                let arch = "\(work)/a.tar"
                let z = c == .gzip ? "-z" : ""
                let (rc, out) = sh("tar \(flags) \(z) -cSpf \(arch) -C \(src) .")
                XCTAssertEqual(rc, 0, out)
                let dst = "\(work)/x"
                mkdir(dst, 0o755)
                let hashes = try T.extract(arch, c, into: dst, hash: true)
                T.assertSameTree(src, dst, ns: name.hasPrefix("pax"))
                XCTAssertLessThan(T.allocatedBlocks("\(dst)/sparse.wal") * 512, 1 << 20, "\(name): sparse restored sparse")
                XCTAssertEqual(hashes["./random.bin"], T.sha256("\(src)/random.bin"), name)
                XCTAssertEqual(hashes["./small.txt"] ?? hashes["./hardlink-to-small"], T.sha256("\(src)/small.txt"), name)
            }
        }
    }

    func testUstarAndBase256() throws {
        let src = T.tmp("src")
        try "x".write(toFile: "\(src)/a", atomically: true, encoding: .utf8)
        try "y".write(toFile: "\(src)/b", atomically: true, encoding: .utf8)
        let work = T.tmp("ustar")
        XCTAssertEqual(sh("tar --format=ustar -cf \(work)/u.tar -C \(src) .").0, 0)
        // GNU format with an owner id beyond octal's 7 digits: written in base-256
        XCTAssertEqual(sh("tar --format=gnu --owner=:3000000 --group=:4000000 -cf \(work)/g.tar -C \(src) .").0, 0)
        let raw = try Data(contentsOf: URL(fileURLWithPath: "\(work)/g.tar"))
        XCTAssertEqual(raw[512 + 108] & 0x80, 0x80, "uid field is base-256")
        let (s, fd) = try T.source("\(work)/g.tar", .none)
        defer { close(fd) }
        let r = TarReader(source: s, name: "g.tar")
        var seen = 0
        while let e = try r.next() {
            XCTAssertEqual(e.uid, 3_000_000)
            XCTAssertEqual(e.gid, 4_000_000)
            seen += 1
        }
        XCTAssertEqual(seen, 3)
        let dst = T.tmp("ustar-x")
        _ = try T.extract("\(work)/u.tar", .none, into: dst)
        XCTAssertEqual(try String(contentsOfFile: "\(dst)/b"), "y")
    }

    func testGzipAndZstdStreamsInterop() throws {
        let work = T.tmp("z")
        var data = T.random(700_000, seed: 3)
        data.append(String(repeating: "{\"id\": 1, \"text\": \"lorem ipsum\"}\n", count: 50_000).data(using: .utf8)!)
        FileManager.default.createFile(atPath: "\(work)/in", contents: data)
        for c in [T.Compression.gzip, .zstd] {
            let out = "\(work)/out.\(c)"
            let fd = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
            let file = try FileSink(fd: fd, path: out)
            let sink: ByteSink = c == .gzip ? try GzipSink(downstream: file, threads: 3) : try ZstdSink(downstream: file, threads: 2)
            // odd-sized writes cross block boundaries
            try data.withUnsafeBytes { p in
                var off = 0
                while off < p.count { let n = min(77_777, p.count - off); try sink.write(UnsafeRawBufferPointer(rebasing: p[off..<(off + n)])); off += n }
            }
            try sink.finish()
            close(fd)
            let tool = c == .gzip ? "gzip -dc" : "zstd -qdc"
            XCTAssertEqual(sh("\(tool) \(out) | cmp - \(work)/in").0, 0, "\(c) output decodes with \(tool)")
            XCTAssertEqual(file.digest.map { _ in T.sha256(out) }, T.sha256(out))
            XCTAssertLessThan(file.count, Int64(data.count) * 7 / 10)
        }
        // reading what gzip and zstd wrote, with two gzip members back to back (pigz, cat a.gz b.gz)
        sh("gzip -c \(work)/in > \(work)/two.gz && gzip -c \(work)/in >> \(work)/two.gz && zstd -q -c \(work)/in > \(work)/in.zst")
        for (name, c, times) in [("two.gz", T.Compression.gzip, 2), ("in.zst", .zstd, 1)] {
            let (s, fd) = try T.source("\(work)/\(name)", c)
            defer { close(fd) }
            var got = Data()
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = try buf.withUnsafeMutableBytes { try s.read(into: $0) }
                if n == 0 { break }
                got.append(contentsOf: buf[0..<n])
            }
            var want = Data()
            for _ in 0..<times { want.append(data) }
            XCTAssertEqual(got, want, name)
        }
    }

    func testArchiveHashIsTheFileHash() throws {
        let src = T.tmp("src")
        T.makeTree(src)
        let arch = T.tmp("h") + "/a.tar.gz"
        let fd = open(arch, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
        let file = try FileSink(fd: fd, path: arch)
        let w = TarWriter(sink: try GzipSink(downstream: file))
        try TreeArchiver(writer: w).add(path: src, as: "data")
        try w.finish()
        close(fd)
        XCTAssertEqual(file.digest!.hex(), T.sha256(arch), "the SHA-256 computed while writing is the file's")
    }

    /// File names that are not UTF-8 are stored and restored byte for byte, both ways.
    func testNonUTF8NamesRoundTrip() throws {
        let src = T.tmp("bytes")
        XCTAssertEqual(sh("cd \(src) && mkdir \"$(printf 'd\\377ir')\" && printf 'one' > \"$(printf 'd\\377ir/f\\376\\200.txt')\" && ln -s \"$(printf 'd\\377ir')\" link").0, 0)
        let names = sh("cd \(src) && find . | sort | od -An -c").1
        let arch = T.tmp("bytes-a") + "/a.tar"
        try T.archive(src, to: arch, .none)
        let x = T.tmp("bytes-x")
        XCTAssertEqual(sh("tar -xf \(arch) -C \(x)").0, 0)
        XCTAssertEqual(sh("cd \(x) && find . | sort | od -An -c").1, names, "GNU tar sees the same bytes")
        XCTAssertEqual(sh("cat \(x)/\"$(printf 'd\\377ir/f\\376\\200.txt')\"").1, "one")
        let gnu = T.tmp("bytes-g") + "/g.tar"
        XCTAssertEqual(sh("tar -cf \(gnu) -C \(src) .").0, 0)
        let y = T.tmp("bytes-y")
        _ = try T.extract(gnu, .none, into: y)
        XCTAssertEqual(sh("cd \(y) && find . | sort | od -An -c").1, names, "opsh restores the same bytes")
    }
}
