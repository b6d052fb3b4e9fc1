import FileSystem
import Foundation
import XCTest

/// The file operations of opsh.fs and the Engine, from Swift alone, on real files.
final class FileSystemTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-fs-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testAtomicWriteReplacesWithExactModeAndLeavesNoTemporary() throws {
        let path = dir + "/secret"
        try FileSystem.writeAtomically(path, Array("old".utf8))
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        try FileSystem.writeAtomically(path, Array("new".utf8), mode: 0o640)   // the umask must not narrow it
        XCTAssertEqual(try FileSystem.read(path, limit: 100), Array("new".utf8))
        XCTAssertEqual(try FileSystem.status(path).mode, 0o640)
        XCTAssertEqual(try FileSystem.list(dir, limit: 10), ["secret"])
        // without the flushes (a file worth nothing after a crash): the same replacement, the same mode, no temporary
        try FileSystem.writeAtomically(path, Array("newer".utf8), mode: 0o640, durable: false)
        XCTAssertEqual(try FileSystem.read(path, limit: 100), Array("newer".utf8))
        XCTAssertEqual(try FileSystem.status(path).mode, 0o640)
        XCTAssertEqual(try FileSystem.list(dir, limit: 10), ["secret"])
        XCTAssertThrowsError(try FileSystem.writeAtomically(dir + "/missing/x", [1])) { e in
            XCTAssertEqual((e as! FileSystemError).code, "ENOENT")
        }
    }

    func testResolveGivesTheAbsolutePathWithoutLinks() throws {
        try FileSystem.makeDirectories(dir + "/real/sub")
        XCTAssertEqual(symlink(dir + "/real", dir + "/link"), 0)
        let real = try FileSystem.resolve(dir + "/real")
        XCTAssertEqual(try FileSystem.resolve(dir + "/link/sub/.."), real)
        XCTAssertTrue(real.hasPrefix("/") && real.hasSuffix("/real"), real)
        XCTAssertThrowsError(try FileSystem.resolve(dir + "/missing")) { e in
            XCTAssertEqual((e as! FileSystemError).code, "ENOENT")
        }
    }

    func testBoundedReadAndListing() throws {
        try FileSystem.writeAtomically(dir + "/b", [UInt8](repeating: 7, count: 100))
        try FileSystem.writeAtomically(dir + "/a", [])
        XCTAssertEqual(try FileSystem.read(dir + "/b", limit: 100).count, 100)
        XCTAssertThrowsError(try FileSystem.read(dir + "/b", limit: 99)) { e in
            XCTAssertEqual((e as! FileSystemError).code, "too_large")
        }
        XCTAssertEqual(try FileSystem.list(dir, limit: 2), ["a", "b"])
        XCTAssertThrowsError(try FileSystem.list(dir, limit: 1)) { e in
            XCTAssertEqual((e as! FileSystemError).code, "too_large")
        }
        XCTAssertThrowsError(try FileSystem.read(dir + "/none", limit: 1)) { e in
            let fe = e as! FileSystemError
            XCTAssertEqual(fe.code, "ENOENT")
            XCTAssertEqual(fe.path, dir + "/none")
        }
    }

    func testMakeDirectoriesStatusAndSymlinks() throws {
        try FileSystem.makeDirectories(dir + "/x/y/z", mode: 0o700)
        try FileSystem.makeDirectories(dir + "/x/y/z")   // exists: fine
        XCTAssertEqual(try FileSystem.status(dir + "/x/y/z").type, "directory")
        XCTAssertTrue(FileSystem.isDirectory(dir + "/x/y"))
        try FileSystem.writeAtomically(dir + "/x/f", [1, 2, 3])
        XCTAssertThrowsError(try FileSystem.makeDirectories(dir + "/x/f/g")) { e in
            XCTAssertEqual((e as! FileSystemError).code, "ENOTDIR")
        }
        symlink(dir + "/nowhere", dir + "/dangling")
        XCTAssertTrue(FileSystem.exists(dir + "/dangling"))
        XCTAssertFalse(FileSystem.isFile(dir + "/dangling"))
        XCTAssertEqual(try FileSystem.status(dir + "/dangling").type, "link")
        XCTAssertEqual(try FileSystem.status(dir + "/x/f").size, 3)
    }

    func testGlobMatchAndMove() throws {
        for n in ["a.log", "b.log", "c.txt"] { try FileSystem.writeAtomically(dir + "/" + n, []) }
        XCTAssertEqual(try FileSystem.glob(dir + "/*.log"), [dir + "/a.log", dir + "/b.log"])
        XCTAssertEqual(try FileSystem.glob(dir + "/*.none"), [])
        XCTAssertTrue(FileSystem.matches("*.log", "a.log"))
        XCTAssertFalse(FileSystem.matches("*.log", "c.txt"))
        try FileSystem.rename(dir + "/c.txt", dir + "/d.txt")
        XCTAssertFalse(FileSystem.exists(dir + "/c.txt"))
        try FileSystem.removeFile(dir + "/d.txt")
        XCTAssertEqual(FileSystem.directory(of: "/f"), "/")
        XCTAssertEqual(FileSystem.directory(of: "f"), ".")
        XCTAssertEqual(FileSystem.directory(of: "/a/b"), "/a")
    }
}
