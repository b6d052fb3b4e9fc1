import Archive
import Foundation
import Synchronization
import XCTest

/// BackupWriter's descriptors on its error paths.
final class BackupWriterTests: XCTestCase {
    final class Watch: Sendable {
        let stop = Atomic<Bool>(false)
        let stolen = Atomic<Int>(0)
    }

    /// A writer whose init fails after it took the root's lock (here the backup directory's
    /// name is too long to create) closes the lock once. Closed twice, the second close hits
    /// whatever another thread opened under that number in between: a thread opening and
    /// checking descriptors all along must never find one of its own closed under it.
    func testFailedInitClosesTheLockOnce() throws {
        // the lock file ROOT/.opsh-backup.lock fits in PATH_MAX, ROOT/NAME.partial does not
        var root = T.tmp("lock")
        while root.utf8.count + 201 <= 4000 { root += "/" + String(repeating: "r", count: 200) }
        root += "/" + String(repeating: "s", count: 4000 - root.utf8.count - 1)
        let tier = String(repeating: "t", count: 100)
        XCTAssertThrowsError(try BackupWriter(root: root, tier: tier)) { e in
            XCTAssertTrue("\(e)".contains("too long"), "\(e)")
        }
        let watch = Watch()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while !watch.stop.load(ordering: .relaxed) {
                let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                if fcntl(fd, F_GETFD) < 0 || close(fd) != 0 { watch.stolen.add(1, ordering: .relaxed) }
            }
            done.signal()
        }
        for _ in 0..<3000 { _ = try? BackupWriter(root: root, tier: tier) }
        watch.stop.store(true, ordering: .relaxed)
        done.wait()
        XCTAssertEqual(watch.stolen.load(ordering: .relaxed), 0, "descriptors of another thread were closed by a failed BackupWriter.init")
    }
}
