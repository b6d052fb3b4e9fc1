import Foundation
import OpshTestSupport
import Sys
import XCTest

/// `apt list --upgradable` parsed: recorded output (Debian 12 with its security suite, Ubuntu's,
/// apt's chatter), and the real command run once, natively and from Lua.
final class PackagesTests: XCTestCase {
    // recorded on this machine (Debian 12, oldstable), with a bookworm line, an Ubuntu line and a
    // line apt never writes added
    static let recorded = """

    WARNING: apt does not have a stable CLI interface. Use with caution in scripts.

    Listing...
    appstream/oldstable 0.16.1-2+b1 amd64 [upgradable from: 0.16.1-2]
    apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
    ca-certificates/oldstable-security 20250419~deb12u2 all [upgradable from: 20230311+deb12u1]
    krb5-locales/oldstable,oldstable-security 1.20.1-2+deb12u5 all [upgradable from: 1.20.1-2+deb12u3]
    libssl3/bookworm-security 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.14-1~deb12u2]
    tzdata/stable-updates 2024b-0+deb12u1 all [upgradable from: 2024a-0+deb12u1]
    openssl/jammy-updates,jammy-security 3.0.2-0ubuntu1.18 amd64 [upgradable from: 3.0.2-0ubuntu1.15]
    N: There is 1 additional version. Please use the '-a' switch to see it
    this line is not a package
    """

    func testRecordedOutput() {
        let (packages, unparsed) = UpgradablePackages.parse(PackagesTests.recorded)
        XCTAssertEqual(packages.map(\.name), ["appstream", "apt", "ca-certificates", "krb5-locales", "libssl3", "tzdata", "openssl"])
        XCTAssertEqual(packages.filter(\.security).map(\.name), ["apt", "ca-certificates", "krb5-locales", "libssl3", "openssl"])
        XCTAssertEqual(packages[3], UpgradablePackage(name: "krb5-locales", suites: ["oldstable", "oldstable-security"],
                                                      version: "1.20.1-2+deb12u5", architecture: "all", installedVersion: "1.20.1-2+deb12u3"))
        XCTAssertEqual(packages[2].version, "20250419~deb12u2")
        XCTAssertEqual(unparsed, ["this line is not a package"])
        XCTAssertEqual(UpgradablePackages.parse("Listing...\n").packages, [])
    }

    /// The real command, once: whatever this machine has to upgrade, the native parse and what
    /// `apt list --upgradable | grep -c security` counts agree.
    func testRealCommandNativelyAndFromLua() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/apt") else { throw XCTSkip("no apt here") }
        let p = try UpgradablePackages.start()
        var pfd = pollfd(fd: p.pidfd, events: Int16(POLLIN), revents: 0)
        _ = poll(&pfd, 1, 120_000)
        XCTAssertTrue(p.poll())
        let native = try UpgradablePackages.result(of: p).get()
        p.close()
        XCTAssertEqual(native.unparsed, [])
        let grep = sh("LC_ALL=C apt list --upgradable 2>/dev/null | grep -c -- '-security'")
        XCTAssertEqual(native.packages.filter(\.security).count, Int(grep.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)
        let r = Harness.run([Harness.write("""
        local sys = require 'opsh.sys'
        local u = assert(sys.upgradable_packages{timeout = 120})
        local first = u.packages[1]
        print("lua", u.total, u.security, #u.unparsed, first and first.name or "-", first and type(first.security) or "-")
        print(pcall(sys.upgradable_packages, {nope = 1}))
        """, to: "u.lua"), "--dry-run"], timeout: 180)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("lua\t\(native.packages.count)\t\(native.packages.filter(\.security).count)\t0\t\(native.packages.first?.name ?? "-")\t\(native.packages.isEmpty ? "-" : "boolean")\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("false\tbad argument #1 to 'opsh.sys.upgradable_packages'"), r.stdout)
    }
}
