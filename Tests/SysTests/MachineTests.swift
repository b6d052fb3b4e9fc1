import Foundation
import Glibc
import OpshTestSupport
@testable import Sys
import XCTest

/// The machine's state read natively (Sources/Sys): /proc and statvfs on this machine, processes
/// and sockets the test itself starts and opens, resolution and connects on loopback only.
final class MachineTests: XCTestCase {
    func testCPUUsageFromTwoReadingsOfProcStat() throws {
        // known counters: 400 ticks pass on cpu0, 100 of them idle and 100 iowait; cpu1 did nothing
        let before = try CPUTimes.parse(Array("""
        cpu  1000 0 500 8000 100 0 0 0 0 0
        cpu0 500 0 250 4000 50 0 0 0 0 0
        cpu1 500 0 250 4000 50 0 0 0 0 0
        intr 1 2 3

        """.utf8))
        let after = try CPUTimes.parse(Array("""
        cpu  1150 0 550 8200 200 0 0 0 0 0
        cpu0 650 0 300 4100 150 0 0 0 0 0
        cpu1 500 0 250 4100 50 0 0 0 0 0

        """.utf8))
        let u = after.usage(since: before)
        XCTAssertEqual(u.cores.map(\.id), [0, 1])
        XCTAssertEqual(u.cores[0].share.busy, 50, accuracy: 1e-9)     // 200 of 400 ticks neither idle nor iowait
        XCTAssertEqual(u.cores[0].share.iowait, 25, accuracy: 1e-9)
        XCTAssertEqual(u.cores[0].share.user, 37.5, accuracy: 1e-9)
        XCTAssertEqual(u.cores[1].share.busy, 0, accuracy: 1e-9)
        XCTAssertEqual(u.all.busy, 40, accuracy: 1e-9)                  // 200 of 500
        XCTAssertThrowsError(try CPUTimes.parse(Array("intr 1\n".utf8)))
    }

    func testCPUUsageOfThisMachineSeesABusyLoop() throws {
        let a = try CPUTimes.read()
        let end = SystemClock.monotonic() + 0.3
        var x = 0
        while SystemClock.monotonic() < end { x &+= 1 }
        let u = try CPUTimes.read().usage(since: a)
        XCTAssertGreaterThan(x, 0)
        XCTAssertGreaterThan(u.all.busy, 0)
        XCTAssertEqual(u.cores.count, a.cores.count)
        XCTAssertGreaterThanOrEqual(u.cores.count, 1)
        for c in u.cores {
            XCTAssert((0...100.0001).contains(c.share.busy), "\(c)")
        }
        // the busy core is one of them: at least one core was busy for a good part of the interval
        XCTAssertGreaterThan(u.cores.map(\.share.busy).max()!, 20)
    }

    func testMemoryFromMeminfo() throws {
        let m = try MemoryInfo.parse(Array("""
        MemTotal:        1000 kB
        MemFree:          100 kB
        MemAvailable:     250 kB
        Buffers:           10 kB
        Cached:           300 kB
        SwapTotal:        400 kB
        SwapFree:         300 kB

        """.utf8))
        XCTAssertEqual(m.total, 1_024_000)
        XCTAssertEqual(m.used, 750 * 1024)
        XCTAssertEqual(m.usedPercent, 75, accuracy: 1e-9)
        XCTAssertEqual(m.swapUsedPercent, 25, accuracy: 1e-9)
        // a kernel without MemAvailable: free + buffers + cache
        let old = try MemoryInfo.parse(Array("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 300 kB\n".utf8))
        XCTAssertEqual(old.available, 410 * 1024)
        XCTAssertThrowsError(try MemoryInfo.parse([]))

        let real = try MemoryInfo.read()
        XCTAssertGreaterThan(real.total, 0)
        XCTAssert(real.available > 0 && real.available <= real.total)
        XCTAssert(real.swapFree <= real.swapTotal)
    }

    func testFilesystemsLeaveOutPseudoOnesAndBindMounts() throws {
        let list = try Filesystems.list()
        XCTAssert(list.contains { $0.mountPoint == "/" }, "\(list.map(\.mountPoint))")
        let pseudo = list.filter { Filesystems.pseudoTypes.contains($0.type) }
        XCTAssertEqual(pseudo.map(\.mountPoint), [])
        // this machine has /proc, /sys and /dev/shm (tmpfs) mounted: none of them is listed
        for p in ["/proc", "/sys", "/dev/shm", "/dev"] { XCTAssertFalse(list.contains { $0.mountPoint == p }, p) }
        XCTAssertEqual(Set(list.map(\.device)).count, list.count, "a device listed twice: \(list.map { ($0.mountPoint, $0.device) })")
        for f in list {
            XCTAssertGreaterThan(f.total, 0)
            XCTAssert(f.available <= f.free && f.free <= f.total)
            XCTAssert((0...100).contains(f.usedPercent))
        }
        // the same answer as statvfs on /
        var s = statvfs()
        XCTAssertEqual(statvfs("/", &s), 0)
        XCTAssertEqual(list.first { $0.mountPoint == "/" }!.total, Int64(s.f_blocks) * Int64(s.f_frsize))
    }

    func testMountinfoParsingUnescapesAndSeesBinds() {
        let e = Filesystems.parse(Array("""
        27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        45 27 254:0 /var/lib/x /srv/with\\040space rw,relatime shared:1 - ext4 /dev/vda rw
        22 27 0:21 / /proc rw,relatime - proc proc rw

        """.utf8))
        XCTAssertEqual(e.map(\.mountPoint), ["/", "/srv/with space", "/proc"])
        XCTAssertEqual(e.map(\.type), ["ext4", "ext4", "proc"])
        XCTAssertEqual(e[1].root, "/var/lib/x")
        XCTAssertEqual(e[1].device, "254:0")
    }

    func testLoadCoresAndUptime() throws {
        let l = try LoadInfo.read()
        XCTAssertGreaterThanOrEqual(l.load1, 0)
        XCTAssertGreaterThanOrEqual(l.tasks, 1)
        XCTAssertEqual(l.cores, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let u = try Uptime.read()
        XCTAssertGreaterThan(u.seconds, 0)
        XCTAssertEqual(u.bootTime + u.seconds, SystemClock.wall(), accuracy: 5)
    }

    func testTopProcessesFindAProcessThisTestStarted() throws {
        // a busy shell loop for the CPU list, a python holding 200 MiB for the memory list
        let busy = try SpawnedProcess(["sh", "-c", "while :; do :; done"])
        let big = try SpawnedProcess(["python3", "-c", "import time; b = bytearray(200 << 20); time.sleep(60)"])
        defer {
            busy.close(); big.close()   // kills and reaps both
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(busy.pid)/stat"))
        }
        var held: Int64 = 0
        for _ in 0..<200 where held < 200 << 20 {     // until python has touched its bytes
            usleep(20_000)
            held = ProcessSnapshot.take().entries[big.pid]?.rss ?? 0
        }
        XCTAssertGreaterThanOrEqual(held, 200 << 20)
        let total = try MemoryInfo.read().total
        let a = ProcessSnapshot.take()
        usleep(500_000)
        let b = ProcessSnapshot.take()
        let cpu = Processes.top(.cpu, count: 10, earlier: a, later: b, memoryTotal: total)
        let mine = try XCTUnwrap(cpu.first { $0.pid == busy.pid }, "\(cpu.map { ($0.pid, $0.command, $0.cpuPercent ?? -1) })")
        XCTAssertGreaterThan(mine.cpuPercent!, 10)
        XCTAssertEqual(mine.command, "sh -c while :; do :; done")
        XCTAssertEqual(mine.user, String(cString: getpwuid(getuid())!.pointee.pw_name))
        XCTAssertEqual(mine.ppid, getpid())
        XCTAssertEqual(cpu.map { $0.cpuPercent! }, cpu.map { $0.cpuPercent! }.sorted(by: >))

        let mem = Processes.top(.memory, count: 100_000, earlier: nil, later: b, memoryTotal: total)
        let i = try XCTUnwrap(mem.firstIndex { $0.pid == big.pid })
        XCTAssertNil(mem[i].cpuPercent)
        XCTAssertEqual(mem[i].memoryPercent, Double(mem[i].rss) / Double(total) * 100, accuracy: 1e-9)
        XCTAssertTrue(mem[..<i].allSatisfy { $0.rss >= mem[i].rss })
        XCTAssertEqual(mem.map(\.rss), mem.map(\.rss).sorted(by: >))
    }

    func testListeningSocketsShowTheSocketThisTestOpened() throws {
        let (fd, port) = listenLoopback(backlog: 4)
        defer { close(fd) }
        let unixPath = NSTemporaryDirectory() + "opsh-sys-\(getpid()).sock"
        let ufd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var ua = sockaddr_un()
        ua.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &ua.sun_path) { p in unixPath.utf8CString.withUnsafeBytes { p.copyMemory(from: $0) } }
        XCTAssertEqual(withUnsafePointer(to: &ua) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(ufd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }, 0)
        XCTAssertEqual(listen(ufd, 4), 0)
        defer { close(ufd); unlink(unixPath) }

        let list = Sockets.listening()
        let tcp = try XCTUnwrap(list.first { $0.proto == "tcp" && $0.port == Int(port) }, "\(list)")
        XCTAssertEqual(tcp.address, "127.0.0.1")
        XCTAssertEqual(tcp.pid, getpid())
        XCTAssertEqual(tcp.uid, getuid())
        XCTAssertEqual(tcp.process, String(decoding: try Data(contentsOf: URL(fileURLWithPath: "/proc/self/comm")), as: UTF8.self).trimmingCharacters(in: .newlines))
        let ux = try XCTUnwrap(list.first { $0.proto == "unix" && $0.address == unixPath }, "\(list.filter { $0.proto == "unix" })")
        XCTAssertEqual(ux.pid, getpid())
        XCTAssertNil(ux.port)

        // closed: gone from the listing
        close(fd)
        XCTAssertFalse(Sockets.listening().contains { $0.proto == "tcp" && $0.port == Int(port) && $0.pid == getpid() })
    }

    func testAddressesFromTheKernelTables() {
        XCTAssertEqual(Sockets.tableAddress(Array("0100007F".utf8)[...]), "127.0.0.1")
        XCTAssertEqual(Sockets.tableAddress(Array("00000000".utf8)[...]), "0.0.0.0")
        XCTAssertEqual(Sockets.tableAddress(Array("00000000000000000000000001000000".utf8)[...]), "::1")
        XCTAssertNil(Sockets.tableAddress(Array("xyz".utf8)[...]))
    }

    func testResolvingLocalhost() throws {
        let r = try Network.resolve("localhost")
        XCTAssert(r.addresses.contains { $0.numeric == "127.0.0.1" || $0.numeric == "::1" }, "\(r.addresses.map(\.numeric))")
        XCTAssertEqual(Set(r.addresses.map(\.numeric)).count, r.addresses.count)
        XCTAssertGreaterThanOrEqual(r.seconds, 0)
        XCTAssertThrowsError(try Network.resolve("")) { e in
            XCTAssertTrue((e as! SysReadError).message.hasPrefix("cannot resolve : "), "\(e)")
        }
        XCTAssertEqual(Network.literal("127.0.0.1")?.family, AF_INET)
        XCTAssertEqual(Network.literal("[::1]")?.numeric, "::1")
        XCTAssertNil(Network.literal("localhost"))
    }

    func testConnectingToAListeningPortAndAClosedOne() throws {
        let (fd, port) = listenLoopback(backlog: 4)
        let ok = TCPProbe(addresses: [Network.literal("127.0.0.1")!], port: port, label: "open").run(timeout: 5)
        XCTAssertTrue(ok.connected, ok.message)
        XCTAssertNil(ok.code)
        XCTAssertEqual(ok.address, "127.0.0.1")
        close(fd)
        let refused = TCPProbe(addresses: [Network.literal("127.0.0.1")!], port: port, label: "closed").run(timeout: 5)
        XCTAssertFalse(refused.connected)
        XCTAssertEqual(refused.code, "refused", refused.message)
        XCTAssertTrue(refused.message.hasPrefix("closed (127.0.0.1): Connection refused"), refused.message)
        // the next address is tried after a refusal
        let (fd2, port2) = listenLoopback(backlog: 4)
        defer { close(fd2) }
        let fallback = TCPProbe(addresses: [Network.literal("::1") ?? Network.literal("127.0.0.2")!, Network.literal("127.0.0.1")!],
                                port: port2, label: "both").run(timeout: 5)
        XCTAssertTrue(fallback.connected, fallback.message)
        XCTAssertEqual(fallback.address, "127.0.0.1")
    }

    /// A listener that never accepts, with a backlog of 0: once its queue holds one connection,
    /// the kernel drops further SYNs, so a connect gets no answer and the deadline ends it.
    func testConnectTimesOutOnAFullBacklog() throws {
        let (fd, port) = listenLoopback(backlog: 0)
        defer { close(fd) }
        var outcomes: [TCPProbe.Outcome] = []
        for _ in 0..<8 {
            let o = TCPProbe(addresses: [Network.literal("127.0.0.1")!], port: port, label: "full").run(timeout: 0.3)
            outcomes.append(o)
            if !o.connected { break }
        }
        let last = try XCTUnwrap(outcomes.last)
        XCTAssertFalse(last.connected, "\(outcomes)")
        XCTAssertEqual(last.code, "timeout", last.message)
        XCTAssertEqual(last.message, "full: no answer within 0.3 s (127.0.0.1)")
        XCTAssertGreaterThanOrEqual(last.seconds, 0.3)
    }

    func listenLoopback(backlog: Int32) -> (Int32, UInt16) { HostileServer.listenOnLoopback(backlog: backlog) }
}
