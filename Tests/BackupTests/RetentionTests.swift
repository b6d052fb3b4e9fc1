import Foundation
import OpshTestSupport
import XCTest

/// Retention in a realistic backup root: backups of every tier beside configuration versions,
/// log archives and things opsh did not write, over a simulated calendar (the real binary run
/// under libfaketime at each scheduled time). What is kept is checked against a model of the
/// policy written here, independently of opsh's own (Foundation's ISO 8601 calendar).
final class RetentionTests: XCTestCase {
    var work = ""
    var containers: [String] = []
    var volumes: [String] = []

    override func setUp() { work = Harness.tempDir("retention").path }
    override func tearDown() { DockerEngine.cleanup(containers: containers, volumes: volumes) }

    // MARK: the neighbourhood

    /// Things in the backup root that opsh must never touch, and a fingerprint of them.
    struct Neighbourhood {
        let names: Set<String>
        let fingerprint: () -> String
    }

    func makeNeighbourhood(_ root: String, copyOf real: String? = nil) -> Neighbourhood {
        var script = """
        set -e
        mkdir -p '\(root)/operator-notes/sub' '\(root)/20261101T000000Z-daily' '\(root)/other-tool.partial' '\(root)/elsewhere'
        echo 'my own notes' > '\(root)/operator-notes/sub/n.txt'
        echo 'a file in the root' > '\(root)/README.txt'
        echo 'named like a backup, not one' > '\(root)/20261101T000000Z-daily/data.txt'
        echo 'another program is writing this' > '\(root)/other-tool.partial/x'
        ln -s elsewhere '\(root)/20261102T000000Z-daily'
        """
        var names: Set<String> = ["operator-notes", "README.txt", "20261101T000000Z-daily", "other-tool.partial",
                                  "elsewhere", "20261102T000000Z-daily"]
        if let real {
            // a renamed copy of a real backup: its manifest names another backup
            script += "\ncp -a '\(real)' '\(root)/20261103T000000Z-daily'"
            names.insert("20261103T000000Z-daily")
        }
        XCTAssertEqual(sh(script).status, 0)
        let fingerprint = { [self] in
            sh("cd '\(root)' && for n in \(names.sorted().map { "'\($0)'" }.joined(separator: " ")); do find \"$n\" | sort; find \"$n\" -type f -print0 | sort -z | xargs -0 -r sha256sum; readlink \"$n\" || true; done").output
        }
        return Neighbourhood(names: names, fingerprint: fingerprint)
    }

    /// The names in a directory (the lock file left out).
    func entries(_ dir: String) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0 != ".opsh-backup.lock" })
    }

    // MARK: the issue's reproduction

    /// config/version and logs/archive write into ROOT/config and ROOT/logs; retention of the
    /// root (the procedure and the daily backup's) must leave them, and everything else that is
    /// not a backup, exactly as they were.
    func testRetentionLeavesConfigVersionsLogArchivesAndForeignEntriesAlone() {
        let root = "\(work)/R"
        XCTAssertEqual(sh("""
        set -e
        mkdir -p '\(work)/app/config' '\(work)/logs'
        echo 'a: 1' > '\(work)/app/config/app.yml'
        echo 'ERROR boom' > '\(work)/logs/app.log'
        """).status, 0)
        for args in [["run", "config/version", "--dir", root, "--config_dir", "\(work)/app/config"],
                     ["--yes", "run", "logs/archive", "--dir", root, "--log_dir", "\(work)/logs"],
                     ["--yes", "run", "backup/daily", "--dir", root, "--config_dirs", "\(work)/app/config", "--no-retention"]] {
            let r = Harness.run(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stdout)\(r.stderr)")
        }
        let real = sh("ls -d '\(root)'/*-daily").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let hood = makeNeighbourhood(root, copyOf: real)
        let before = hood.fingerprint()
        let configBefore = sh("cd '\(root)/config' && find . | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum").output
        let logsBefore = sh("cd '\(root)/logs' && find . | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum").output
        XCTAssertTrue(configBefore.contains("-config/manifest.json"), configBefore)
        XCTAssertTrue(logsBefore.contains("-logs/manifest.json"), logsBefore)

        // even with policies that keep only the newest of each tier
        let cfg = Harness.write("return { backup = { retention = { daily = {}, weekly = {}, config = {}, logs = {} } } }",
                                to: "config.lua", in: Harness.tempDir("cfg"))
        for args in [["--config", cfg, "--yes", "run", "backup/retention", "--dir", root],
                     ["--config", cfg, "--yes", "run", "backup/daily", "--dir", root, "--config_dirs", "\(work)/app/config"],
                     ["--config", cfg, "--yes", "run", "backup/retention", "--dir", root]] {
            let r = Harness.run(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stdout)\(r.stderr)")
            XCTAssertEqual(hood.fingerprint(), before, "\(args) touched what is not a backup")
            XCTAssertEqual(sh("cd '\(root)/config' && find . | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum").output, configBefore)
            XCTAssertEqual(sh("cd '\(root)/logs' && find . | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum").output, logsBefore)
        }
        // the second daily backup replaced the first (policy: only the newest); within the same
        // second it is named TIMESTAMP-daily-2
        let dailies = entries(root).filter { $0.contains("Z-daily") && !hood.names.contains($0) }
        XCTAssertEqual(dailies.count, 1, "\(dailies)")
        XCTAssertNotEqual(dailies.first, (real as NSString).lastPathComponent)

        // the report says what it left alone, and why
        let r = Harness.run(["--config", cfg, "--json", "--yes", "run", "backup/retention", "--dir", root])
        let checks = reportChecks(r)
        let alone = checks["backup.retention.left_alone"]?["message"] as? String ?? ""
        for n in hood.names { XCTAssertTrue(alone.contains(n), "\(n) not reported: \(alone)") }
        XCTAssertTrue(alone.contains("a file, not a backup"), alone)
        XCTAssertTrue(alone.contains("no readable manifest.json"), alone)
        XCTAssertTrue(alone.contains("names another backup"), alone)
        XCTAssertTrue(alone.contains("a symbolic link"), alone)
        XCTAssertFalse(alone.contains("config ("), "ROOT/config is pruned by its own tier, not news: \(alone)")

        // backup.list agrees: only real backups, the rest as left alone
        let l = Harness.run(["-e", """
        local backup = require "opsh.backup"
        local list, others = backup.list('\(root)')
        for _, b in ipairs(list) do print("backup", b.name, b.tier, tostring(b.complete)) end
        for _, o in ipairs(others) do print("other", o.name) end
        """])
        XCTAssertEqual(l.status, 0, l.stderr)
        let backups = l.stdout.split(separator: "\n").filter { $0.hasPrefix("backup") }
        XCTAssertEqual(backups.count, 1, l.stdout)
        let others = Set(l.stdout.split(separator: "\n").filter { $0.hasPrefix("other") }.map { String($0.split(separator: "\t")[1]) })
        XCTAssertEqual(others, hood.names.union(["config", "logs"]))
    }

    /// A `.partial` of the backup name format is a leftover (deleted under the lock); another
    /// program's `x.partial` is not, by the writer's clean-up either.
    func testOnlyLeftoversOfTheBackupFormatAreCleanedUp() {
        let root = "\(work)/R"
        XCTAssertEqual(sh("""
        set -e
        mkdir -p '\(work)/src' '\(root)/20261201T020000Z-daily.partial' '\(root)/download.partial'
        echo x > '\(work)/src/f'; echo half > '\(root)/20261201T020000Z-daily.partial/config.tar.gz.partial'
        echo keep > '\(root)/download.partial/part1'
        """).status, 0)
        let r = Harness.run(["--yes", "run", "backup/daily", "--dir", root, "--config_dirs", "\(work)/src", "--no-retention"])
        XCTAssertEqual(r.status, 1, "a warning: a leftover was found " + r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("removed an interrupted backup: 20261201T020000Z-daily.partial"), r.stdout)
        XCTAssertEqual(sh("cat '\(root)/download.partial/part1'").output, "keep\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(root)/20261201T020000Z-daily.partial"))
    }

    // MARK: the calendar

    /// Ten weeks of the guide's schedule, from Monday 2026-12-07 (across a year end and ISO week 53
    /// of 2026): backup/daily every day at 02:00, backup/weekly every Sunday at 02:00 (the real
    /// Docker engine: one project container with a volume), config/version every third day,
    /// logs/archive weekly, an emergency backup on day 10; after every run the root holds exactly
    /// what the model says, and the neighbourhood is unchanged. A final backup/retention prunes
    /// configuration versions and log archives by their own policies and leaves emergency alone.
    func testTenWeeksOfTheGuidesScheduleKeepExactlyWhatThePolicySays() throws {
        try DockerEngine.require()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime") else {
            return XCTFail("faketime is not installed (scripts/setup installs it)")
        }
        let root = "\(work)/R"
        XCTAssertEqual(sh("mkdir -p '\(work)/app/config' '\(work)/logs' '\(root)' && echo 'a: 1' > '\(work)/app/config/app.yml' && echo 'INFO up' > '\(work)/logs/app.log'").status, 0)
        let hood = makeNeighbourhood(root)
        let before = hood.fingerprint()

        // one container of a compose project, with a named volume, for backup/weekly
        let project = "opshcal\(getpid())"
        let vol = "opsh-test-\(getpid())-cal-data"
        volumes.append(vol)
        let c = DockerEngine.name("cal")
        containers.append(c)
        let run = DockerEngine.docker(["run", "-d", "--name", c, "--label", "com.docker.compose.project=\(project)",
                                       "--label", "com.docker.compose.service=qdrant", "-v", "\(vol):/data", DockerEngine.image,
                                       "sh", "-c", "echo v > /data/v; trap 'exit 0' TERM; while :; do sleep 1; done"])
        XCTAssertEqual(run.status, 0, run.stderr)

        let policy = (daily: TierPolicy(daily: 5, weekly: 3, monthly: 2), weekly: TierPolicy(weekly: 3, monthly: 2),
                      config: TierPolicy(last: 4), logs: TierPolicy(days: 10))
        let cfg = Harness.write("""
        return { backup = { helper_image = '\(DockerEngine.image)', retention = {
          daily = { daily = 5, weekly = 3, monthly = 2 }, weekly = { weekly = 3, monthly = 2 },
          config = { last = 4 }, logs = { days = 10 } } } }
        """, to: "config.lua", in: Harness.tempDir("cfg"))

        var existing: [String: Date] = [:]          // backups in ROOT, by name
        var configVersions: [String: Date] = [:]    // in ROOT/config
        var logArchives: [String: Date] = [:]       // in ROOT/logs
        let start = utc(2026, 12, 7, 2, 0)          // a Monday

        /// Runs a procedure at a simulated time; returns the backups it created in `dir`.
        func at(_ time: Date, _ args: [String], in dir: String) -> [String: Date] {
            let old = entries(dir)
            let r = Harness.run(["-f", "@" + fakeTime(time), Harness.binary.path, "--config", cfg, "--yes"] + args,
                                env: ["TZ": "UTC", "FAKETIME_DONT_FAKE_MONOTONIC": "1"],
                                executable: URL(fileURLWithPath: "/usr/bin/faketime"), timeout: 180)
            XCTAssertEqual(r.status, 0, "\(fakeTime(time)) \(args): \(r.stdout)\(r.stderr)")
            var made: [String: Date] = [:]
            for n in entries(dir).subtracting(old) { made[n] = created(n) ?? time }
            return made
        }
        func expectRoot(_ when: String) {
            // ROOT/config and ROOT/logs appear with the first version and archive, and stay
            let want = Set(existing.keys).union(hood.names).union(configVersions.isEmpty ? [] : ["config"]).union(logArchives.isEmpty ? [] : ["logs"])
            let got = entries(root)
            XCTAssertEqual(got, want, "\(when): deleted \(want.subtracting(got).sorted()), kept too many \(got.subtracting(want).sorted())")
            XCTAssertEqual(hood.fingerprint(), before, "\(when): the neighbourhood changed")
            XCTAssertEqual(entries("\(root)/config"), Set(configVersions.keys), "\(when): configuration versions")
            XCTAssertEqual(entries("\(root)/logs"), Set(logArchives.keys), "\(when): log archives")
        }

        for day in 0..<70 {
            let t = start.addingTimeInterval(Double(day) * 86400)
            let sunday = Calendar.iso.component(.weekday, from: t) == 1
            let daily = at(t, ["run", "backup/daily", "--dir", root, "--config_dirs", "\(work)/app/config"], in: root)
            XCTAssertEqual(daily.count, 1, "day \(day): one new daily backup, got \(daily)")
            existing.merge(daily) { a, _ in a }
            existing = Model.afterRetention(existing, tier: "daily", policy.daily, now: t)
            expectRoot("day \(day) daily")
            if sunday {
                let weekly = at(t, ["run", "backup/weekly", "--project", project, "--dir", root, "--stop_timeout", "5"], in: root)
                XCTAssertEqual(weekly.count, 1, "day \(day): one new weekly backup, got \(weekly)")
                existing.merge(weekly) { a, _ in a }
                existing = Model.afterRetention(existing, tier: "weekly", policy.weekly, now: t)
                expectRoot("day \(day) weekly")
            }
            if day % 3 == 0 {
                configVersions.merge(at(t.addingTimeInterval(8 * 3600), ["run", "config/version", "--dir", root,
                                        "--config_dir", "\(work)/app/config", "--compose_file", "/nonexistent", "--env_file", "/nonexistent"],
                                        in: "\(root)/config")) { a, _ in a }
                expectRoot("day \(day) config/version")
            }
            if day % 7 == 3 {
                let made = at(t.addingTimeInterval(3600), ["run", "logs/archive", "--dir", root, "--log_dir", "\(work)/logs"], in: "\(root)/logs")
                logArchives.merge(made) { a, _ in a }
                logArchives = Model.afterRetention(logArchives, tier: "logs", policy.logs, now: t.addingTimeInterval(3600))
                expectRoot("day \(day) logs/archive")
            }
            if day == 10 {
                existing.merge(at(t.addingTimeInterval(12 * 3600), ["run", "backup/emergency", "--dir", root,
                                                                    "--config_dirs", "\(work)/app/config"], in: root)) { a, _ in a }
                expectRoot("day \(day) emergency")
            }
        }
        // worked out by hand for the last day, Sunday 2027-02-14: weekly keeps Feb 14, Feb 7 and Jan 31 (3 weeks;
        // the 2 months' newest are among them); daily keeps Feb 10-14 (5 days), Feb 7 and Jan 31 (3 ISO weeks, 2 months)
        XCTAssertEqual(existing.keys.filter { $0.hasSuffix("-weekly") }.sorted().map { String($0.prefix(8)) }, ["20270131", "20270207", "20270214"])
        XCTAssertEqual(existing.keys.filter { $0.hasSuffix("-daily") && !hood.names.contains($0) }.sorted().map { String($0.prefix(8)) },
                       ["20270131", "20270207", "20270210", "20270211", "20270212", "20270213", "20270214"])
        XCTAssertGreaterThan(configVersions.count, 4)

        // the nightly maintenance's retention over everything: each tier by its own policy
        let end = start.addingTimeInterval(70 * 86400 + 3 * 3600)
        _ = at(end, ["run", "backup/retention", "--dir", root], in: root)
        existing = Model.afterRetention(existing, tier: "daily", policy.daily, now: end)
        existing = Model.afterRetention(existing, tier: "weekly", policy.weekly, now: end)
        configVersions = Model.afterRetention(configVersions, tier: "config", policy.config, now: end)
        logArchives = Model.afterRetention(logArchives, tier: "logs", policy.logs, now: end)
        XCTAssertEqual(configVersions.count, 4)
        XCTAssertEqual(existing.keys.filter { $0.hasSuffix("-emergency") }.count, 1, "the emergency backup is never pruned")
        expectRoot("final backup/retention")
    }

    // MARK: restore's choice

    /// Without --date, restore never picks an emergency backup taken minutes ago (of a damaged
    /// state) unless asked, and says what it chose and why.
    func testRestoreDoesNotChooseARecentEmergencyBackupUnlessAsked() {
        let root = "\(work)/R"
        XCTAssertEqual(sh("mkdir -p '\(work)/app' && echo good > '\(work)/app/state'").status, 0)
        var r = Harness.run(["--yes", "run", "backup/daily", "--dir", root, "--app_data", "\(work)/app", "--no-retention"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let daily = sh("ls '\(root)' | grep -- -daily").output.trimmingCharacters(in: .whitespacesAndNewlines)
        sleep(1)   // a second later: backup names have one-second resolution
        XCTAssertEqual(sh("echo damaged > '\(work)/app/state'").status, 0)
        r = Harness.run(["run", "backup/emergency", "--dir", root, "--app_data", "\(work)/app"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let emergency = sh("ls '\(root)' | grep -- -emergency").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(emergency.isEmpty)

        r = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", root, "--to", "\(work)/out"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let chosen = reportChecks(r)["restore.backup"]?["message"] as? String ?? ""
        XCTAssertTrue(chosen.hasPrefix(daily), chosen)
        XCTAssertTrue(chosen.contains("not the newer emergency backup \(emergency)"), chosen)
        XCTAssertEqual(sh("find '\(work)/out' -name state -exec cat {} +").output, "good\n")

        r = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", root, "--tier", "emergency", "--to", "\(work)/out2"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue((reportChecks(r)["restore.backup"]?["message"] as? String ?? "").hasPrefix(emergency))
        r = Harness.run(["--yes", "--json", "run", "backup/restore", "--dir", root, "--name", emergency, "--to", "\(work)/out3"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue((reportChecks(r)["restore.backup"]?["message"] as? String ?? "").contains("named by --name"))
        XCTAssertEqual(sh("find '\(work)/out3' -name state -exec cat {} +").output, "damaged\n")

        // a name that is not a backup is refused with the reason
        XCTAssertEqual(sh("mkdir -p '\(root)/mine'").status, 0)
        r = Harness.run(["--yes", "run", "backup/restore", "--dir", root, "--name", "mine", "--to", "\(work)/out4"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("is not a backup"), r.stdout)
    }

    // MARK: destructive procedures

    /// The procedures that delete data ask on a terminal and refuse without --yes otherwise; their
    /// --help says what they delete.
    func testProceduresThatDeleteDataAreDestructiveAndSaySo() {
        for name in ["backup/daily", "backup/weekly", "backup/retention", "redis/sessions-cleanup", "users/migrate-plaintext", "logs/archive"] {
            let list = Harness.run(["help", name])
            XCTAssertTrue(list.stdout.contains("destructive"), "\(name): \(list.stdout)")
            XCTAssertTrue(list.stdout.contains("Deletes") || list.stdout.contains("Rewrites"), "\(name) --help: \(list.stdout)")
        }
        XCTAssertEqual(sh("mkdir -p '\(work)/src' && echo x > '\(work)/src/f'").status, 0)
        let r = Harness.run(["run", "backup/daily", "--dir", "\(work)/R", "--config_dirs", "\(work)/src"])
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("pass --yes"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/R"), "nothing was done")
    }

    // MARK: bad input

    func testBadRetentionOptionsAreNamed() {
        let r = Harness.run(["-e", """
        local backup = require "opsh.backup"
        for _, o in ipairs {
          { daily = 7 },
          { tiers = { daily = { dialy = 7 } } },
          { tiers = { daily = { daily = -1 } } },
          { tiers = { daily = 7 } },
          { tiers = {} },
        } do
          local ok, err = pcall(backup.retention, '\(work)/R', o)
          print(ok, err)
        end
        """])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5, r.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("false") }, r.stdout)
        XCTAssertTrue(lines[0].contains("unknown option 'daily'"), lines[0])
        XCTAssertTrue(lines[1].contains("unknown field 'dialy'") && lines[1].contains("daily, days, last, monthly, weekly"), lines[1])
        XCTAssertTrue(lines[2].contains("whole number >= 0"), lines[2])
        XCTAssertTrue(lines[3].contains("tiers.daily must be a table"), lines[3])
        XCTAssertTrue(lines[4].contains("tiers = "), lines[4])
        // the other options tables of opsh.backup are checked the same way
        let o = Harness.run(["-e", """
        local backup = require "opsh.backup"
        print(pcall(backup.begin, { root = '\(work)/R', teir = "daily" }))
        print(pcall(backup.verify, '\(work)/R', { deep = "archives" }))
        """])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stdout.contains("unknown option 'teir' (options: compression, level, meta, root, threads, tier)"), o.stdout)
        XCTAssertTrue(o.stdout.contains("unknown option 'deep' (options: depth)"), o.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(work)/R"), "nothing written")
        let bad = Harness.write("return { backup = { retention = { daily = 7 } } }", to: "config.lua", in: Harness.tempDir("cfg"))
        let p = Harness.run(["--config", bad, "--yes", "run", "backup/retention", "--dir", "\(work)/R"])
        XCTAssertEqual(p.status, 3, p.stdout + p.stderr)
        XCTAssertTrue((p.stdout + p.stderr).contains("backup.retention.daily must be a table"), p.stdout + p.stderr)
    }

    // MARK: helpers

    func reportChecks(_ r: Run) -> [String: [String: Any]] {
        guard let data = r.stdout.data(using: .utf8),
              let j = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let checks = j["checks"] as? [[String: Any]] else { XCTFail("no JSON report: \(r.stdout) \(r.stderr)"); return [:] }
        var out: [String: [String: Any]] = [:]
        for c in checks { if let n = c["name"] as? String { out[n] = c } }
        return out
    }

    func utc(_ y: Int, _ m: Int, _ d: Int, _ h: Int, _ mi: Int) -> Date {
        Calendar.iso.date(from: DateComponents(year: y, month: m, day: d, hour: h, minute: mi))!
    }

    func fakeTime(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: d)
    }

    /// The creation time in a backup's name (20261207T020000Z-daily).
    func created(_ name: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.date(from: String(name.prefix(16)))
    }
}

/// A tier's policy in the test's own terms.
struct TierPolicy {
    var last = 0, daily = 0, weekly = 0, monthly = 0, days = 0
}

/// What a policy keeps, computed with Foundation's ISO 8601 calendar in UTC.
enum Model {
    static func afterRetention(_ backups: [String: Date], tier: String, _ p: TierPolicy, now: Date) -> [String: Date] {
        let mine = backups.filter { $0.key.hasSuffix("-\(tier)") }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key > $1.key }
        var keep = Set<String>()
        if let newest = mine.first { keep.insert(newest.key) }
        for b in mine.prefix(p.last) { keep.insert(b.key) }
        let buckets: [(Int, (Date) -> String)] = [
            (p.daily, { d in let c = Calendar.iso.dateComponents([.year, .month, .day], from: d); return "\(c.year!)-\(c.month!)-\(c.day!)" }),
            (p.weekly, { d in let c = Calendar.iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: d); return "\(c.yearForWeekOfYear!)-W\(c.weekOfYear!)" }),
            (p.monthly, { d in let c = Calendar.iso.dateComponents([.year, .month], from: d); return "\(c.year!)-\(c.month!)" }),
        ]
        for (n, key) in buckets where n > 0 {
            var seen = Set<String>()
            for b in mine {
                let k = key(b.value)
                if seen.contains(k) { continue }
                if seen.count >= n { break }
                seen.insert(k)
                keep.insert(b.key)
            }
        }
        if p.days > 0 { for b in mine where now.timeIntervalSince(b.value) <= Double(p.days) * 86400 { keep.insert(b.key) } }
        return backups.filter { !$0.key.hasSuffix("-\(tier)") || keep.contains($0.key) }
    }
}

extension Calendar {
    static let iso: Calendar = {
        var c = Calendar(identifier: .iso8601)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
}
