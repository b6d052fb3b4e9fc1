import Glibc

/// A parsed JSON document as a flat tape of 64-bit words (simdjson-style): no per-value
/// heap objects, one sequential walk visits every value in document order.
///
/// ## Layout
/// Every entry starts with a header word: the kind in bits 56...63 (`Kind.rawValue`), a
/// payload in bits 0...55. Some kinds have a second word.
///
/// | kind          | words | header payload                          | second word                      |
/// |---------------|-------|-----------------------------------------|----------------------------------|
/// | `null`        | 1     | 0                                       | -                                |
/// | `false`/`true`| 1     | 0                                       | -                                |
/// | `int`         | 2     | 0                                       | Int64 bit pattern                |
/// | `double`      | 2     | 0                                       | Double bit pattern               |
/// | `bigInteger`  | 2     | length of the digit text                | byte offset in the input         |
/// | `string`      | 2     | bit 55: 1 = in side buffer; bits 0...54: length | byte offset (input or side buffer) |
/// | `arrayStart`  | 2     | element count (patched at `]`)          | index of the matching end word   |
/// | `objectStart` | 2     | member count (patched at `}`)           | index of the matching end word   |
/// | `arrayEnd`/`objectEnd` | 1 | index of the matching start word  | -                                |
///
/// An object's members follow its start as `key (string entry), value` pairs. Index 0 is the
/// root value. `next(after:)` moves to the following entry (into a container's first child);
/// `skip(_:)` moves past a whole value.
///
/// Strings without escapes are slices of the input: **the tape borrows the input buffer**, which
/// must stay alive and unchanged while string or big-integer bytes are read. Strings with escapes
/// are decoded (to UTF-8) into a side buffer owned by the tape.
///
/// Copies of a `JSONTape` share storage (it is a handle); `parse` into a tape whose storage is
/// shared allocates fresh storage, so other copies keep their contents.
public struct JSONTape {
    /// The kind of a tape entry. Raw values are the tags stored in bits 56...63.
    public enum Kind: UInt8, Sendable {
        case null = 0
        case `false` = 1
        case `true` = 2
        case int = 3
        case double = 4
        case bigInteger = 5
        case string = 6
        case arrayStart = 7
        case objectStart = 8
        case arrayEnd = 9
        case objectEnd = 10
    }

    @usableFromInline
    var storage: TapeStorage

    /// An empty tape; fill it with `parse(_:options:)` (reusing its buffers across parses).
    public init() { storage = TapeStorage() }

    /// Number of 64-bit words in the tape; valid entry indices are below this.
    @inlinable public var wordCount: Int { storage.count }

    /// Index of the root value (0); the tape is empty before a successful parse.
    @inlinable public var rootIndex: Int { 0 }

    @inlinable @inline(__always)
    func word(_ i: Int) -> UInt64 {
        assert(i >= 0 && i < storage.count, "tape index out of range")
        return storage.words[i]
    }

    /// The kind of the entry at `i`.
    @inlinable @inline(__always)
    public func kind(at i: Int) -> Kind {
        Kind(rawValue: UInt8(truncatingIfNeeded: word(i) >> 56)).unsafelyUnwrapped
    }

    /// The index of the entry after the one at `i` (for a container start: its first child
    /// or its end).
    @inlinable @inline(__always)
    public func next(after i: Int) -> Int {
        let tag = word(i) >> 56
        return i &+ ((tag >= 3 && tag <= 8) ? 2 : 1)
    }

    /// The index after the whole value at `i` (for a container: after its end entry).
    @inlinable @inline(__always)
    public func skip(_ i: Int) -> Int {
        let tag = word(i) >> 56
        if tag == 7 || tag == 8 { return Int(truncatingIfNeeded: word(i &+ 1)) &+ 1 }
        return i &+ ((tag >= 3 && tag <= 8) ? 2 : 1)
    }

    /// The Int64 of an `int` entry.
    @inlinable @inline(__always)
    public func int(at i: Int) -> Int64 {
        assert(kind(at: i) == .int)
        return Int64(bitPattern: word(i &+ 1))
    }

    /// The Double of a `double` entry.
    @inlinable @inline(__always)
    public func double(at i: Int) -> Double {
        assert(kind(at: i) == .double)
        return Double(bitPattern: word(i &+ 1))
    }

    /// The Bool of a `true`/`false` entry.
    @inlinable @inline(__always)
    public func bool(at i: Int) -> Bool {
        word(i) >> 56 == 2
    }

    /// Element count of an `arrayStart` entry, member (key/value pair) count of an
    /// `objectStart` entry.
    @inlinable @inline(__always)
    public func count(at i: Int) -> Int {
        assert(kind(at: i) == .arrayStart || kind(at: i) == .objectStart)
        return Int(truncatingIfNeeded: word(i) & 0x00FF_FFFF_FFFF_FFFF)
    }

    /// Index of the end entry matching the container start at `i`.
    @inlinable @inline(__always)
    public func endIndex(ofContainerAt i: Int) -> Int {
        assert(kind(at: i) == .arrayStart || kind(at: i) == .objectStart)
        return Int(truncatingIfNeeded: word(i &+ 1))
    }

    /// The bytes of a `string` entry (UTF-8, escapes decoded; may contain NUL) or the digit
    /// text of a `bigInteger` entry (e.g. `18446744073709551615`, `-99999999999999999999`).
    /// Valid while the tape is not re-parsed and, for slices of the input, while the input lives.
    @inlinable @inline(__always)
    public func bytes(at i: Int) -> UnsafeRawBufferPointer {
        assert(kind(at: i) == .string || kind(at: i) == .bigInteger)
        let h = word(i)
        let off = Int(truncatingIfNeeded: word(i &+ 1))
        let len = Int(truncatingIfNeeded: h & 0x007F_FFFF_FFFF_FFFF)
        let base = (h & (1 << 55)) != 0 ? UnsafeRawPointer(storage.scratch!) : storage.input!
        return UnsafeRawBufferPointer(start: base + off, count: len)
    }

    /// Calls `body` with the bytes of a `string` or `bigInteger` entry.
    @inlinable
    public func withBytes<R, E: Error>(at i: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(bytes(at: i))
    }

    /// A `String` for a `string` entry (allocates; for tests and diagnostics, not hot paths).
    public func string(at i: Int) -> String {
        String(decoding: bytes(at: i), as: UTF8.self)
    }
}

/// The tape's buffers. Words and the side buffer are malloc'ed and reused across parses.
/// The state lives behind a pointer so that reads pay no dynamic exclusivity checks.
@usableFromInline
final class TapeStorage {
    @usableFromInline
    struct Header {
        @usableFromInline var words: UnsafeMutablePointer<UInt64>
        @usableFromInline var count: Int
        @usableFromInline var capacity: Int
        @usableFromInline var scratch: UnsafeMutablePointer<UInt8>?
        @usableFromInline var scratchCapacity: Int
        @usableFromInline var input: UnsafeRawPointer?
    }
    @usableFromInline let h: UnsafeMutablePointer<Header>

    init() {
        h = .allocate(capacity: 1)
        h.initialize(to: Header(words: malloc(16 * 8)!.assumingMemoryBound(to: UInt64.self), count: 0, capacity: 16,
                                scratch: nil, scratchCapacity: 0, input: nil))
    }

    deinit {
        free(h.pointee.words)
        free(h.pointee.scratch)
        h.deallocate()
    }

    @usableFromInline var words: UnsafeMutablePointer<UInt64> {
        @inline(__always) get { h.pointee.words }
        set { h.pointee.words = newValue }
    }
    @usableFromInline var count: Int {
        @inline(__always) get { h.pointee.count }
        set { h.pointee.count = newValue }
    }
    var capacity: Int {
        get { h.pointee.capacity }
        set { h.pointee.capacity = newValue }
    }
    @usableFromInline var scratch: UnsafeMutablePointer<UInt8>? {
        @inline(__always) get { h.pointee.scratch }
        set { h.pointee.scratch = newValue }
    }
    var scratchCapacity: Int {
        get { h.pointee.scratchCapacity }
        set { h.pointee.scratchCapacity = newValue }
    }
    @usableFromInline var input: UnsafeRawPointer? {
        @inline(__always) get { h.pointee.input }
        set { h.pointee.input = newValue }
    }
}

// Tag headers, pre-shifted.
@usableFromInline let tagNull: UInt64 = 0
@usableFromInline let tagFalse: UInt64 = 1 << 56
@usableFromInline let tagTrue: UInt64 = 2 << 56
@usableFromInline let tagInt: UInt64 = 3 << 56
@usableFromInline let tagDouble: UInt64 = 4 << 56
@usableFromInline let tagBig: UInt64 = 5 << 56
@usableFromInline let tagString: UInt64 = 6 << 56
@usableFromInline let tagArrayStart: UInt64 = 7 << 56
@usableFromInline let tagObjectStart: UInt64 = 8 << 56
@usableFromInline let tagArrayEnd: UInt64 = 9 << 56
@usableFromInline let tagObjectEnd: UInt64 = 10 << 56
@usableFromInline let scratchFlag: UInt64 = 1 << 55

extension JSONTape {
    /// Writes the value at `index` (default: the whole document) to `writer`, walking the tape
    /// sequentially (no recursion). Useful to re-encode or pretty-print a parsed document.
    public func write(to writer: inout JSONWriter, from index: Int = 0) throws(JSONError) {
        guard index < wordCount else { return }
        let end = skip(index)
        var i = index
        var inObject: [Bool] = []
        var expectKey = false
        while i < end {
            let k = kind(at: i)
            if expectKey && k == .string {
                writer.key(bytes(at: i))
                expectKey = false
                i = next(after: i)
                continue
            }
            switch k {
            case .null: writer.null()
            case .false: writer.bool(false)
            case .true: writer.bool(true)
            case .int: writer.int(int(at: i))
            case .double: try writer.double(double(at: i))
            case .bigInteger: try writer.rawNumber(bytes(at: i))
            case .string: writer.string(bytes(at: i))
            case .arrayStart: writer.beginArray(); inObject.append(false)
            case .objectStart: writer.beginObject(); inObject.append(true)
            case .arrayEnd: writer.endArray(); inObject.removeLast()
            case .objectEnd: writer.endObject(); inObject.removeLast()
            }
            // After any value (or a container start/end), a key comes next iff we are in an object.
            expectKey = inObject.last ?? false
            i = next(after: i)
        }
    }
}
