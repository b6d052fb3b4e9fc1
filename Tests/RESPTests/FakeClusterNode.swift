import Foundation
import OpshTestSupport
import XCTest
@testable import RESP

/// A RESP server on loopback that answers each command with what `answer` returns (raw RESP
/// text): a cluster node that lies, for what no real cluster sends. Serves connections one
/// after the other until deinit.
final class FakeClusterNode: @unchecked Sendable {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [[String]] = []
        func add(_ c: [String]) { lock.lock(); items.append(c); lock.unlock() }
        var all: [[String]] { lock.lock(); defer { lock.unlock() }; return items }
    }
    let port: UInt16
    private let fd: Int32
    private let log = Log()
    /// Every command received, in order.
    var commands: [[String]] { log.all }

    init(answer: @escaping @Sendable (_ port: UInt16, _ command: [String]) -> String) {
        let (lfd, p) = HostileServer.listenOnLoopback()
        fd = lfd; port = p
        let log = self.log
        Thread {
            while true {
                let c = accept(lfd, nil, nil)
                guard c >= 0 else { return }
                let parser = RESPParser()
                var buf = [UInt8](repeating: 0, count: 16384)
                loop: while true {
                    let n = read(c, &buf, buf.count)
                    if n <= 0 { break }
                    parser.feed(Array(buf[0..<n]))
                    while let v = try? parser.next() {
                        let cmd = (v.elements ?? []).compactMap(\.string)
                        log.add(cmd)
                        let reply = Array(answer(p, cmd).utf8)
                        if write(c, reply, reply.count) < 0 { break loop }
                    }
                }
                close(c)
            }
        }.start()
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}
