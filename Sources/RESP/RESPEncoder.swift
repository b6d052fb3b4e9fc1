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
        buffer.append(UInt8(ascii: "*"))
        RESPNumbers.appendDecimal(Int64(count), to: &buffer)
        buffer.append(0x0D); buffer.append(0x0A)
        commandCount += 1
    }

    @inline(__always)
    private mutating func header(_ n: Int) {
        buffer.append(UInt8(ascii: "$"))
        RESPNumbers.appendDecimal(Int64(n), to: &buffer)
        buffer.append(0x0D); buffer.append(0x0A)
    }

    public mutating func appendArgument(_ bytes: UnsafeRawBufferPointer) {
        header(bytes.count)
        buffer.append(contentsOf: bytes)
        buffer.append(0x0D); buffer.append(0x0A)
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
        beginCommand(argumentCount: args.count)
        for a in args { appendArgument(a) }
    }

    /// The encoding of one command, for tests and one-offs.
    public static func encode(_ args: [String]) -> [UInt8] {
        var e = RESPEncoder(); e.append(args); return e.buffer
    }

    public static func encode(_ args: [[UInt8]]) -> [UInt8] {
        var e = RESPEncoder(); e.append(args); return e.buffer
    }
}
