import Glibc

/// Appends JSON text to a growable byte buffer. Commas (and, in pretty mode, newlines and
/// 2-space indentation) are inserted by the writer; the caller only says what comes next.
///
/// Structure is the caller's responsibility: inside an object call `key` before each value;
/// balance every `begin` with its `end`. (Misuse is caught by `assert` in debug builds and
/// yields invalid JSON in release builds; the Lua binding drives the writer from a table walk,
/// so it cannot misuse it.) Strings are written as given: bytes are not checked for UTF-8.
///
/// Copies share the output buffer; use one writer at a time.
public struct JSONWriter {
    @usableFromInline let buf: ByteBuffer
    @usableFromInline var needComma = false
    @usableFromInline var afterKey = false
    @usableFromInline var depth = 0
    public let pretty: Bool

    /// - Parameters:
    ///   - pretty: newline and 2-space indentation per level, `"key": value`.
    ///   - capacity: initial buffer size in bytes.
    public init(pretty: Bool = false, capacity: Int = 256) {
        self.pretty = pretty
        self.buf = ByteBuffer(capacity: max(capacity, 16))
    }

    /// Number of bytes written.
    public var count: Int { buf.count }

    /// Calls `body` with the bytes written so far (valid only inside `body`).
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: buf.base, count: buf.count))
    }

    /// A copy of the bytes written so far.
    public var bytes: [UInt8] {
        Array(UnsafeBufferPointer(start: buf.base, count: buf.count))
    }

    /// Empties the buffer (keeping its memory) and the structure state.
    public mutating func reset() {
        buf.count = 0
        needComma = false
        afterKey = false
        depth = 0
    }

    // MARK: structure

    @inline(__always)
    mutating func beforeValue() {
        if afterKey {
            afterKey = false
            return
        }
        if needComma { buf.append(0x2C) }
        if pretty && depth > 0 { newline() }
    }

    @inline(never)
    mutating func newline() {
        buf.reserve(1 + 2 * depth)
        var q = buf.base + buf.count
        q[0] = 0x0A
        q += 1
        q.initialize(repeating: 0x20, count: 2 * depth)
        buf.count += 1 + 2 * depth
    }

    public mutating func beginObject() {
        beforeValue()
        buf.append(0x7B)
        depth += 1
        needComma = false
    }

    public mutating func endObject() {
        assert(depth > 0 && !afterKey, "JSONWriter: unbalanced endObject")
        depth -= 1
        if pretty && needComma { newline() }
        buf.append(0x7D)
        needComma = true
    }

    public mutating func beginArray() {
        beforeValue()
        buf.append(0x5B)
        depth += 1
        needComma = false
    }

    public mutating func endArray() {
        assert(depth > 0 && !afterKey, "JSONWriter: unbalanced endArray")
        depth -= 1
        if pretty && needComma { newline() }
        buf.append(0x5D)
        needComma = true
    }

    /// An object key (any bytes; escaped as needed).
    public mutating func key(_ bytes: UnsafeRawBufferPointer) {
        assert(!afterKey, "JSONWriter: two keys in a row")
        if needComma { buf.append(0x2C) }
        if pretty { newline() }
        escaped(bytes)
        if pretty {
            buf.reserve(2); buf.base[buf.count] = 0x3A; buf.base[buf.count + 1] = 0x20; buf.count += 2
        } else {
            buf.append(0x3A)
        }
        afterKey = true
        needComma = true
    }

    public mutating func key(_ s: String) {
        var s = s
        s.withUTF8 { key(UnsafeRawBufferPointer($0)) }
    }

    // MARK: values

    public mutating func null() {
        beforeValue()
        buf.append4(0x6C6C_756E)
        needComma = true
    }

    public mutating func bool(_ v: Bool) {
        beforeValue()
        if v { buf.append4(0x6575_7274) } else { buf.append4(0x736C_6166); buf.append(0x65) }
        needComma = true
    }

    /// A string value (any bytes; `"`, `\` and control characters escaped, the rest verbatim).
    public mutating func string(_ bytes: UnsafeRawBufferPointer) {
        beforeValue()
        escaped(bytes)
        needComma = true
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(UnsafeRawBufferPointer($0)) }
    }

    public mutating func int(_ v: Int64) {
        beforeValue()
        buf.reserve(20)
        buf.count += writeInt(v, buf.base + buf.count)
        needComma = true
    }

    /// A double in the shortest form that reads back to the same value (Swift's
    /// round-trip printing). Integral values keep `.0` or an exponent so they parse back as
    /// doubles, e.g. `1.0`, `1e+16`, `-0.0`. NaN and infinities throw `.invalidDouble`.
    public mutating func double(_ v: Double) throws(JSONError) {
        guard v.isFinite else {
            throw JSONError(kind: .invalidDouble, message: "cannot encode \(v) as JSON (NaN and infinity have no JSON form)")
        }
        beforeValue()
        needComma = true
        // Integral values below 2^53 in magnitude: digits + ".0" (what `description` prints
        // below 1e16), without building a String.
        if v == v.rounded(.towardZero) && abs(v) < 1e15 {
            if v == 0 && v.sign == .minus {
                buf.append4(0x302E_302D) // "-0.0"
                return
            }
            buf.reserve(24)
            var q = buf.base + buf.count
            q += writeInt(Int64(v), q)
            q[0] = 0x2E; q[1] = 0x30
            buf.count = q + 2 - buf.base
            return
        }
        var s = v.description
        s.withUTF8 { u in
            buf.reserve(u.count)
            (buf.base + buf.count).update(from: u.baseAddress!, count: u.count)
            buf.count += u.count
        }
    }

    /// A number given as its JSON text, written verbatim after checking it is a valid JSON
    /// number (e.g. the digits of a `bigInteger` tape entry). Throws `.invalidRawNumber`.
    public mutating func rawNumber(_ text: UnsafeRawBufferPointer) throws(JSONError) {
        guard isJSONNumber(text) else {
            throw JSONError(kind: .invalidRawNumber,
                            message: "not a JSON number: \"\(String(decoding: text.prefix(64), as: UTF8.self))\"")
        }
        beforeValue()
        buf.reserve(text.count)
        if text.count > 0 { (buf.base + buf.count).update(from: text.baseAddress!.assumingMemoryBound(to: UInt8.self), count: text.count) }
        buf.count += text.count
        needComma = true
    }

    // MARK: internals

    @inline(__always)
    mutating func escaped(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        buf.reserve(n + 2)
        buf.base[buf.count] = 0x22
        buf.count += 1
        if n > 0 {
            let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var s = 0
            while true {
                let r = scanEscape(p, s, n)
                if r > s {
                    buf.reserve(r - s + 1)
                    (buf.base + buf.count).update(from: p + s, count: r - s)
                    buf.count += r - s
                }
                if r >= n { break }
                writeEscape(p[r])
                s = r + 1
            }
        }
        buf.append(0x22)
    }

    @inline(never)
    mutating func writeEscape(_ c: UInt8) {
        buf.reserve(6)
        let q = buf.base + buf.count
        q[0] = 0x5C
        switch c {
        case 0x22: q[1] = 0x22; buf.count += 2
        case 0x5C: q[1] = 0x5C; buf.count += 2
        case 0x0A: q[1] = 0x6E; buf.count += 2
        case 0x0D: q[1] = 0x72; buf.count += 2
        case 0x09: q[1] = 0x74; buf.count += 2
        case 0x08: q[1] = 0x62; buf.count += 2
        case 0x0C: q[1] = 0x66; buf.count += 2
        default:
            let hex: StaticString = "0123456789abcdef"
            q[1] = 0x75; q[2] = 0x30; q[3] = 0x30
            q[4] = hex.utf8Start[Int(c >> 4)]
            q[5] = hex.utf8Start[Int(c & 15)]
            buf.count += 6
        }
    }
}

/// Index of the first byte in p[s..<n] that needs escaping (`"`, `\`, < 0x20), or n.
@inline(__always)
func scanEscape(_ p: UnsafePointer<UInt8>, _ s: Int, _ n: Int) -> Int {
    var j = s
    let ones: UInt64 = 0x0101_0101_0101_0101
    let high: UInt64 = 0x8080_8080_8080_8080
    while j &+ 8 <= n {
        let w = UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)
        let xq = w ^ (ones &* 0x22)
        let xb = w ^ (ones &* 0x5C)
        let t = (((xq &- ones) & ~xq) | ((xb &- ones) & ~xb) | ((w &- ones &* 0x20) & ~w)) & high
        if t != 0 { return j &+ (t.trailingZeroBitCount &>> 3) }
        j &+= 8
    }
    while j < n {
        let c = p[j]
        if c == 0x22 || c == 0x5C || c < 0x20 { return j }
        j &+= 1
    }
    return n
}

/// Writes the decimal digits of `v` at `q` (at most 20 bytes); returns the byte count.
@inline(__always)
func writeInt(_ v: Int64, _ q: UnsafeMutablePointer<UInt8>) -> Int {
    var u = v < 0 ? 0 &- UInt64(bitPattern: v) : UInt64(bitPattern: v)
    var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
    return withUnsafeMutableBytes(of: &tmp) { raw in
        let t = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let pairs: StaticString =
            "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        let d = pairs.utf8Start
        var k = 24
        while u >= 100 {
            let r = Int(u % 100)
            u /= 100
            k -= 2
            t[k] = d[2 * r]
            t[k + 1] = d[2 * r + 1]
        }
        if u >= 10 {
            k -= 2
            t[k] = d[2 * Int(u)]
            t[k + 1] = d[2 * Int(u) + 1]
        } else {
            k -= 1
            t[k] = UInt8(truncatingIfNeeded: u) + 0x30
        }
        var o = 0
        if v < 0 { q[0] = 0x2D; o = 1 }
        (q + o).update(from: t + k, count: 24 - k)
        return o + 24 - k
    }
}

/// Whether `text` is exactly one JSON number (RFC 8259 grammar).
func isJSONNumber(_ text: UnsafeRawBufferPointer) -> Bool {
    let n = text.count
    var i = 0
    @inline(__always) func digit(_ k: Int) -> Bool { k < n && text[k] &- 0x30 < 10 }
    if i < n && text[i] == 0x2D { i += 1 }
    guard i < n else { return false }
    if text[i] == 0x30 { i += 1 } else if digit(i) { while digit(i) { i += 1 } } else { return false }
    if i < n && text[i] == 0x2E {
        i += 1
        guard digit(i) else { return false }
        while digit(i) { i += 1 }
    }
    if i < n && (text[i] | 0x20) == 0x65 {
        i += 1
        if i < n && (text[i] == 0x2B || text[i] == 0x2D) { i += 1 }
        guard digit(i) else { return false }
        while digit(i) { i += 1 }
    }
    return i == n
}

/// The writer's output buffer (malloc'ed, doubled as needed). Its state lives behind a
/// pointer so that hot appends pay no dynamic exclusivity checks (class `var`s would).
@usableFromInline
final class ByteBuffer {
    @usableFromInline
    struct Header {
        @usableFromInline var base: UnsafeMutablePointer<UInt8>
        @usableFromInline var count: Int
        @usableFromInline var capacity: Int
    }
    @usableFromInline let h: UnsafeMutablePointer<Header>

    init(capacity: Int) {
        h = .allocate(capacity: 1)
        h.initialize(to: Header(base: malloc(capacity)!.assumingMemoryBound(to: UInt8.self), count: 0, capacity: capacity))
    }

    deinit {
        free(h.pointee.base)
        h.deallocate()
    }

    @usableFromInline var base: UnsafeMutablePointer<UInt8> {
        @inline(__always) get { h.pointee.base }
    }
    @usableFromInline var count: Int {
        @inline(__always) get { h.pointee.count }
        @inline(__always) set { h.pointee.count = newValue }
    }

    @inline(__always)
    func reserve(_ extra: Int) {
        if h.pointee.count &+ extra > h.pointee.capacity { grow(extra) }
    }

    @inline(never)
    func grow(_ extra: Int) {
        var c = h.pointee.capacity * 2
        while c < h.pointee.count + extra { c *= 2 }
        h.pointee.base = realloc(h.pointee.base, c)!.assumingMemoryBound(to: UInt8.self)
        h.pointee.capacity = c
    }

    @inline(__always)
    func append(_ b: UInt8) {
        let c = h.pointee.count
        if c &+ 1 > h.pointee.capacity { grow(1) }
        h.pointee.base[c] = b
        h.pointee.count = c &+ 1
    }

    @inline(__always)
    func append4(_ w: UInt32) {
        let c = h.pointee.count
        if c &+ 4 > h.pointee.capacity { grow(4) }
        UnsafeMutableRawPointer(h.pointee.base + c).storeBytes(of: w, as: UInt32.self)
        h.pointee.count = c &+ 4
    }
}
