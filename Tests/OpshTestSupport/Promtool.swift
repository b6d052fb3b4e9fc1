import Foundation
import XCTest

/// Prometheus's own checker (Debian's prometheus package) on exposition text.
public enum Promtool {
    /// `promtool check metrics` on `text`: its exit status and what it said. Skips the test
    /// when promtool is not installed.
    public static func checkMetrics(_ text: String) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            throw XCTSkip("promtool is not installed (scripts/setup installs the prometheus package)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        p.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, said)
    }
}
