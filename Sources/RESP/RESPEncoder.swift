/// One argument of a command, for callers that mix types without building byte arrays.
public enum RESPArgument: Sendable, Equatable {
    case bytes([UInt8])
    case string(String)
    case int(Int64)
    case double(Double)

    /// The argument as text (bytes decoded as UTF-8), for command names and messages.
    public var text: String {
        switch self {
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return RESPNumbers.formatDouble(d)
        }
    }
}

/// Encodes commands as RESP arrays of bulk strings into one reusable byte buffer.
///
/// No allocation per argument: every argument is copied (memcpy) into `buffer`, which keeps
/// its capacity across `removeAll()`. A pipeline is just several commands appended in a row.
/// Integers are written in decimal; doubles in the shortest form that reads back exactly
/// (`inf`, `-inf`, `nan` as Redis's strtold reads them; integral values without ".0").
public struct RESPEncoder: Sendable {
    public private(set) var buffer: [UInt8] = []
    public private(set) var commandCount = 0

    public init(reservingCapacity n: Int = 0) { if n > 0 { buffer.reserveCapacity(n) } }

    public var isEmpty: Bool { buffer.isEmpty }

    /// Forgets the bytes, keeps the capacity.
    public mutating func removeAll() { buffer.removeAll(keepingCapacity: true); commandCount = 0 }

    /// Drops the first `n` bytes (those already written to a socket).
    public mutating func removeFirst(_ n: Int) {
        if n >= buffer.count { removeAll() } else if n > 0 { buffer.removeFirst(n) }
    }

    // MARK: building a command piece by piece

    /// Starts a command of `count` arguments; follow with exactly `count` `appendArgument` calls.
    public mutating func beginCommand(argumentCount count: Int) {
        appendLine(UInt8(ascii: "*"), count)
        commandCount += 1
    }

    /// `type`, the decimal digits of `n` (not negative) and CRLF, framed on the stack and
    /// appended in one copy: one capacity check instead of one per byte. A number of nine
    /// digits or more (a bulk string of 100 MB and up) is written as it always was.
    @inline(__always)
    private mutating func appendLine(_ type: UInt8, _ n: Int) {
        let framed = withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { raw -> Bool in   // a type, 8 digits, CRLF
            var frame = StackFrame(raw)
            guard frame.line(type, n) else { return false }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<frame.count]))
            return true
        }
        if framed { return }
        buffer.append(type)
        RESPNumbers.appendDecimal(Int64(n), to: &buffer)
        buffer.append(0x0D); buffer.append(0x0A)
    }

    @inline(__always)
    private mutating func header(_ n: Int) { appendLine(UInt8(ascii: "$"), n) }

    public mutating func appendArgument(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n <= 64 else {
            header(n)
            buffer.append(contentsOf: bytes)
            buffer.append(0x0D); buffer.append(0x0A)
            return
        }
        // a short argument (a command name, a key, a small value: most of them) is framed on the
        // stack and appended in one copy
        withUnsafeTemporaryAllocation(byteCount: 72, alignment: 8) { raw in   // "$64\r\n", 64 bytes, CRLF
            var frame = StackFrame(raw)
            _ = frame.bulk(bytes)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<frame.count]))
        }
    }

    public mutating func appendArgument(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { appendArgument($0) }
    }

    public mutating func appendArgument(_ s: String) {
        var s = s
        s.withUTF8 { appendArgument(UnsafeRawBufferPointer($0)) }
    }

    public mutating func appendArgument(_ s: Substring) {
        var s = s
        s.withUTF8 { appendArgument(UnsafeRawBufferPointer($0)) }
    }

    public mutating func appendArgument(_ v: Int64) {
        // Format in place: digits first, then the header in front of them is not possible
        // without knowing the width, so count digits first.
        var width = v < 0 ? 1 : 0
        var u = v.magnitude
        repeat { width += 1; u /= 10 } while u > 0
        header(width)
        RESPNumbers.appendDecimal(v, to: &buffer)
        buffer.append(0x0D); buffer.append(0x0A)
    }

    public mutating func appendArgument(_ v: Int) { appendArgument(Int64(v)) }

    public mutating func appendArgument(_ d: Double) { appendArgument(RESPNumbers.formatDouble(d)) }

    public mutating func appendArgument(_ a: RESPArgument) {
        switch a {
        case .bytes(let b): appendArgument(b)
        case .string(let s): appendArgument(s)
        case .int(let i): appendArgument(i)
        case .double(let d): appendArgument(d)
        }
    }

    /// Appends bytes that already hold `commands` encoded commands.
    public mutating func appendRaw(_ bytes: UnsafeRawBufferPointer, commands: Int) {
        buffer.append(contentsOf: bytes)
        commandCount += commands
    }

    // MARK: whole commands

    public mutating func append(_ args: [[UInt8]]) {
        beginCommand(argumentCount: args.count)
        for a in args { appendArgument(a) }
    }

    public mutating func append(_ args: [String]) {
        beginCommand(argumentCount: args.count)
        for a in args { appendArgument(a) }
    }

    public mutating func append(_ args: [RESPArgument]) {
        // A small command (a name, a key, a short value: most of them) is framed on the stack
        // and appended in one copy; a larger one argument by argument.
        let staged = withUnsafeTemporaryAllocation(byteCount: 256, alignment: 8) { raw -> Bool in
            var frame = StackFrame(raw)
            guard frame.line(UInt8(ascii: "*"), args.count) else { return false }
            for a in args {
                let fits: Bool
                switch a {
                case .bytes(let b): fits = b.withUnsafeBytes { frame.bulk($0) }
                case .string(let s): fits = s.utf8.withContiguousStorageIfAvailable { frame.bulk(UnsafeRawBufferPointer($0)) } ?? false
                case .int, .double: fits = false
                }
                guard fits else { return false }
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<frame.count]))
            return true
        }
        if staged { commandCount += 1; return }
        beginCommand(argumentCount: args.count)
        for a in args { appendArgument(a) }
    }

    public mutating func append(commands: [[RESPArgument]]) {
        for args in commands { append(args) }
    }

    /// A command framed in a fixed stack buffer; each write says whether it fitted.
    private struct StackFrame {
        let raw: UnsafeMutableRawBufferPointer
        var count = 0
        init(_ raw: UnsafeMutableRawBufferPointer) { self.raw = raw }

        /// `type`, the decimal digits of `n` (not negative, under 10^8), CRLF; false when it
        /// does not fit or `n` has more digits (`appendLine` writes those).
        @inline(__always)
        mutating func line(_ type: UInt8, _ n: Int) -> Bool {
            if n < 10 && count + 4 <= raw.count {   // most counts and lengths: one 4-byte store
                let v = UInt32(type) | UInt32(n + 0x30) << 8 | 0x0A0D_0000
                raw.storeBytes(of: UInt32(littleEndian: v), toByteOffset: count, as: UInt32.self)
                count += 4
                return true
            }
            if n < 100_000_000 && count + 1 + 8 + 2 <= raw.count {
                // up to eight digits gathered in an integer, the first digit in its lowest byte,
                // stored at once (the bytes past the last digit are overwritten by CRLF or later)
                var digits: UInt64 = 0, width = 0, u = n
                repeat { digits = digits << 8 | UInt64(u % 10 + 0x30); u /= 10; width += 1 } while u > 0
                raw[count] = type
                raw.storeBytes(of: UInt64(littleEndian: digits), toByteOffset: count + 1, as: UInt64.self)
                raw[count + 1 + width] = 0x0D; raw[count + 2 + width] = 0x0A
                count += width + 3
                return true
            }
            return false
        }

        /// A bulk string: its length line, the bytes, CRLF.
        mutating func bulk(_ bytes: UnsafeRawBufferPointer) -> Bool {
            let before = count
            guard line(UInt8(ascii: "$"), bytes.count), count + bytes.count + 2 <= raw.count else { count = before; return false }
            if !bytes.isEmpty { (raw.baseAddress! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            count += bytes.count
            raw[count] = 0x0D; raw[count + 1] = 0x0A
            count += 2
            return true
        }
    }

    /// The encoding of one command, for tests and one-offs.
    public static func encode(_ args: [String]) -> [UInt8] {
        var e = RESPEncoder(); e.append(args); return e.buffer
    }

    public static func encode(_ args: [[UInt8]]) -> [UInt8] {
        var e = RESPEncoder(); e.append(args); return e.buffer
    }
}
