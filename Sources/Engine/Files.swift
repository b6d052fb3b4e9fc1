import FileSystem
import Glibc
import Modules
import Sys

/// Small file helpers for the engine (no Foundation on the run path).
struct FileError: Error, CustomStringConvertible {
    let path: String
    let message: String
    var description: String { "\(path): \(message)" }
    static func errno(_ path: String) -> FileError { FileError(path: path, message: String(cString: strerror(Glibc.errno))) }
}

func fileExists(_ path: String) -> Bool { FileSystem.isFile(path) }

func directoryExists(_ path: String) -> Bool { FileSystem.isDirectory(path) }

/// Reads a whole file (bounded: scripts and config files are small).
func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
    do { return try FileSystem.read(path, limit: limit) } catch { throw FileError(path: error.path, message: error.message) }
}

/// Writes a file atomically (FileSystem.writeAtomically: a reader sees the old or the new content).
func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    do { try FileSystem.writeAtomically(path, bytes, mode: mode) } catch { throw FileError(path: error.path, message: error.message) }
}

/// mkdir -p
func makeDirectories(_ path: String) throws {
    do { try FileSystem.makeDirectories(path) } catch { throw FileError(path: error.path, message: error.message) }
}

/// Relative paths of the .lua files under `dir` (recursive, sorted).
func listLuaFiles(_ dir: String) -> [String] {
    var out: [String] = []
    func walk(_ rel: String, depth: Int) {
        guard depth < 16, let d = opendir(rel.isEmpty ? dir : dir + "/" + rel) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name.hasPrefix(".") { continue }
            let sub = rel.isEmpty ? name : rel + "/" + name
            if directoryExists(dir + "/" + sub) { walk(sub, depth: depth + 1) }
            else if name.hasSuffix(".lua") { out.append(sub) }
        }
    }
    walk("", depth: 0)
    return out.sorted()
}

func isTTY(_ fd: Int32) -> Bool { Terminal.isTerminal(fd) }

func writeStderr(_ s: String) { writeToStderr(s) }

func writeStdout(_ s: String) {
    fflush(nil)
    var s = s
    s.withUTF8 { b in _ = write(1, b.baseAddress, b.count) }
}
