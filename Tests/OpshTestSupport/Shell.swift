// Shared by every test target that runs programs around opsh (tar, sha256sum, docker, ...).
import Foundation
import XCTest

/// Programs the tests run themselves, to set up and to check from the outside.
public enum Shell {
    /// Runs `argv` (the program looked up in PATH), stdout and stderr kept apart. A program still
    /// running after `timeout` seconds is killed and the test fails.
    @discardableResult
    public static func run(_ argv: [String], cwd: String? = nil, timeout: TimeInterval = 600) -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        return capture(p, timeout: timeout)
    }

    /// Runs a configured process with stdin from `input` (or nothing), stdout and stderr on pipes
    /// read at once (a program that fills one while we wait on the other never blocks); after
    /// `timeout` seconds it is killed and the test fails.
    public static func capture(_ p: Process, input: String? = nil, timeout: TimeInterval) -> Run {
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input == nil ? FileHandle.nullDevice : inp
        do { try p.run() } catch { return Run(status: 127, stdout: "", stderr: "\(error)") }
        if let input {
            inp.fileHandleForWriting.write(Data(input.utf8))
            try? inp.fileHandleForWriting.close()
        }
        let outBox = DataBox(), errBox = DataBox()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            XCTFail("\(p.executableURL?.path ?? "?") \(p.arguments ?? []) did not finish within \(timeout)s")
            _ = group.wait(timeout: .now() + 10)   // a child it left may hold the pipes open
        }
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                   stderr: String(decoding: errBox.data, as: UTF8.self))
    }
}

/// Runs a command line with /bin/sh -c: its exit status, and what it wrote to stdout and stderr
/// together, as a terminal would show them.
@discardableResult
public func sh(_ command: String, cwd: String? = nil) -> (status: Int32, output: String) {
    let r = Shell.run(["/bin/sh", "-c", "exec 2>&1\n" + command], cwd: cwd)
    return (r.status, r.stdout)
}
