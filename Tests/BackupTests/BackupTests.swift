import Foundation
import OpshTestSupport
import XCTest

/// opsh.backup driven through the built binary: the backup directory format, verify, restore,
/// retention, and the faults (disk full, killed at named points, flipped bytes, truncation,
/// hostile archives). Every check compares real trees byte for byte.
final class BackupTests: XCTestCase {
    var work: String = ""

    override func setUp() {
        work = Harness.tempDir("backup").path
    }

    /// A tree with text, JSON, random bytes, a sparse file, a symlink, a hard link, modes and
    /// nanosecond mtimes (`seed` changes every file's content).
    func makeTree(_ root: String, seed: Int, randomMB: Int = 2) {
        XCTAssertEqual(sh("""
        set -e
        mkdir -p '\(root)/conf/nested' '\(root)/data' '\(root)/empty'
        for i in $(seq 1 40); do echo "line $i of seed \(seed)" > '\(root)'/conf/nested/f$i.txt; done
        printf '{"seed": \(seed), "items": [1,2,3]}\\n' > '\(root)/conf/app.json'
        head -c \(randomMB)M /dev/urandom > '\(root)/data/random.bin'
        truncate -s 64M '\(root)/data/sparse.wal'; printf 'wal\(seed)' | dd of='\(root)/data/sparse.wal' bs=1 seek=1048576 conv=notrunc 2>/dev/null
        ln -sf ../conf/app.json '\(root)/data/app-link'
        ln -f '\(root)/conf/app.json' '\(root)/conf/app-hardlink.json'
        chmod 600 '\(root)/conf/app.json'; chmod 750 '\(root)/conf/nested'
        touch -h -d '2025-01-02 03:04:05.123456789' '\(root)/data/random.bin' '\(root)/data/app-link'
        """).0, 0)
    }

    /// A listing of every entry: type, mode, size, mtime (ns), link target, SHA-256 of files.
    func treeSnapshot(_ root: String) -> String {
        sh("cd '\(root)' && find . -mindepth 1 ! -type d -printf '%p %y %m %s %T@ %l\\n' | sort && find . -mindepth 1 -type d -printf '%p %y %m\\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum").1
    }

    func lua(_ script: String, env: [String: String] = [:], flags: [String] = []) -> Run {
        let path = Harness.write(script, to: "s.lua", in: Harness.tempDir("lua"))
        return Harness.run(flags + [path], env: env, timeout: 120)
    }

    func backupScript(root: String, source: String, compression: String = "gzip", tier: String = "daily") -> String {
        """
        local backup = require "opsh.backup"
        local w = assert(backup.begin{root = '\(root)', tier = '\(tier)', compression = '\(compression)'})
        assert(w:add_tree("data", '\(source)'))
        local m = assert(w:commit())
        print(m.path)
        for _, l in ipairs(m.leftovers_removed) do print("leftover " .. l) end
        """
    }

    func completeBackups(_ root: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            !$0.hasPrefix(".") && !$0.hasSuffix(".partial") && FileManager.default.fileExists(atPath: "\(root)/\($0)/manifest.json")
        }.sorted()
    }

    // MARK: the format

    func testBackupIsCheckableWithStandardTools() {
        let src = "\(work)/src"
        makeTree(src, seed: 1)
        for c in ["gzip", "zstd"] {
            let root = "\(work)/backups-\(c)"
            let r = lua(backupScript(root: root, source: src, compression: c))
            XCTAssertEqual(r.status, 0, r.stderr)
            let dir = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(completeBackups(root).count, 1)
            // sha256sum -c accepts SHA256SUMS; GNU tar extracts the archive to the same tree
            let (rc, out) = sh("cd '\(dir)' && sha256sum -c SHA256SUMS")
            XCTAssertEqual(rc, 0, out)
            XCTAssertTrue(out.contains("data.tar.\(c == "gzip" ? "gz" : "zst"): OK"), out)
            let x = "\(work)/gnu-\(c)"
            XCTAssertEqual(sh("mkdir -p '\(x)' && tar -xpf '\(dir)'/data.tar.* -C '\(x)'").0, 0)
            XCTAssertEqual(treeSnapshot(x), treeSnapshot(src))
            // the per-file listing checks the extracted tree
            let (rc2, out2) = sh("cd '\(x)' && sha256sum -c --quiet '\(dir)/data.files.sha256'")
            XCTAssertEqual(rc2, 0, out2)
            // modes: the backup directory and its files are private
            XCTAssertEqual(sh("stat -c %a '\(dir)' '\(dir)/manifest.json'").1, "700\n600\n")
            let manifest = (try? String(contentsOfFile: "\(dir)/manifest.json")) ?? ""
            XCTAssertTrue(manifest.contains("\"complete\": true"), manifest)
            XCTAssertTrue(manifest.contains("\"origin\": \"\(src)\""), manifest)
            XCTAssertTrue(manifest.contains("\"path\": \"data/sparse.wal\""), manifest)
            XCTAssertTrue(manifest.contains("\"regions_sha256\""), manifest)
        }
    }

    /// File names holding a newline, a carriage return or a backslash: the listing escapes them as
    /// GNU sha256sum does (`sha256sum -c` checks the extracted tree), verify and restore read them back.
    func testNamesWithNewlinesAndBackslashesInTheListing() {
        let src = "\(work)/src", root = "\(work)/backups", target = "\(work)/target"
        XCTAssertEqual(sh("""
        set -e
        mkdir -p '\(src)/sub'
        printf one > "\(src)/a
        b"
        printf two > '\(src)/c\\d'
        printf three > "$(printf '\(src)/sub/e\\rf')"
        printf four > '\(src)/plain'
        """).0, 0)
        let b = lua(backupScript(root: root, source: src))
        XCTAssertEqual(b.status, 0, b.stderr)
        let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let listing = (try? String(contentsOfFile: "\(dir)/data.files.sha256")) ?? ""
        XCTAssertEqual(listing.split(separator: "\n").count, 4, "one line a file: \(listing)")
        let x = "\(work)/gnu"
        XCTAssertEqual(sh("mkdir -p '\(x)' && tar -xpf '\(dir)'/data.tar.gz -C '\(x)'").0, 0)
        let (rc, out) = sh("cd '\(x)' && sha256sum -c '\(dir)/data.files.sha256'")
        XCTAssertEqual(rc, 0, out)
        let r = lua("""
        local backup = require "opsh.backup"
        local v = backup.verify('\(dir)', { depth = "archives" })
        print(v.ok, v.problems[1])
        print(assert(backup.restore('\(dir)', "data", '\(target)')).files)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\tnil\n4\n")
        XCTAssertEqual(treeSnapshot(target), treeSnapshot(src))
    }

    func testVerifyAndRestoreReplaceTheTargetByteForByte() {
        let src = "\(work)/src", target = "\(work)/target", root = "\(work)/backups"
        makeTree(src, seed: 1)
        makeTree(target, seed: 2)
        sh("echo stale > '\(target)/only-in-target'")
        let b = lua(backupScript(root: root, source: src))
        XCTAssertEqual(b.status, 0, b.stderr)
        let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let before = treeSnapshot(target)
        // --dry-run: what would change, nothing touched
        let dry = lua("""
        local backup = require "opsh.backup"
        local r = assert(backup.restore('\(dir)', "data", '\(target)'))
        print(r.dry_run, r.added_count, r.changed_count, r.removed_count, table.concat(r.removed, ","))
        """, flags: ["--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.hasPrefix("true\t0\t"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("only-in-target"), dry.stdout)
        XCTAssertTrue(dry.stderr.contains("would: restore data onto"), dry.stderr)
        XCTAssertEqual(treeSnapshot(target), before)
        let r = lua("""
        local backup = require "opsh.backup"
        local v = backup.verify('\(dir)', {depth = "archives"})
        assert(v.ok, v.problems[1])
        print("members", v.members)
        local r = assert(backup.restore('\(dir)', "data", '\(target)'))
        print("files", r.files)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("files\t43"), r.stdout)
        XCTAssertEqual(treeSnapshot(target), treeSnapshot(src))
        XCTAssertEqual(sh("ls -a '\(work)' | grep -c opsh-staging").1.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        // the sparse file stays sparse
        XCTAssertLessThan(Int(sh("du -k '\(target)/data/sparse.wal' | cut -f1").1.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1 << 30, 1024)
    }

    func testRestoreKeepOldAndNewTarget() {
        let src = "\(work)/src", root = "\(work)/backups"
        makeTree(src, seed: 3)
        let b = lua(backupScript(root: root, source: src, compression: "zstd"))
        let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        makeTree("\(work)/t", seed: 4)
        let old = treeSnapshot("\(work)/t")
        let r = lua("""
        local backup = require "opsh.backup"
        print(assert(backup.restore('\(dir)', "data", '\(work)/t', {keep_old = true})).kept_old)
        assert(backup.restore('\(dir)', "data", '\(work)/new-target'))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let kept = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(treeSnapshot(kept), old)
        XCTAssertEqual(treeSnapshot("\(work)/t"), treeSnapshot(src))
        XCTAssertEqual(treeSnapshot("\(work)/new-target"), treeSnapshot(src))
    }

    /// A tar made by another tool (as the Docker archive API returns a volume: the directory's
    /// own name first) re-archived into a backup and restored byte for byte.
    func testForeignTarIsReArchived() {
        let src = "\(work)/vol"
        makeTree(src, seed: 13)
        XCTAssertEqual(sh("tar --format=posix -C '\(work)' -cSf '\(work)/docker.tar' vol").0, 0)
        let r = lua("""
        local backup = require "opsh.backup"
        local w = assert(backup.begin{root = '\(work)/b', tier = "weekly"})
        local it = assert(w:add_tar("volume-data", '\(work)/docker.tar', {strip_components = 1, origin = "volume:data"}))
        print(it.files, #it.sparse_files)
        local m = assert(w:commit())
        assert(backup.verify(m.path, {depth = "archives"}).ok)
        assert(backup.restore(m.path, "volume-data", '\(work)/restored'))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "43\t1\n")
        XCTAssertEqual(treeSnapshot("\(work)/restored"), treeSnapshot(src))
    }

    // MARK: faults

    func testDiskFullLeavesNoBackupAndNothingBehind() throws {
        try XCTSkipIf(getuid() != 0, "mounting a tmpfs needs root")
        let src = "\(work)/src", root = "\(work)/small"
        makeTree(src, seed: 5, randomMB: 6)
        XCTAssertEqual(sh("mkdir -p '\(root)' && mount -t tmpfs -o size=3m tmpfs '\(root)'").0, 0)
        defer { sh("umount '\(root)'") }
        let r = lua("""
        local backup = require "opsh.backup"
        local w = assert(backup.begin{root = '\(root)/b', tier = "daily"})
        local ok, err = w:add_tree("data", '\(src)')
        print(ok, err and err.code, err)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("nil\tno_space\t"), r.stdout)
        XCTAssertTrue(r.stdout.contains("No space left on device"), r.stdout)
        XCTAssertEqual(completeBackups("\(root)/b"), [])
        // the failed backup removed its .partial directory: the space is free again
        XCTAssertEqual(sh("ls -A '\(root)/b'").1, ".opsh-backup.lock\n")
        // and with room, the next backup works
        let small = "\(work)/small-src"
        sh("mkdir -p '\(small)' && echo ok > '\(small)/f'")
        XCTAssertEqual(lua(backupScript(root: "\(root)/b", source: small)).status, 0)
        XCTAssertEqual(completeBackups("\(root)/b").count, 1)
    }

    func testKilledBackupNeverLooksComplete() {
        let src = "\(work)/src"
        makeTree(src, seed: 6)
        for point in ["bytes:300000", "backup.before-sync", "backup.before-renames", "backup.before-manifest", "backup.before-final-rename"] {
            let root = "\(work)/killed-\(point.replacingOccurrences(of: ":", with: "-"))"
            let r = lua(backupScript(root: root, source: src), env: ["OPSH_TEST_FAULT": point])
            XCTAssertEqual(r.status, 9, "\(point): expected SIGKILL, got \(r.status) \(r.stderr)")
            XCTAssertEqual(completeBackups(root), [], point)
            let left = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            XCTAssertTrue(left.contains { $0.hasSuffix(".partial") }, "\(point): \(left)")
            // verify refuses the leftover and list marks it incomplete
            let v = lua("""
            local backup = require "opsh.backup"
            for _, b in ipairs(backup.list('\(root)')) do
              local v = backup.verify(b.path)
              print(b.complete, v.ok, v.first_bad)
            end
            print(backup.latest('\(root)'))
            """)
            XCTAssertTrue(v.stdout.hasPrefix("false\tfalse\t"), "\(point): \(v.stdout)")
            XCTAssertTrue(v.stdout.hasSuffix("nil\n"), v.stdout)
            // the next backup removes the leftover and completes
            let again = lua(backupScript(root: root, source: src))
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertTrue(again.stdout.contains("leftover "), again.stdout)
            XCTAssertEqual(completeBackups(root).count, 1)
            XCTAssertFalse(((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).contains { $0.hasSuffix(".partial") })
        }
    }

    func testKilledRestoreLeavesOldOrNewTree() {
        let src = "\(work)/src", root = "\(work)/backups"
        makeTree(src, seed: 7)
        let b = lua(backupScript(root: root, source: src))
        let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let newTree = treeSnapshot(src)
        let restore = """
        local backup = require "opsh.backup"
        assert(backup.restore('\(dir)', "data", '\(work)/target'))
        """
        for (point, expectNew) in [("restore.before-extract", false), ("restore.extracting", false), ("restore.before-sync", false),
                                   ("restore.before-swap", false), ("restore.after-swap", true)] {
            sh("rm -rf '\(work)/target'")
            makeTree("\(work)/target", seed: 8)
            let oldTree = treeSnapshot("\(work)/target")
            let r = lua(restore, env: ["OPSH_TEST_FAULT": point])
            XCTAssertEqual(r.status, 9, "\(point): \(r.stderr)")
            XCTAssertEqual(treeSnapshot("\(work)/target"), expectNew ? newTree : oldTree, point)
            // a second restore cleans the staging leftovers and completes
            let again = lua(restore)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(treeSnapshot("\(work)/target"), newTree, point)
            XCTAssertEqual(sh("ls -A '\(work)' | grep -c 'opsh-staging'").1.trimmingCharacters(in: .whitespacesAndNewlines), "0", point)
        }
    }

    func testFlippedByteAndTruncationAreRefused() {
        let src = "\(work)/src", target = "\(work)/target"
        makeTree(src, seed: 9)
        makeTree(target, seed: 10)
        let old = treeSnapshot(target)
        for damage in ["flip", "truncate", "manifest"] {
            let root = "\(work)/b-\(damage)"
            let b = lua(backupScript(root: root, source: src))
            let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            switch damage {
            case "flip": sh("printf '\\x55' | dd of='\(dir)/data.tar.gz' bs=1 seek=100000 conv=notrunc 2>/dev/null")
            case "truncate": sh("truncate -s 50000 '\(dir)/data.tar.gz'")
            default: sh("rm '\(dir)/manifest.json'")
            }
            let r = lua("""
            local backup = require "opsh.backup"
            local v = backup.verify('\(dir)')
            print(v.ok, v.first_bad, v.problems[1])
            local ok, err = backup.restore('\(dir)', "data", '\(target)')
            print(ok, err and err.code, err)
            """)
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.count, 2, r.stdout)
            let firstBad = damage == "manifest" ? "manifest.json" : "data.tar.gz"
            XCTAssertTrue(lines.first?.hasPrefix("false\t\(firstBad)\t") ?? false, "\(damage): \(r.stdout)")
            XCTAssertTrue(lines.last?.hasPrefix("nil\tchecksum\trefusing to restore") ?? false, "\(damage): \(r.stdout)")
            XCTAssertEqual(treeSnapshot(target), old, damage)
        }
    }

    /// Rewrites item "data"'s archive of backup `dir` with Python's tarfile and reseals the
    /// backup (the item's size and SHA-256 in manifest.json and SHA256SUMS, the listing left as
    /// it is), as someone editing a backup would. `members` is Python writing to tarfile `t`
    /// with: copy(rename, edit) the original members (renamed by a function, contents replaced
    /// by {name: bytes}), f(name, data) a file, l(name, target, kind) a symlink or hard link.
    func reseal(_ dir: String, _ members: String) {
        let py = """
        import tarfile, io, json, hashlib
        src = tarfile.open('\(dir)/data.tar.gz')
        out = io.BytesIO()
        t = tarfile.open(fileobj=out, mode='w:gz', format=tarfile.PAX_FORMAT)
        def copy(rename=lambda n: n, edit={}):
            for m in src.getmembers():
                data = src.extractfile(m).read() if m.isfile() else None
                if m.name in edit: data = edit[m.name]; m.size = len(data)
                m.name = rename(m.name)
                if m.islnk(): m.linkname = rename(m.linkname)
                t.addfile(m, io.BytesIO(data) if data is not None else None)
        def f(name, data=b'x'):
            i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
        def l(name, target, kind=tarfile.SYMTYPE):
            i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; t.addfile(i)
        \(members)
        t.close()
        d = out.getvalue()
        open('\(dir)/data.tar.gz', 'wb').write(d)
        h = hashlib.sha256(d).hexdigest()
        man = json.load(open('\(dir)/manifest.json'))
        old = man['items'][0]['sha256']; man['items'][0]['sha256'] = h; man['items'][0]['bytes'] = len(d)
        json.dump(man, open('\(dir)/manifest.json', 'w'))
        s = open('\(dir)/SHA256SUMS').read().replace(old, h); open('\(dir)/SHA256SUMS', 'w').write(s)
        """
        let pyPath = Harness.write(py, to: "reseal.py", in: Harness.tempDir("py"))
        let (rc, out) = sh("python3 '\(pyPath)'")
        XCTAssertEqual(rc, 0, out)
    }

    /// A small tree without sparse files (Python's tarfile would rewrite one dense): files under
    /// b/, a hard link and a symlink.
    func makeSmallTree(_ root: String, seed: Int) {
        XCTAssertEqual(sh("""
        set -e
        mkdir -p '\(root)/b/sub'
        for i in 1 2 3; do echo "file $i of seed \(seed)" > '\(root)'/b/f$i.txt; done
        echo "nested \(seed)" > '\(root)/b/sub/g.txt'
        ln -f '\(root)/b/f1.txt' '\(root)/b/hard.txt'
        ln -sf f2.txt '\(root)/b/link'
        """).0, 0)
    }

    /// Restore compares every member with the listing under the name it is extracted as, as
    /// verify does: renamed members (`./b/...`) restore when their content is as listed, and an
    /// edited, added, dropped or retyped member refuses the restore before anything is swapped.
    func testRestoreComparesEveryMemberWithTheListing() {
        let src = "\(work)/src", target = "\(work)/target"
        makeSmallTree(src, seed: 1)
        func backup() -> String {
            let b = lua(backupScript(root: "\(work)/b", source: src))
            XCTAssertEqual(b.status, 0, b.stderr)
            return b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func verifyAndRestore(_ dir: String) -> Run {
            lua("""
            local backup = require "opsh.backup"
            local v = backup.verify('\(dir)', {depth = "archives"})
            print(v.ok, #v.problems, v.problems[1])
            local ok, err = backup.restore('\(dir)', "data", '\(target)')
            print(ok ~= nil, err and err.code, err)
            local x, xerr = backup.export('\(dir)', "data", '\(work)/export.tar')
            print(x ~= nil, xerr and xerr.code, io.open('\(work)/export.tar') ~= nil)
            """)
        }
        // renamed only: the same tree, verified and restored
        let renamed = backup()
        reseal(renamed, "copy(rename=lambda n: n if n == '.' else './' + n)")
        XCTAssertTrue(sh("tar tzf '\(renamed)/data.tar.gz'").1.contains("./b/f1.txt"))
        let r = verifyAndRestore(renamed)
        XCTAssertEqual(r.stdout, "true\t0\tnil\ntrue\tnil\tnil\ntrue\tnil\ttrue\n", r.stderr)
        XCTAssertEqual(treeSnapshot(target), treeSnapshot(src))
        let restored = treeSnapshot(target)
        for (what, members, problem) in [
            ("edited and renamed", "copy(rename=lambda n: n if n == '.' else './' + n, edit={'b/f1.txt': b'EDITED\\n'})", "b/f1.txt: SHA-256 does not match"),
            ("a file added", "copy()\nf('b/extra.txt')", "b/extra.txt: file not in the listing"),
            ("a file dropped", "src.members = [m for m in src.getmembers() if m.name != 'b/sub/g.txt']\ncopy()", "b/sub/g.txt: listed, but not in the archive"),
            ("a file replaced by a symlink", "copy()\nl('b/f3.txt', 'f2.txt')", "b/f3.txt: listed as a regular file, archived as a symlink"),
            ("a hard link to another file", "copy()\nl('b/hard.txt', 'b/f2.txt', tarfile.LNKTYPE)", "b/hard.txt: hard link to b/f2.txt"),
        ] {
            let dir = backup()
            reseal(dir, members)
            let r = verifyAndRestore(dir)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            guard lines.count == 3 else { XCTFail("\(what): \(r.stdout) \(r.stderr)"); continue }
            XCTAssertTrue(lines[0].hasPrefix("false\t"), "\(what): verify passed: \(r.stdout)")
            XCTAssertTrue(lines[1].hasPrefix("false\tchecksum\t\(problem)"), "\(what): \(r.stdout) \(r.stderr)")
            // export, for the Docker archive API, checks the same and leaves no tar behind
            XCTAssertEqual(lines[2], "false\tchecksum\tfalse", what)
            XCTAssertEqual(treeSnapshot(target), restored, what)
            XCTAssertEqual(sh("ls -A '\(work)' | grep -c 'opsh-staging'").1.trimmingCharacters(in: .whitespacesAndNewlines), "0", what)
        }
    }

    /// Symlinks that each pass the lexical check and together lead out of the target are
    /// refused, and nothing is swapped in; links that resolve inside, through others, restore.
    func testRestoreRefusesSymlinkChainsOutOfTheTarget() {
        let src = "\(work)/src", target = "\(work)/target"
        makeSmallTree(src, seed: 2)
        // legitimate: relative links, some through other links, all inside the tree
        XCTAssertEqual(sh("""
        set -e
        mkdir -p '\(src)/d/e'
        ln -s .. '\(src)/d/up'
        ln -s d/up/b/f1.txt '\(src)/x'
        ln -s x '\(src)/c'
        ln -s ../../d/up/b '\(src)/d/e/deep'
        """).0, 0)
        let b = lua(backupScript(root: "\(work)/b", source: src))
        XCTAssertEqual(b.status, 0, b.stderr)
        let good = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let r = lua("""
        local backup = require "opsh.backup"
        assert(backup.restore('\(good)', "data", '\(target)'))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(treeSnapshot(target), treeSnapshot(src))
        XCTAssertEqual(sh("cat '\(target)/c' '\(target)/d/e/deep/f2.txt'").1, "file 1 of seed 2\nfile 2 of seed 2\n")
        let restored = treeSnapshot(target)
        for (members, name) in [
            ("l('y/up', '..')\nl('z', 'y/up/..')", "z"),                                  // two hops
            ("l('z', 'y/up/..')\nl('y/up', '..')", "z"),                                  // the same, the other way round
            ("l('p/q/l1', '..')\nl('p/l2', 'q/l1/..')\nl('l3', 'p/l2/..')", "l3"),        // three hops
            ("l('a/b/up', '../..')\nl('up2', 'a/b/up', tarfile.LNKTYPE)", "up2"),         // a hard link to a symlink
        ] {
            sh("rm -rf '\(work)/b'")
            let b = lua(backupScript(root: "\(work)/b", source: src))
            let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            reseal(dir, "copy()\n" + members)
            let r = lua("""
            local backup = require "opsh.backup"
            local ok, err = backup.restore('\(dir)', "data", '\(target)')
            print(ok, err and err.code, err)
            local x, xerr = backup.export('\(dir)', "data", '\(work)/export.tar')
            print(x, xerr and xerr.code, io.open('\(work)/export.tar') ~= nil)
            """)
            XCTAssertTrue(r.stdout.hasPrefix("nil\tunsafe_entry\trefused member \(name): symlink pointing outside the target"), "\(members): \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stdout.hasSuffix("\nnil\tunsafe_entry\tfalse\n"), "export: \(members): \(r.stdout)")
            XCTAssertEqual(treeSnapshot(target), restored, members)
            XCTAssertEqual(sh("ls -A '\(work)' | grep -c 'opsh-staging'").1.trimmingCharacters(in: .whitespacesAndNewlines), "0", members)
        }
    }

    /// A backup whose checksums are consistent but whose archive holds escaping members (a
    /// tampered or hostile backup): restore refuses, names the member, and leaves the target.
    func testHostileArchiveInsideAVerifiedBackupIsRefused() {
        let src = "\(work)/src", target = "\(work)/target"
        makeTree(src, seed: 11)
        makeTree(target, seed: 12)
        let old = treeSnapshot(target)
        let b = lua(backupScript(root: "\(work)/b", source: src))
        let dir = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for member in ["../../escaped.txt", "/tmp/opsh-abs-escape.txt", "link->/etc", "link->../../.."] {
            let parts = member.components(separatedBy: "->")
            reseal(dir, "f('ok.txt', b'ok')\n" + (parts.count == 2 ? "l('\(parts[0])', '\(parts[1])')" : "f('\(member)', b'evil')"))
            let r = lua("""
            local backup = require "opsh.backup"
            local ok, err = backup.restore('\(dir)', "data", '\(target)')
            print(ok, err and err.code, err)
            """)
            XCTAssertTrue(r.stdout.hasPrefix("nil\tunsafe_entry\trefused member \(parts[0])"), "\(member): \(r.stdout) \(r.stderr)")
            XCTAssertEqual(treeSnapshot(target), old, member)
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/escaped.txt"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/opsh-abs-escape.txt"))
            XCTAssertEqual(sh("ls -A '\(work)' | grep -c 'opsh-staging'").1.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        }
    }

    // MARK: retention

    func testRetentionKeepsGFSAndNeverTheNewest() {
        let root = "\(work)/ret"
        let src = "\(work)/s"
        sh("mkdir -p '\(src)' && echo x > '\(src)/f'")
        let b = lua(backupScript(root: root, source: src))
        XCTAssertEqual(b.status, 0, b.stderr)
        let real = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // copies of the real backup dated over 100 days (manifest created_unix and names rewritten)
        let py = """
        import json, os, shutil, time
        root = '\(root)'; real = '\(real)'
        base = int(time.time())
        for d in range(1, 100):
            for h in (0, 6):
                t = base - d * 86400 - h * 3600
                name = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t)) + '-daily'
                shutil.copytree(real, os.path.join(root, name))
                p = os.path.join(root, name, 'manifest.json'); m = json.load(open(p))
                m['name'] = name; m['created_unix'] = t; json.dump(m, open(p, 'w'))
        os.makedirs(os.path.join(root, '20200101T000000Z-daily.partial'))
        """
        let pyPath = Harness.write(py, to: "ret.py", in: Harness.tempDir("py"))
        XCTAssertEqual(sh("python3 '\(pyPath)'").0, 0)
        let r = lua("""
        local backup = require "opsh.backup"
        local dry = backup.retention('\(root)', {tiers = {daily = {daily = 7, weekly = 4, monthly = 3}}, dry_run = true})
        print(#dry.kept, #dry.deleted, #backup.list('\(root)'))
        local res = assert(backup.retention('\(root)', {tiers = {daily = {daily = 7, weekly = 4, monthly = 3}}}))
        print(#res.kept, #res.deleted, #backup.list('\(root)'))
        print(res.kept[1].name, table.concat(res.kept[1].reasons, ","))
        local none = assert(backup.retention('\(root)', {tiers = {daily = {}}}))
        print(#none.kept, backup.list('\(root)')[1].name)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        // 199 complete + 1 partial; 7 days (newest + 6 more) + weeks + months overlap
        let dry = lines[0].split(separator: "\t").compactMap { Int($0) }
        XCTAssertEqual(dry[2], 200)
        XCTAssertEqual(dry[0] + dry[1], 200)
        XCTAssertGreaterThanOrEqual(dry[0], 7)
        XCTAssertLessThanOrEqual(dry[0], 14)
        let after = lines[1].split(separator: "\t").compactMap { Int($0) }
        XCTAssertEqual(after[0], dry[0])
        XCTAssertEqual(after[2], dry[0])
        XCTAssertEqual(lines[2], "\((real as NSString).lastPathComponent)\tnewest,daily,weekly,monthly")
        XCTAssertEqual(lines[3], "1\t\((real as NSString).lastPathComponent)")
    }
}
