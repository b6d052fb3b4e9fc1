import Foundation
import History
import Store
import XCTest

/// The resource history in a real SQLite file, and the line fitted through it.
final class HistoryTests: XCTestCase {
    func path() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-history-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("history.db").path
    }

    func testSamplesAreKeptAcrossOpensAndReadBackByMetricAndTime() throws {
        let p = path()
        do {
            let h = try History(path: p)
            try h.record(kind: "resources", values: [("disk./.used_percent", 40), ("memory.used_percent", 60), ("bad", .nan)], at: 1000)
            try h.record(kind: "resources", values: [("disk./.used_percent", 41)], at: 2000)
            try h.record(kind: "check", values: [("check.system.memory", 1)], at: 2000)
            h.close()
        }
        let h = try History(path: p)
        XCTAssertEqual(try h.metrics(), ["check.system.memory", "disk./.used_percent", "memory.used_percent"])
        XCTAssertEqual(try h.metrics(prefix: "disk."), ["disk./.used_percent"])
        XCTAssertEqual(try h.samples(metric: "disk./.used_percent").map(\.value), [40, 41])
        XCTAssertEqual(try h.samples(metric: "disk./.used_percent", since: 1500).map(\.time), [2000])
        XCTAssertEqual(try h.samples(metric: "disk./.used_percent", until: 1500).map(\.time), [1000])
        XCTAssertEqual(try h.samples(metric: "bad").count, 0)
        XCTAssertEqual(try h.prune(before: 1500), 2)
        XCTAssertEqual(try h.metrics(), ["check.system.memory", "disk./.used_percent"])
        // it is a real SQLite file: the sqlite3 program reads it
        let out = Pipe()
        let p2 = Process()
        p2.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p2.arguments = [p, "SELECT kind, metric, value FROM samples ORDER BY metric"]
        p2.standardOutput = out
        try p2.run(); p2.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                       "check|check.system.memory|1.0\nresources|disk./.used_percent|41.0\n")
    }

    /// A dry run opens without creating: a missing file stays missing, an existing one is read.
    func testOpeningWithoutCreatingLeavesNoFile() throws {
        let p = path()
        let empty = try History(path: p, create: false)
        XCTAssertEqual(try empty.metrics(), [])
        XCTAssertEqual(empty.path, p)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
        try History(path: p).record(kind: "resources", values: [("load.load1", 1.5)], at: 10)
        XCTAssertEqual(try History(path: p, create: false).samples(metric: "load.load1").map(\.value), [1.5])
    }

    func testAFileThatIsNotADatabaseIsRefused() throws {
        let p = path()
        try Data("not a database, just text that is long enough to be looked at".utf8).write(to: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try History(path: p)) { e in
            XCTAssertTrue("\(e)".contains(p), "\(e)")
        }
    }

    func testLinearFitGivesTheSlopeAndWhenALimitIsReached() throws {
        // 1% a day from 50% on a realistic Unix time: full (100%) 50 days after the start
        let day = 86400.0, t0 = 1_780_000_000.0
        let points = (0..<30).map { (time: t0 + Double($0) * day, value: 50 + Double($0)) }
        let fit = try XCTUnwrap(LinearFit(points))
        XCTAssertEqual(fit.slope * day, 1, accuracy: 1e-9)
        XCTAssertEqual(fit.r2, 1, accuracy: 1e-9)
        XCTAssertEqual(fit.count, 30)
        XCTAssertEqual(try XCTUnwrap(fit.time(reaching: 100)), t0 + 50 * day, accuracy: 1)
        XCTAssertEqual(fit.value(at: t0 + 10 * day), 60, accuracy: 1e-6)
        // noise lowers r2; a flat line never reaches anything
        let noisy = try XCTUnwrap(LinearFit([(0, 0), (1, 2), (2, 1), (3, 3)]))
        XCTAssert(noisy.r2 > 0 && noisy.r2 < 1)
        XCTAssertNil(try XCTUnwrap(LinearFit([(0, 5), (1, 5)])).time(reaching: 10))
        XCTAssertNil(LinearFit([(0, 1)]))
        XCTAssertNil(LinearFit([(3, 1), (3, 2)]))
    }
}
