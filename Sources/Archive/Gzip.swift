import CDyn
import Glibc

/// gzip output compressed on all cores, the way pigz does it: the stream is cut into 128 KiB
/// blocks, each deflated independently on a worker thread with the previous block's last
/// 32 KiB as its dictionary (so the ratio stays close to a single-threaded gzip -6), ended with
/// a sync flush so the raw deflate pieces concatenate; the CRC-32s are joined with
/// crc32_combine. The output is one ordinary gzip member that gzip, GNU tar and zlib read.
/// At most `4 x threads + 4` blocks (128 KiB each) are in flight, so memory is bounded whatever
/// the input; the depth lets the workers ride out the moments the main thread is descheduled
/// on a busy machine.
public final class GzipSink: ByteSink {
    static let blockSize = 128 << 10
    static let window = 32 << 10

    final class Job: @unchecked Sendable {
        var input: [UInt8]
        var dictionary: [UInt8]
        var output: [UInt8] = []
        var crc: UInt = 0
        var last = false
        var done = false
        var failed: Int32 = 0
        init(input: [UInt8], dictionary: [UInt8]) { self.input = input; self.dictionary = dictionary }
    }

    let downstream: ByteSink
    let zlib: UnsafePointer<opsh_zlib_api>
    let level: Int32
    let monitor = Monitor()
    var queue: [Job] = []            // waiting for a worker (guarded by monitor)
    var inOrder: [Job] = []          // every job not yet written, in stream order (main thread)
    var stopping = false
    var threads: [pthread_t] = []
    var current: [UInt8] = []
    var tail: [UInt8] = []
    var crc: UInt = 0
    var total: UInt64 = 0
    let maxInFlight: Int
    var finished = false

    public init(downstream: ByteSink, level: Int = 6, threads: Int = availableCores()) throws {
        guard let z = opsh_zlib() else {
            throw ArchiveError(.library, "gzip needs zlib: \(String(cString: opsh_dyn_error()))")
        }
        self.zlib = z
        self.downstream = downstream
        self.level = Int32(max(1, min(9, level)))
        self.maxInFlight = 4 * max(1, threads) + 4
        current.reserveCapacity(Self.blockSize)
        // gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unix
        let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]
        try header.withUnsafeBytes { (p) in try downstream.write(p) }
        for _ in 0..<max(1, threads) {
            if let t = startThread({ [unowned self] in self.workerLoop() }) { self.threads.append(t) }
        }
        if self.threads.isEmpty { throw ArchiveError(.io, "cannot start compression threads") }
    }

    deinit { stopWorkers() }

    func stopWorkers() {
        monitor.locked { stopping = true; monitor.broadcast() }
        for t in threads { joinThread(t) }
        threads = []
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = min(Self.blockSize - current.count, bytes.count - off)
            current.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[off..<(off + n)]))
            off += n
            if current.count == Self.blockSize { try submit(last: false) }
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        try submit(last: true)
        while !inOrder.isEmpty { try emitFirst() }
        stopWorkers()
        var trailer = [UInt8](repeating: 0, count: 8)
        for i in 0..<4 { trailer[i] = UInt8((crc >> (8 * i)) & 0xff) }
        let isize = UInt32(truncatingIfNeeded: total)
        for i in 0..<4 { trailer[4 + i] = UInt8((isize >> (8 * UInt32(i))) & 0xff) }
        try trailer.withUnsafeBytes { (p) in try downstream.write(p) }
        try downstream.finish()
    }

    func submit(last: Bool) throws {
        let job = Job(input: current, dictionary: tail)
        job.last = last
        if current.count >= Self.window {
            tail = Array(current[(current.count - Self.window)...])
        } else {
            tail = Array((tail + current).suffix(Self.window))
        }
        current = []
        current.reserveCapacity(Self.blockSize)
        inOrder.append(job)
        monitor.locked { queue.append(job); monitor.broadcast() }
        while inOrder.count > maxInFlight { try emitFirst() }
    }

    /// Waits for the oldest block and writes it.
    func emitFirst() throws {
        let job = inOrder.removeFirst()
        monitor.locked { while !job.done { monitor.wait() } }
        if job.failed != 0 { throw ArchiveError(.library, "zlib deflate failed (\(job.failed))") }
        crc = zlib.pointee.crc32_combine(crc, job.crc, off_t(job.input.count))
        total += UInt64(job.input.count)
        try job.output.withUnsafeBytes { (p) in try downstream.write(p) }
    }

    func workerLoop() {
        var strm = z_stream()
        guard opsh_zlib_deflate_init(&strm, level, -15) == Z_OK else {
            // fail every job this worker would take
            while let job = take() { job.failed = -1; finishJob(job) }
            return
        }
        defer { _ = zlib.pointee.deflateEnd(&strm) }
        while let job = take() {
            compress(job, &strm)
            finishJob(job)
        }
    }

    func take() -> Job? {
        monitor.locked {
            while queue.isEmpty && !stopping { monitor.wait() }
            return queue.isEmpty ? nil : queue.removeFirst()
        }
    }

    func finishJob(_ job: Job) {
        monitor.locked { job.done = true; monitor.broadcast() }
    }

    func compress(_ job: Job, _ strm: inout z_stream) {
        let z = zlib.pointee
        _ = z.deflateReset(&strm)
        if !job.dictionary.isEmpty {
            job.dictionary.withUnsafeBufferPointer { d in
                _ = z.deflateSetDictionary(&strm, d.baseAddress, uInt(d.count))
            }
        }
        let bound = Int(z.deflateBound(&strm, uLong(job.input.count))) + 64
        // deflate writes every byte it reports: no need to zero the buffer first
        var out = [UInt8](unsafeUninitializedCapacity: bound) { _, n in n = bound }
        job.crc = job.input.withUnsafeBufferPointer { z.crc32(0, $0.baseAddress, uInt($0.count)) }
        let flush = job.last ? Z_FINISH : Z_SYNC_FLUSH
        var produced = 0
        job.input.withUnsafeMutableBufferPointer { inp in
            strm.next_in = inp.baseAddress
            strm.avail_in = uInt(inp.count)
            while true {
                if produced == out.count { out.append(contentsOf: [UInt8](repeating: 0, count: 65536)) }
                let rc: Int32 = out.withUnsafeMutableBufferPointer { o in
                    strm.next_out = o.baseAddress! + produced
                    strm.avail_out = uInt(o.count - produced)
                    let rc = z.deflate(&strm, flush)
                    produced = o.count - Int(strm.avail_out)
                    return rc
                }
                if rc == Z_STREAM_END { break }
                if rc != Z_OK && rc != Z_BUF_ERROR { job.failed = rc; break }
                if !job.last && strm.avail_in == 0 && strm.avail_out > 0 { break }
            }
        }
        out.removeSubrange(produced...)
        job.output = out
    }
}

/// Reads gzip (one or several concatenated members, as pigz and `cat a.gz b.gz` make them).
/// A stream that ends before its last member's trailer is `truncated`; a bad CRC or length,
/// or garbage after the members, is `corrupt`.
public final class GzipSource: ByteSource {
    let upstream: ByteSource
    let zlib: UnsafePointer<opsh_zlib_api>
    var strm = z_stream()
    var input = [UInt8](repeating: 0, count: 256 << 10)
    var inStart = 0, inEnd = 0
    var upstreamDone = false
    var memberOpen = false
    var ended = false
    let name: String

    public init(upstream: ByteSource, name: String) throws {
        guard let z = opsh_zlib() else {
            throw ArchiveError(.library, "gzip needs zlib: \(String(cString: opsh_dyn_error()))")
        }
        zlib = z
        self.upstream = upstream
        self.name = name
        guard opsh_zlib_inflate_init(&strm, 15 + 16) == Z_OK else { throw ArchiveError(.library, "inflateInit failed") }
    }

    deinit { _ = zlib.pointee.inflateEnd(&strm) }

    func fill() throws {
        if inStart == inEnd && !upstreamDone {
            let n = try input.withUnsafeMutableBytes { (p) in try upstream.read(into: p) }
            inStart = 0
            inEnd = n
            if n == 0 { upstreamDone = true }
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if ended || buffer.count == 0 { return 0 }
        while true {
            try fill()
            if inStart == inEnd && upstreamDone {
                if memberOpen { throw ArchiveError(.truncated, "\(name): the gzip stream ends early (truncated)", path: name) }
                ended = true
                return 0
            }
            if !memberOpen {
                // between members: another member, or zero padding (tolerated, as gzip does)
                if input[inStart] == 0 {
                    while inStart < inEnd && input[inStart] == 0 { inStart += 1 }
                    continue
                }
                if input[inStart] != 0x1f {
                    throw ArchiveError(.corrupt, "\(name): not gzip data (or garbage after the last member)", path: name)
                }
                memberOpen = true
                _ = zlib.pointee.inflateReset(&strm)
            }
            let avail = inEnd - inStart
            let (rc, consumed, produced): (Int32, Int, Int) = input.withUnsafeMutableBufferPointer { inp in
                strm.next_in = inp.baseAddress! + inStart
                strm.avail_in = uInt(avail)
                strm.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
                strm.avail_out = uInt(buffer.count)
                let rc = zlib.pointee.inflate(&strm, Z_NO_FLUSH)
                return (rc, avail - Int(strm.avail_in), buffer.count - Int(strm.avail_out))
            }
            inStart += consumed
            if rc == Z_STREAM_END {
                memberOpen = false
            } else if rc == Z_BUF_ERROR {
                if produced == 0 && consumed == 0 && upstreamDone && inStart == inEnd {
                    throw ArchiveError(.truncated, "\(name): the gzip stream ends early (truncated)", path: name)
                }
            } else if rc != Z_OK {
                let msg = strm.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw ArchiveError(.corrupt, "\(name): gzip data is corrupt (\(msg))", path: name)
            }
            if produced > 0 { return produced }
        }
    }
}
