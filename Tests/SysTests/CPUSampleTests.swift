import Foundation
import Glibc
import OpshTestSupport
@testable import Sys
import XCTest

/// The agent's CPU samples (Sources/Sys/CPUSample.swift): written by the sampler's code, read
/// back by a run, and refused whenever they would give a wrong figure.
final class CPUSampleTests: XCTestCase {
    func testASampleRoundTripsThroughItsFile() throws {
        let s = try CPUSample.take()
        XCTAssertFalse(s.processes.entries.isEmpty)
        XCTAssertNotNil(s.processes.entries[getpid()], "this process is in the sample")
        let back = try CPUSample.decode(s.encoded())
        XCTAssertEqual(back.taken, s.taken)
        XCTAssertEqual(back.bootID, s.bootID)
        XCTAssertEqual(back.bootID.count, 36)
        XCTAssertEqual(back.pidNamespace, s.pidNamespace)
        XCTAssertEqual(back.cpu.all, s.cpu.all)
        XCTAssertEqual(back.cpu.cores.map(\.id), s.cpu.cores.map(\.id))
        XCTAssertEqual(back.cpu.cores.map(\.counters), s.cpu.cores.map(\.counters))
        XCTAssertEqual(back.processes.entries.count, s.processes.entries.count)
        for (pid, e) in s.processes.entries {
            XCTAssertEqual(back.processes.entries[pid]?.ticks, e.ticks)
            XCTAssertEqual(back.processes.entries[pid]?.started, e.started)
        }
    }

    func testCorruptOrForeignBytesAreRefused() throws {
        let good = try CPUSample.take().encoded()
        for (bytes, why) in [([UInt8](), "wrong magic"), (Array("not a sample at all".utf8), "wrong magic"),
                             (Array(good.dropLast(3)), "wrong length"), (good + [0, 0, 0, 0], "wrong length"),
                             (Array(good.prefix(30)), "cut short")] {
            XCTAssertThrowsError(try CPUSample.decode(bytes)) { e in
                XCTAssertEqual((e as? SysReadError)?.code, "corrupt")
                XCTAssertTrue("\(e)".contains(why), "\(e)")
            }
        }
    }

    /// Two generations: each write replaces the older, so the one before the newest stays for
    /// a reader that finds the newest too young.
    func testTheDirectoryKeepsTwoGenerationsAndTheReaderTakesTheNewestOldEnough() throws {
        let dir = CPUSampleDirectory(Harness.tempDir("cpu").path + "/cpu")   // created by the first write
        let now = SystemClock.monotonic()
        let base = try CPUSample.take()
        try dir.write(base.aged(by: 9))
        // an operator's file beside the samples: never touched
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir.path + "/notes.txt"))
        try dir.write(base.aged(by: 4))
        try dir.write(base.aged(by: 0.2))       // replaces the 9 s old one
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(names, ["cpu-sample.0", "cpu-sample.1", "notes.txt"])
        XCTAssertEqual(try String(contentsOfFile: dir.path + "/notes.txt", encoding: .utf8), "mine")
        let ages = names.compactMap { try? dir.load($0).taken }.map { (base.taken - $0).rounded() }.sorted()
        XCTAssertEqual(ages, [0, 4])

        // the newest is under a second old: the one before it is used
        guard case .success(let used) = dir.newest(minAge: 1, maxAge: 15, now: now) else { return XCTFail("no sample used") }
        XCTAssertEqual(now - used.taken, 4 + (now - base.taken), accuracy: 0.001)
        // both too young, both too old: none, and why
        guard case .failure(let young) = dir.newest(minAge: 5, maxAge: 15, now: now) else { return XCTFail("a too young sample was used") }
        XCTAssertTrue(young.samplesFound)
        XCTAssertTrue(young.reason.contains("(under 5.0 s)"), young.reason)
        guard case .failure(let old) = dir.newest(minAge: 1, maxAge: 15, now: now + 60) else { return XCTFail("a stale sample was used") }
        XCTAssertTrue(old.reason.contains("old (over 15.0 s)"), old.reason)
    }

    func testNoDirectoryAnotherBootAnotherNamespaceOrCorruptFilesGiveNoSample() throws {
        let root = Harness.tempDir("cpu").path
        guard case .failure(let none) = CPUSampleDirectory(root + "/missing").newest(minAge: 1, maxAge: 15) else { return XCTFail() }
        XCTAssertFalse(none.samplesFound, "no sampler wrote there: nothing to report")
        XCTAssertTrue(none.reason.contains("no sample in"), none.reason)

        let s = try CPUSample.take().aged(by: 3)
        let dir = CPUSampleDirectory(root + "/cpu")
        // written as they would be by a sampler of another boot and of a container
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        try Data(CPUSample(taken: s.taken, bootID: "00000000-0000-0000-0000-000000000000", pidNamespace: s.pidNamespace,
                           cpu: s.cpu, processes: s.processes).encoded()).write(to: URL(fileURLWithPath: dir.path + "/cpu-sample.0"))
        try Data(CPUSample(taken: s.taken, bootID: s.bootID, pidNamespace: s.pidNamespace &+ 1, cpu: s.cpu, processes: s.processes).encoded())
            .write(to: URL(fileURLWithPath: dir.path + "/cpu-sample.1"))
        guard case .failure(let foreign) = dir.newest(minAge: 1, maxAge: 15) else { return XCTFail("a foreign sample was used") }
        XCTAssertTrue(foreign.samplesFound)
        XCTAssertTrue(foreign.reason.contains("from another boot"), foreign.reason)
        XCTAssertTrue(foreign.reason.contains("another pid namespace"), foreign.reason)

        // after a reboot: the old boot's sample has the larger time (its clock ran longer), yet
        // the writer replaces it first, so this boot's samples fill both generations
        let fresh = CPUSampleDirectory(root + "/reboot")
        try fresh.write(s.aged(by: 8))   // cpu-sample.0
        try Data(CPUSample(taken: s.taken + 1e6, bootID: "00000000-0000-0000-0000-000000000000", pidNamespace: s.pidNamespace,
                           cpu: s.cpu, processes: s.processes).encoded()).write(to: URL(fileURLWithPath: fresh.path + "/cpu-sample.1"))
        try fresh.write(s.aged(by: 4))
        try fresh.write(s)
        let taken = ["cpu-sample.0", "cpu-sample.1"].compactMap { try? fresh.load($0) }.filter { $0.bootID == s.bootID }.count
        XCTAssertEqual(taken, 2, "both generations hold this boot's samples")

        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.path + "/cpu-sample.0"))
        try dir.write(s)   // the garbage is the older generation (no time at all): it is the one replaced
        guard case .success = dir.newest(minAge: 1, maxAge: 15) else { return XCTFail("the good sample beside a corrupt one was not used") }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.path + "/cpu-sample.1"))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.path + "/cpu-sample.0"))
        guard case .failure(let corrupt) = dir.newest(minAge: 1, maxAge: 15) else { return XCTFail("a corrupt sample was used") }
        XCTAssertTrue(corrupt.reason.contains("not an opsh CPU sample: wrong magic"), corrupt.reason)
    }

    /// The figures since a sample are the interval path's: a process busy since the sample shows
    /// its CPU, and a pid whose start time differs (reused) counts from its own start, never a
    /// negative or inflated difference against another process's ticks.
    func testProcessCPUSinceASampleAndReusedPids() throws {
        func threadCPU() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        let before = try CPUSample.take()
        // 0.3 s of this thread's own CPU time, however long the machine makes it take
        let end = threadCPU() + 0.3
        var x = 0
        while threadCPU() < end { x &+= 1 }
        XCTAssertGreaterThan(x, 0)
        let later = ProcessSnapshot.take()
        let me = Processes.top(.cpu, count: 100_000, earlier: before.processes, later: later, memoryTotal: 1).first { $0.pid == getpid() }
        let burned = (me?.cpuPercent ?? 0) / 100 * (later.taken - before.processes.taken)
        XCTAssertGreaterThan(burned, 0.25, "the 0.3 s of CPU spent since the sample (clock ticks: 10 ms each)")

        // the same pid with another start time in the earlier reading: a reused pid
        var entries = before.processes.entries
        let mine = entries[getpid()]!
        entries[getpid()] = ProcessSnapshot.Entry(pid: mine.pid, ppid: 0, name: "", state: "?", ticks: mine.ticks + 1_000_000,
                                                  started: mine.started + 1, rss: 0, uid: 0)
        let reused = ProcessSnapshot(taken: before.processes.taken, entries: entries)
        let r = Processes.top(.cpu, count: 100_000, earlier: reused, later: later, memoryTotal: 1).first { $0.pid == getpid() }
        let ownStart = Double(later.entries[getpid()]!.ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) / (later.taken - reused.taken) * 100
        XCTAssertEqual(r?.cpuPercent ?? -1, ownStart, accuracy: 0.001, "counted from its own start")
        let u = try CPUTimes.read().usage(since: before.cpu)
        XCTAssertGreaterThan(u.all.busy, 0)
    }
}
