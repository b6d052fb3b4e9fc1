/// The engine's multiplexed stream (logs, attach and exec of a container without a TTY):
/// frames of an 8-byte header — stream (0 stdin, 1 stdout, 2 stderr, 3 system error),
/// three zero bytes, a big-endian UInt32 length — then the payload. A container with a TTY
/// sends its output raw instead, and the engine does not say which in the response's
/// content type (20.10 leaves it out): callers decide from the container's `Config.Tty`.
public struct DockerFrameDecoder: Sendable {
    public enum Stream: UInt8, Sendable { case stdin = 0, stdout = 1, stderr = 2, system = 3 }

    var header = [UInt8]()
    var remaining = 0
    var stream = Stream.stdout
    /// Bytes of payload expected in the current frame, for the message of a cut stream.
    var frameLength = 0

    public init() { header.reserveCapacity(8) }

    /// True when the bytes so far end inside a frame (a header or a payload is incomplete).
    public var midFrame: Bool { !header.isEmpty || remaining > 0 }

    /// What is missing, for an error message about a cut stream.
    public var cutDescription: String {
        if !header.isEmpty { return "cut inside a frame header (\(header.count) of 8 bytes)" }
        return "cut inside a frame (\(frameLength - remaining) of \(frameLength) payload bytes)"
    }

    /// Splits `bytes` into payload pieces (a frame's payload may arrive in several pieces).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Stream, UnsafeRawBufferPointer) -> Void) throws(DockerError) {
        var i = 0
        let n = bytes.count
        while i < n {
            if remaining > 0 {
                let k = min(remaining, n - i)
                emit(stream, UnsafeRawBufferPointer(rebasing: bytes[i..<(i + k)]))
                remaining -= k
                i += k
                continue
            }
            // header bytes, possibly split across calls
            if header.isEmpty && n - i >= 8 {
                try start(bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3], bytes[i + 4], bytes[i + 5], bytes[i + 6], bytes[i + 7])
                i += 8
                continue
            }
            header.append(bytes[i])
            i += 1
            if header.count == 8 {
                let h = header
                header.removeAll(keepingCapacity: true)
                try start(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            }
        }
    }

    private mutating func start(_ s: UInt8, _ z1: UInt8, _ z2: UInt8, _ z3: UInt8, _ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) throws(DockerError) {
        guard let st = Stream(rawValue: s), z1 == 0, z2 == 0, z3 == 0 else {
            throw DockerError(.stream, "not a multiplexed stream (a frame header starts with byte \(s)): is the container's TTY setting right?")
        }
        stream = st
        frameLength = Int(a) << 24 | Int(b) << 16 | Int(c) << 8 | Int(d)
        remaining = frameLength
    }
}

/// Turns pieces of output into lines, one partial line per stream (frames of stdout and stderr
/// interleave). Lines are handed over without their "\n" (and without a "\r" before it: a TTY
/// ends lines with "\r\n"); a line longer than `maxLine` is handed over in pieces of that size.
public struct LineSplitter: Sendable {
    var partial: [[UInt8]] = [[], [], [], []]
    public let maxLine: Int

    public init(maxLine: Int = 1 << 20) { self.maxLine = maxLine }

    public mutating func feed(_ stream: DockerFrameDecoder.Stream, _ bytes: UnsafeRawBufferPointer, _ emit: (DockerFrameDecoder.Stream, UnsafeRawBufferPointer) -> Void) {
        let s = Int(stream.rawValue)
        guard let base = bytes.baseAddress else { return }
        var start = 0
        let n = bytes.count
        while start < n {
            guard let nl = memchr(base + start, 0x0A, n - start) else {
                partial[s].append(contentsOf: UnsafeRawBufferPointer(start: base + start, count: n - start))
                if partial[s].count >= maxLine { flushLong(stream, emit) }
                return
            }
            let end = base.distance(to: UnsafeRawPointer(nl))
            if partial[s].isEmpty {
                var e = end
                if e > start, bytes[e - 1] == 0x0D { e -= 1 }
                emit(stream, UnsafeRawBufferPointer(rebasing: bytes[start..<e]))
            } else {
                partial[s].append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                if partial[s].last == 0x0D { partial[s].removeLast() }
                partial[s].withUnsafeBytes { emit(stream, $0) }
                partial[s].removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
    }

    private mutating func flushLong(_ stream: DockerFrameDecoder.Stream, _ emit: (DockerFrameDecoder.Stream, UnsafeRawBufferPointer) -> Void) {
        let s = Int(stream.rawValue)
        partial[s].withUnsafeBytes { emit(stream, $0) }
        partial[s].removeAll(keepingCapacity: true)
    }

    /// The last lines that had no "\n" (the end of the stream).
    public mutating func finish(_ emit: (DockerFrameDecoder.Stream, UnsafeRawBufferPointer) -> Void) {
        for s in 0..<4 where !partial[s].isEmpty {
            if partial[s].last == 0x0D { partial[s].removeLast() }
            partial[s].withUnsafeBytes { emit(DockerFrameDecoder.Stream(rawValue: UInt8(s))!, $0) }
            partial[s].removeAll()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
