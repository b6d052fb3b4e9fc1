@testable import Archive
import Glibc
import XCTest

/// The backup name format, the catalog's verdicts and the retention plan, from Swift alone
/// (BackupTests.RetentionTests drives the procedures over a simulated calendar).
final class RetentionPlanTests: XCTestCase {
    func testBackupNames() {
        let n = BackupCatalog.Name("20261207T020000Z-daily")
        XCTAssertEqual(n?.created, 1_796_608_800)
        XCTAssertEqual(n?.rest, "daily")
        XCTAssertEqual(n?.partial, false)
        XCTAssertEqual(BackupCatalog.Name("20261207T020000Z-daily.partial")?.partial, true)
        XCTAssertTrue(BackupCatalog.Name("20261207T020000Z-daily-2")!.matches(tier: "daily"))
        XCTAssertTrue(BackupCatalog.Name("20261207T020000Z-pre-upgrade")!.matches(tier: "pre-upgrade"))
        XCTAssertFalse(BackupCatalog.Name("20261207T020000Z-daily")!.matches(tier: "weekly"))
        XCTAssertFalse(BackupCatalog.Name("20261207T020000Z-daily-x")!.matches(tier: "daily"))
        for bad in ["config", "logs", "20261207T020000Z", "20261207T020000Z-", "20261307T020000Z-daily", "20261207T250000Z-daily",
                    "2026120xT020000Z-daily", "20261207 020000Z-daily", "20261207T020000Z-da ily", "20261207T020000Z-.hidden", "x.partial"] {
            XCTAssertNil(BackupCatalog.Name(bad), bad)
        }
    }

    func info(_ name: String, _ tier: String, _ t: Int64) -> BackupSet.Info {
        BackupSet.Info(name: name, path: "/r/" + name, tier: tier, created: t, complete: true, bytes: 0)
    }

    /// A tier without a policy is untouched whatever the others' policies; each tier keeps its
    /// own newest; leftovers go; what is not a backup is only reported.
    func testTiersAreKeptApart() {
        let day: Int64 = 86400, t0: Int64 = 1_796_608_800
        var c = BackupCatalog.Contents()
        for d in 0..<30 { c.backups.append(info("d\(d)", "daily", t0 - Int64(d) * day)) }
        for w in 0..<5 { c.backups.append(info("w\(w)", "weekly", t0 - Int64(w) * 7 * day - 1)) }
        c.backups.append(info("e0", "emergency", t0 + 60))
        c.backups.sort { $0.created > $1.created }
        c.leftovers = [BackupSet.Info(name: "x.partial", path: "/r/x.partial", tier: "daily", created: t0, complete: false, bytes: 0)]
        c.others = [BackupCatalog.Other(name: "config", reason: "not a backup's name")]

        let p = Retention.plan(c, policies: ["daily": Retention.Policy(last: 3)], now: t0)
        XCTAssertEqual(Set(p.keep.map { $0.0.name }), ["d0", "d1", "d2"])
        XCTAssertEqual(p.keep.first { $0.0.name == "d0" }?.1, ["newest", "last 3"])
        XCTAssertEqual(Set(p.delete.map { $0.0.name }), Set((3..<30).map { "d\($0)" } + ["x.partial"]))
        XCTAssertEqual(Set(p.untouched.map { $0.name }), ["w0", "w1", "w2", "w3", "w4", "e0"])
        XCTAssertEqual(p.others.map { $0.name }, ["config"])

        // an empty policy keeps only the newest of its tier, not of the root
        let only = Retention.plan(c, policies: ["weekly": Retention.Policy()], now: t0)
        XCTAssertEqual(only.keep.map { $0.0.name }, ["w0"])
        XCTAssertEqual(Set(only.delete.map { $0.0.name }), ["w1", "w2", "w3", "w4", "x.partial"])

        // days: younger than N days, the newest whatever its age
        let age = Retention.plan(c, policies: ["daily": Retention.Policy(days: 7)], now: t0 + 100 * day)
        XCTAssertEqual(age.keep.map { $0.0.name }, ["d0"])
        let recent = Retention.plan(c, policies: ["daily": Retention.Policy(days: 7)], now: t0)
        XCTAssertEqual(Set(recent.keep.map { $0.0.name }), Set((0...7).map { "d\($0)" }))
    }

    /// GFS buckets across the end of 2026 (ISO week 53) and of a month, with the default daily policy.
    func testGrandfatherFatherSonAcrossTheYearEnd() {
        var c = BackupCatalog.Contents()
        let start: Int64 = 1_796_608_800            // Monday 2026-12-07 02:00 UTC
        for d in 0..<70 { c.backups.append(info("d\(d)", "daily", start + Int64(d) * 86400)) }
        c.backups.sort { $0.created > $1.created }
        let p = Retention.plan(c, policies: ["daily": Retention.Policy(daily: 7, weekly: 4, monthly: 6)], now: start + 70 * 86400)
        // the last day is Sunday 2027-02-14 (d69): days d63..d69; ISO weeks end on Sundays
        // d62 (Feb 7), d55 (Jan 31), d48 (Jan 24); months: Feb (d69), Jan (d55: Jan 31), Dec (d24: Dec 31)
        XCTAssertEqual(Set(p.keep.map { $0.0.name }), Set((63...69).map { "d\($0)" } + ["d62", "d55", "d48", "d24"]))
    }

    /// The catalog reads a real root: backups, leftovers and everything else with its reason.
    func testCatalogOfARealRoot() throws {
        let root = "/tmp/opsh-catalog-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileTree.remove(root) }
        let w = try BackupWriter(root: root, tier: "daily", now: 1_796_608_800)
        _ = try w.addData("note.txt", Array("hello\n".utf8))
        try w.commit()
        let real = "\(root)/20261207T020000Z-daily"
        for d in ["\(root)/mine", "\(root)/20261208T020000Z-daily", "\(root)/20261209T020000Z-daily.partial", "\(root)/tool.partial"] {
            XCTAssertEqual(mkdir(d, 0o700), 0, d)
        }
        XCTAssertEqual(symlink(real, "\(root)/20261210T020000Z-daily"), 0)
        let fd = open("\(root)/README", O_CREAT | O_WRONLY, 0o600)
        close(fd)
        let c = BackupCatalog.read(root)
        XCTAssertEqual(c.backups.map { $0.name }, ["20261207T020000Z-daily"])
        XCTAssertEqual(c.backups.first?.created, 1_796_608_800)
        XCTAssertEqual(c.leftovers.map { $0.name }, ["20261209T020000Z-daily.partial"])
        let others = Dictionary(uniqueKeysWithValues: c.others.map { ($0.name, $0.reason) })
        XCTAssertEqual(Set(others.keys), ["mine", "20261208T020000Z-daily", "tool.partial", "20261210T020000Z-daily", "README"])
        XCTAssertTrue(others["20261208T020000Z-daily"]!.contains("no readable manifest.json"))
        XCTAssertTrue(others["20261210T020000Z-daily"]!.contains("symbolic link"))
        XCTAssertTrue(others["README"]!.contains("a file"))
        XCTAssertTrue(others["mine"]!.contains("not a backup's name"))
    }
}
