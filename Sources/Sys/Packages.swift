import Glibc

/// One package `apt list --upgradable` offers a newer version of.
public struct UpgradablePackage: Sendable, Equatable {
    public let name: String
    /// The suites the new version comes from ("bookworm-security", "stable-updates", ...).
    public let suites: [String]
    public let version: String
    public let architecture: String
    /// The installed version ("upgradable from: ..."), when apt says it.
    public let installedVersion: String?

    public init(name: String, suites: [String], version: String, architecture: String, installedVersion: String?) {
        self.name = name
        self.suites = suites
        self.version = version
        self.architecture = architecture
        self.installedVersion = installedVersion
    }

    /// Whether the new version comes from a security suite (Debian's `bookworm-security` and
    /// `stable-security`, Ubuntu's `jammy-security`): what the guide's `grep -i security` finds.
    public var security: Bool { suites.contains { $0 == "security" || $0.hasSuffix("-security") } }
}

/// The packages apt would upgrade, read-only: `apt list --upgradable` parsed (apt has no other
/// interface that needs no root; the package lists are whatever the last `apt update` fetched).
public enum UpgradablePackages {
    /// The program and its arguments; run under LC_ALL=C so the lines are apt's untranslated ones.
    public static let command = ["apt", "list", "--upgradable"]

    /// Lines of `apt list --upgradable`: the packages, and the lines that looked like neither a
    /// package nor apt's chatter ("Listing...", warnings, notes), kept for the caller to report.
    public static func parse(_ text: String) -> (packages: [UpgradablePackage], unparsed: [String]) {
        var packages: [UpgradablePackage] = [], unparsed: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = raw
            while let c = line.first, c == " " || c == "\t" { line.removeFirst() }
            while let c = line.last, c == " " || c == "\t" || c == "\r" { line.removeLast() }
            if line.isEmpty || line.hasPrefix("Listing...") || line.hasPrefix("WARNING:") || line.hasPrefix("N: ") { continue }
            if let p = package(line) { packages.append(p) } else { unparsed.append(String(line)) }
        }
        return (packages, unparsed)
    }

    /// "name/suite[,suite] version arch [upgradable from: old]"
    static func package(_ line: Substring) -> UpgradablePackage? {
        let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
        guard fields.count >= 3, let slash = fields[0].firstIndex(of: "/") else { return nil }
        let name = String(fields[0][..<slash])
        let suites = fields[0][fields[0].index(after: slash)...].split(separator: ",").map(String.init)
        guard !name.isEmpty, !suites.isEmpty else { return nil }
        var installed: String?
        if fields.count == 4 {
            let rest = fields[3]
            let marker = "[upgradable from: "
            guard rest.hasPrefix(marker), rest.hasSuffix("]") else { return nil }
            installed = String(rest.dropFirst(marker.count).dropLast())
        }
        return UpgradablePackage(name: name, suites: suites, version: String(fields[1]), architecture: String(fields[2]),
                                 installedVersion: installed)
    }

    /// Starts the command (LC_ALL=C, the caller's PATH); wait on its pidfd, then call `result`.
    public static func start() throws(SpawnedProcess.Failure) -> SpawnedProcess {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        return try SpawnedProcess(command, environment: ["LC_ALL=C", "PATH=" + path], maxBytes: 8 << 20)
    }

    /// The packages of a finished run, or why there are none: apt's exit status and what it wrote to stderr.
    public static func result(of p: SpawnedProcess) -> Result<(packages: [UpgradablePackage], unparsed: [String]), SpawnedProcess.Failure> {
        let o = p.output(limit: 8 << 20)
        guard p.exitStatus == 0 else {
            let err = String(decoding: o.stderr, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("WARNING: apt does not have") }
            let how = p.exitStatus.map { "exit status \($0)" } ?? "signal \(p.exitSignal ?? 0)"
            return .failure(SpawnedProcess.Failure(kind: .spawn, message: "\(command.joined(separator: " ")) failed (\(how)): \(err.joined(separator: "; "))"))
        }
        return .success(parse(String(decoding: o.stdout, as: UTF8.self)))
    }
}
