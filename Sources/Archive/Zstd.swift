import CDyn
import Glibc

/// zstd output through libzstd's own worker threads (ZSTD_c_nbWorkers), with the frame checksum
/// on. Level 3 is zstd's (and `tar --zstd`'s) default.
public final class ZstdSink: ByteSink {
    let downstream: ByteSink
    let api: UnsafePointer<opsh_zstd_api>
    let cctx: OpaquePointer
    var out: [UInt8]
    var finished = false

    public init(downstream: ByteSink, level: Int = 3, threads: Int = availableCores()) throws {
        guard let api = opsh_zstd(), let c = api.pointee.ZSTD_createCCtx() else {
            throw ArchiveError(.library, "zstd needs libzstd: \(String(cString: opsh_dyn_error()))")
        }
        self.api = api
        self.cctx = c
        self.downstream = downstream
        out = [UInt8](repeating: 0, count: api.pointee.ZSTD_CStreamOutSize())
        _ = api.pointee.ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, Int32(level))
        _ = api.pointee.ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)
        if threads > 1 {
            // an error here means a libzstd built without threads: it then compresses on this one
            _ = api.pointee.ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, Int32(threads))
        }
    }

    deinit { _ = api.pointee.ZSTD_freeCCtx(cctx) }

    func run(_ bytes: UnsafeRawBufferPointer, _ mode: ZSTD_EndDirective) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while true {
            var (remaining, produced): (Int, Int) = out.withUnsafeMutableBytes { o in
                var ob = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
                let r = api.pointee.ZSTD_compressStream2(cctx, &ob, &input, mode)
                return (r, ob.pos)
            }
            if api.pointee.ZSTD_isError(remaining) != 0 {
                throw ArchiveError(.library, "zstd: \(String(cString: api.pointee.ZSTD_getErrorName(remaining)!))")
            }
            if produced > 0 {
                try out.withUnsafeBytes { (p) in try downstream.write(UnsafeRawBufferPointer(rebasing: p[0..<produced])) }
            }
            if mode == ZSTD_e_end {
                if remaining == 0 { return }
            } else if input.pos == input.size {
                return
            }
            produced = 0
            remaining = 0
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try run(bytes, ZSTD_e_continue)
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        try run(UnsafeRawBufferPointer(start: nil, count: 0), ZSTD_e_end)
        try downstream.finish()
    }
}

/// Reads zstd (any number of frames). Ending inside a frame is `truncated`.
public final class ZstdSource: ByteSource {
    let upstream: ByteSource
    let api: UnsafePointer<opsh_zstd_api>
    let dctx: OpaquePointer
    var input: [UInt8]
    var inPos = 0, inEnd = 0
    var upstreamDone = false
    var frameOpen = false
    let name: String

    public init(upstream: ByteSource, name: String) throws {
        guard let api = opsh_zstd(), let d = api.pointee.ZSTD_createDCtx() else {
            throw ArchiveError(.library, "zstd needs libzstd: \(String(cString: opsh_dyn_error()))")
        }
        self.api = api
        self.dctx = d
        self.upstream = upstream
        self.name = name
        input = [UInt8](repeating: 0, count: api.pointee.ZSTD_DStreamInSize())
    }

    deinit { _ = api.pointee.ZSTD_freeDCtx(dctx) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            if inPos == inEnd && !upstreamDone {
                let n = try input.withUnsafeMutableBytes { (p) in try upstream.read(into: p) }
                inPos = 0
                inEnd = n
                if n == 0 { upstreamDone = true }
            }
            if inPos == inEnd && upstreamDone && !frameOpen { return 0 }
            let (r, produced): (Int, Int) = input.withUnsafeBytes { ip in
                var ib = ZSTD_inBuffer(src: ip.baseAddress! + inPos, size: inEnd - inPos, pos: 0)
                var ob = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let r = api.pointee.ZSTD_decompressStream(dctx, &ob, &ib)
                inPos += ib.pos
                return (r, ob.pos)
            }
            if api.pointee.ZSTD_isError(r) != 0 {
                throw ArchiveError(.corrupt, "\(name): zstd data is corrupt (\(String(cString: api.pointee.ZSTD_getErrorName(r)!)))", path: name)
            }
            frameOpen = r != 0
            if produced > 0 { return produced }
            if inPos == inEnd && upstreamDone && frameOpen {
                throw ArchiveError(.truncated, "\(name): the zstd stream ends early (truncated)", path: name)
            }
        }
    }
}
