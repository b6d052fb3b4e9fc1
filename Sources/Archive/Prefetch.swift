/// Runs a source (a decompressor) on its own thread, up to four 1 MiB chunks ahead, so
/// decompression overlaps with what the reader does with the data (extracting, hashing): on a
/// restore the two stages then use two cores, as `tar xzf` does with its gzip child process.
final class PrefetchSource: ByteSource {
    let upstream: ByteSource
    let monitor = Monitor()
    var chunks: [[UInt8]] = []
    var done = false
    var failure: Error?
    var stopping = false
    var thread: pthread_t?
    var current: [UInt8] = []
    var pos = 0
    static let chunkSize = 1 << 20
    static let depth = 4

    init(_ upstream: ByteSource) { self.upstream = upstream }

    deinit {
        monitor.locked { stopping = true; monitor.broadcast() }
        if let thread { joinThread(thread) }
    }

    func run() {
        while true {
            var chunk = [UInt8](repeating: 0, count: PrefetchSource.chunkSize)
            var filled = 0
            var err: Error? = nil
            do {
                while filled < chunk.count {
                    let n = try chunk.withUnsafeMutableBytes { try upstream.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
                    if n == 0 { break }
                    filled += n
                }
            } catch { err = error }
            chunk.removeSubrange(filled...)
            let last = filled < PrefetchSource.chunkSize || err != nil
            let stop: Bool = monitor.locked {
                while chunks.count >= PrefetchSource.depth && !stopping { monitor.wait() }
                if !chunk.isEmpty { chunks.append(chunk) }
                if last { done = true; failure = err }
                monitor.broadcast()
                return stopping || last
            }
            if stop { return }
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if thread == nil { thread = startThread { [unowned self] in self.run() } }
        if pos == current.count {
            let next: [UInt8]? = try monitor.locked {
                while chunks.isEmpty && !done { monitor.wait() }
                if !chunks.isEmpty {
                    let c = chunks.removeFirst()
                    monitor.broadcast()
                    return c
                }
                if let failure { throw failure }
                return nil
            }
            guard let next else { return 0 }
            current = next
            pos = 0
        }
        let n = min(buffer.count, current.count - pos)
        current.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
        pos += n
        return n
    }
}

import Glibc
