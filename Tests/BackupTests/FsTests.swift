import Foundation
import OpshTestSupport
import XCTest

/// opsh.fs's tree and space functions against what find, du and df say.
final class FsTests: XCTestCase {
    func lua(_ script: String, flags: [String] = []) -> Run {
        Harness.run(flags + [Harness.write(script, to: "fs.lua", in: Harness.tempDir("fs"))])
    }

    func testWalkFindGlobDuDf() {
        let d = Harness.tempDir("tree").path
        _ = sh("""
        mkdir -p \(d)/logs/old \(d)/x && for i in 1 2 3; do echo log$i > \(d)/logs/app$i.log; done
        head -c 300000 /dev/urandom > \(d)/logs/big.log
        touch -d '40 days ago' \(d)/logs/app1.log \(d)/logs/old
        echo y > \(d)/logs/old/ancient.log && touch -d '50 days ago' \(d)/logs/old/ancient.log
        ln -s logs \(d)/link-to-logs
        """)
        let r = lua("""
        local fs = require "opsh.fs"
        local n = 0
        for p, st in fs.walk('\(d)') do n = n + 1; if p == "link-to-logs" then print("walk-link", st.type) end end
        print("walk", n)
        local old = fs.find('\(d)', {name = "*.log", older_than = "30d"})
        local names = {}
        for _, e in ipairs(old) do names[#names + 1] = e.path:sub(#'\(d)' + 2) end
        table.sort(names)
        print("old", table.concat(names, ","))
        print("big", #fs.find('\(d)', {larger_than = "100k", type = "file"}))
        print("glob", #fs.glob('\(d)/logs/*.log'))
        local du = fs.du('\(d)')
        print("du", du.bytes, du.files)
        local df = fs.df('\(d)')
        print("df", df.total > 0, df.used_percent >= 0 and df.used_percent <= 100)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("walk-link\tlink"), r.stdout)
        let total = sh("find \(d) -mindepth 1 | wc -l").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(r.stdout.contains("walk\t\(total)\n"), r.stdout + " vs find: " + total)
        XCTAssertTrue(r.stdout.contains("old\tlogs/app1.log,logs/old/ancient.log\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("big\t1\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("glob\t4\n"), r.stdout)
        let du = sh("du -s -B1 \(d) | cut -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(r.stdout.contains("du\t\(du)\t"), r.stdout + " vs du: " + du)
        XCTAssertTrue(r.stdout.contains("df\ttrue\ttrue"), r.stdout)
    }

    func testCopyMoveDeleteAndDryRun() {
        let d = Harness.tempDir("ops").path
        _ = sh("mkdir -p \(d)/tree/a && echo hello > \(d)/f && echo inner > \(d)/tree/a/b")
        let dry = lua("""
        local fs = require "opsh.fs"
        print(fs.copy('\(d)/f', '\(d)/g').dry_run, fs.move('\(d)/f', '\(d)/h').dry_run)
        local r = fs.delete('\(d)/tree', {recursive = true})
        print(r.dry_run, r.deleted)
        """, flags: ["--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertEqual(dry.stdout, "true\ttrue\ntrue\t3\n")
        XCTAssertTrue(dry.stderr.contains("would: delete \(d)/tree (3 entries)"), dry.stderr)
        XCTAssertEqual(sh("ls \(d)").output, "f\ntree\n")
        let r = lua("""
        local fs = require "opsh.fs"
        local c = assert(fs.copy('\(d)/f', '\(d)/g', {mode = tonumber("600", 8)}))
        print(c.bytes, c.sha256)
        assert(fs.move('\(d)/g', '\(d)/h'))
        local ok, err = fs.delete('\(d)/tree')
        print(ok, err.code)
        print(assert(fs.delete('\(d)/tree', {recursive = true})).deleted)
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let sha = sh("sha256sum \(d)/f | cut -c1-64").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(r.stdout, "6\t\(sha)\nnil\tEISDIR\n3\n")
        XCTAssertEqual(sh("ls \(d); stat -c %a \(d)/h; cat \(d)/h").output, "f\nh\n600\nhello\n")
    }
}
