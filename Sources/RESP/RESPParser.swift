import Glibc

/// Bounds on what a server may make the parser hold. Defaults follow Redis's own limits
/// (proto-max-bulk-len is 512 MB).
public struct RESPParserLimits: Sendable, Equatable {
    /// Longest bulk / verbatim / blob-error payload, in bytes.
    public var maxBulkLength: Int
    /// Most elements in one aggregate (a map or attribute of N pairs counts 2N).
    public var maxAggregateCount: Int
    /// Deepest nesting of aggregates.
    public var maxDepth: Int
    /// Longest line (type byte + payload of a simple string, error, number, or a length header),
    /// without its CRLF.
    public var maxLineLength: Int

    public init(maxBulkLength: Int = 512 << 20, maxAggregateCount: Int = 1 << 26,
                maxDepth: Int = 256, maxLineLength: Int = 512 << 10) {
        self.maxBulkLength = maxBulkLength
        self.maxAggregateCount = maxAggregateCount
        self.maxDepth = maxDepth
        self.maxLineLength = maxLineLength
    }
}

/// An incremental, resumable, non-recursive RESP2/RESP3 reply parser.
///
/// Feed bytes as they arrive (`feed`, or `withWritableSpace` to `read(2)` straight into its
/// buffer), then call `next()` until it returns nil (a reply is incomplete). Partially built
/// aggregates live on an explicit stack and a partially received bulk string in its own buffer,
/// so nothing is re-parsed when more bytes arrive. A malformed or out-of-bounds reply throws
/// `RESPProtocolError`; the parser then stays failed (every later call throws the same error).
///
/// Memory: the read buffer holds at most the unparsed bytes; a bulk string's storage grows with
/// the bytes that actually arrived (never reserved from the announced length beyond 16 MB), and
/// an aggregate reserves room only for as many elements as the buffered bytes could hold.
public final class RESPParser {
    public let limits: RESPParserLimits

    // Read buffer: unparsed bytes are storage[start..<end].
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0
    private var end = 0
    /// Stream offset of storage[0].
    private var base = 0
    /// How far (from `start`) the current incomplete line has been searched for '\n'.
    private var lineScanned = 0

    private enum Kind: UInt8 { case array, map, set, push, attribute }
    private struct Frame {
        var kind: Kind
        var remaining: Int
        var items: [RESPValue]
        var attrs: [RESPPair]?
    }
    /// Parents of the aggregate being filled (the innermost one lives in the `cur*` fields,
    /// so appending an element touches no nested array).
    private var stack: [Frame] = []
    private var hasCur = false
    private var cur: [RESPValue] = []
    private var curKind: Kind = .array
    private var curRemaining = 0
    private var curAttrs: [RESPPair]? = nil
    private var topAttrs: [RESPPair]? = nil

    // A bulk-like payload being received: type byte ('$', '=', '!'), bytes still to come
    // (payload only; then the CRLF), and the bytes so far.
    private var blobType: UInt8 = 0
    private var blobRemaining = 0
    private var blobTotal = 0
    private var blobStartOffset = 0
    private var blobData: [UInt8] = []

    private var failure: RESPProtocolError? = nil

    private static let initialCapacity = 64 << 10

    public init(limits: RESPParserLimits = RESPParserLimits()) {
        self.limits = limits
        capacity = RESPParser.initialCapacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Bytes received but not yet consumed by a complete or partial value.
    public var bufferedByteCount: Int { end - start }

    /// True when no reply is partially parsed (nothing pending on the stack or in a bulk).
    public var isIdle: Bool { !hasCur && blobType == 0 && topAttrs == nil && start == end }

    /// The stream offset of the next unparsed byte.
    public var offset: Int { base + start }

    // MARK: feeding

    public func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) {
        guard var src = bytes.baseAddress, bytes.count > 0 else { return }
        var n = bytes.count
        // A bulk string in progress and nothing buffered: copy straight into it.
        if blobType != 0 && blobRemaining > 0 && start == end {
            let k = min(n, blobRemaining)
            appendBlob(UnsafeRawBufferPointer(start: src, count: k))
            base += k   // these bytes never pass through the buffer
            src += k; n -= k
            if n == 0 { return }
        }
        ensureWritable(n)
        (storage + end).copyMemory(from: src, byteCount: n)
        end += n
    }

    /// Gives `body` writable space of at least `minimum` bytes at the end of the buffer (for a
    /// `read(2)`); `body` returns how many bytes it wrote (<= 0: none). Returns that value.
    @discardableResult
    public func withWritableSpace(minimum: Int, _ body: (UnsafeMutableRawPointer, Int) -> Int) -> Int {
        ensureWritable(max(minimum, 1))
        let n = body(storage + end, capacity - end)
        if n > 0 { end += min(n, capacity - end) }
        return n
    }

    private func ensureWritable(_ n: Int) {
        if capacity - end >= n { return }
        let live = end - start
        if start > 0 {
            if live > 0 { storage.copyMemory(from: storage + start, byteCount: live) }
            base += start; end = live; start = 0
            if capacity - end >= n { return }
        }
        var newCap = capacity
        while newCap - live < n { newCap = newCap > (1 << 40) ? live + n : newCap * 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCap, alignment: 16)
        if live > 0 { fresh.copyMemory(from: storage, byteCount: live) }
        storage.deallocate()
        storage = fresh
        capacity = newCap
    }

    /// Gives back a large buffer once it is empty.
    private func shrinkIfIdle() {
        guard start == end else { return }
        base += start; start = 0; end = 0
        if capacity > (4 << 20) {
            storage.deallocate()
            capacity = RESPParser.initialCapacity
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        }
    }

    private func appendBlob(_ b: UnsafeRawBufferPointer) {
        let need = blobData.count + b.count
        if need > blobData.capacity {
            // Grow with what arrived, never past the announced total.
            blobData.reserveCapacity(min(blobTotal, max(need, blobData.capacity * 2)))
        }
        blobData.append(contentsOf: b)
        blobRemaining -= b.count
    }

    // MARK: parsing

    private func fail(_ message: String, at off: Int) -> RESPProtocolError {
        let e = RESPProtocolError(message, offset: off)
        failure = e
        return e
    }

    /// The next complete reply, or nil when more bytes are needed.
    public func next() throws(RESPProtocolError) -> RESPValue? {
        if let f = failure { throw f }
        while true {
            var value: RESPValue
            if blobType != 0 {
                guard let v = try continueBlob() else { return nil }
                value = v
            } else {
                guard let v = try parseLine() else { return nil }
                guard let scalar = v else { continue }   // an aggregate header was pushed
                value = scalar
            }
            // Deliver the value upwards, closing every aggregate it completes.
            while true {
                if !hasCur {
                    if let a = topAttrs { topAttrs = nil; value = .attribute(a, value) }
                    if start == end { shrinkIfIdle() }
                    return value
                }
                if curAttrs != nil { value = .attribute(curAttrs!, value); curAttrs = nil }
                cur.append(consume value)
                curRemaining -= 1
                if curRemaining > 0 { break }
                // The current aggregate is complete: build it and resume its parent.
                let kind = curKind
                let items = cur
                cur = []
                if let parent = stack.popLast() {
                    cur = parent.items; curKind = parent.kind; curRemaining = parent.remaining; curAttrs = parent.attrs
                } else {
                    hasCur = false
                }
                switch kind {
                case .array: value = .array(items)
                case .set: value = .set(items)
                case .push: value = .push(items)
                case .map: value = .map(RESPParser.pairs(items))
                case .attribute:
                    let pairs = RESPParser.pairs(items)
                    if hasCur { curAttrs = pairs } else { topAttrs = pairs }
                    value = .null
                }
                if kind == .attribute { break }
            }
        }
    }

    private static func pairs(_ items: [RESPValue]) -> [RESPPair] {
        var out: [RESPPair] = []
        out.reserveCapacity(items.count / 2)
        var i = 0
        while i + 1 < items.count { out.append(RESPPair(items[i], items[i + 1])); i += 2 }
        return out
    }

    private static let ok: [UInt8] = Array("OK".utf8)

    /// Returns nil: need more bytes; .some(nil): an aggregate header was pushed (or an attribute
    /// started); .some(value): a complete scalar.
    private func parseLine() throws(RESPProtocolError) -> RESPValue?? {
        let avail = end - start
        if avail == 0 { return nil }
        let p = (storage + start).assumingMemoryBound(to: UInt8.self)
        let scanFrom = lineScanned
        let limit = min(avail, limits.maxLineLength + 2)
        guard scanFrom < limit,
              let hit = memchr(p + scanFrom, 0x0A, limit - scanFrom) else {
            if avail >= limits.maxLineLength + 2 {
                throw fail("line longer than \(limits.maxLineLength) bytes without CRLF", at: base + start)
            }
            lineScanned = avail
            return nil
        }
        let nl = UnsafeRawPointer(hit) - UnsafeRawPointer(p)
        lineScanned = 0
        let lineStart = base + start
        guard nl >= 1, p[nl - 1] == 0x0D else {
            throw fail("line not terminated by CRLF", at: lineStart + nl)
        }
        let type = p[0]
        let body = p + 1
        let blen = nl - 2   // payload bytes, without type byte and CRLF
        guard blen >= 0 else { throw fail("empty line (no type byte)", at: lineStart) }
        start += nl + 1     // the line is consumed
        switch type {
        case UInt8(ascii: "+"):
            // "+OK", the reply of every write, shares one array instead of allocating its own
            if blen == 2 && body[0] == UInt8(ascii: "O") && body[1] == UInt8(ascii: "K") { return .some(.simpleString(RESPParser.ok)) }
            return .some(.simpleString([UInt8](UnsafeBufferPointer(start: body, count: blen))))
        case UInt8(ascii: "-"):
            return .some(.error([UInt8](UnsafeBufferPointer(start: body, count: blen))))
        case UInt8(ascii: ":"):
            guard let v = RESPParser.int(body, blen) else {
                throw fail("invalid integer '\(RESPParser.show(body, blen))'", at: lineStart + 1)
            }
            return .some(.integer(v))
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            if blen == 1 && body[0] == UInt8(ascii: "?") {
                throw fail("streamed strings ($?) are not supported", at: lineStart)
            }
            guard let n = RESPParser.int(body, blen) else {
                throw fail("invalid length '\(RESPParser.show(body, blen))'", at: lineStart + 1)
            }
            if n == -1 && type == UInt8(ascii: "$") { return .some(.bulkString(nil)) }
            guard n >= 0 else { throw fail("negative length \(n)", at: lineStart + 1) }
            guard n <= Int64(limits.maxBulkLength) else {
                throw fail("bulk length \(n) exceeds the limit of \(limits.maxBulkLength) bytes", at: lineStart + 1)
            }
            let len = Int(n)
            if type == UInt8(ascii: "=") && len < 4 {
                throw fail("verbatim string shorter than its 'fmt:' prefix", at: lineStart + 1)
            }
            let have = end - start
            if have >= len + 2 {
                let q = (storage + start).assumingMemoryBound(to: UInt8.self)
                guard q[len] == 0x0D, q[len + 1] == 0x0A else {
                    throw fail("bulk payload not followed by CRLF", at: base + start + len)
                }
                let data = [UInt8](UnsafeBufferPointer(start: q, count: len))
                start += len + 2
                return .some(try finishBlob(type, data, at: lineStart))
            }
            // Not all here: take what is, keep the rest for later feeds.
            blobType = type
            blobTotal = len
            blobRemaining = len
            blobStartOffset = lineStart
            blobData = []
            // Up to 16 MB at once (a common big value fits without regrowth); beyond that the
            // storage grows only as bytes arrive.
            blobData.reserveCapacity(min(len, max(have, 16 << 20)))
            let k = min(have, len)
            if k > 0 {
                appendBlob(UnsafeRawBufferPointer(start: storage + start, count: k))
                start += k
            }
            return nil
        case UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "|"):
            if blen == 1 && body[0] == UInt8(ascii: "?") {
                throw fail("streamed aggregates (\(Character(Unicode.Scalar(type)))?) are not supported", at: lineStart)
            }
            guard let n = RESPParser.int(body, blen) else {
                throw fail("invalid aggregate length '\(RESPParser.show(body, blen))'", at: lineStart + 1)
            }
            if n == -1 && type == UInt8(ascii: "*") { return .some(.array(nil)) }
            guard n >= 0 else { throw fail("negative aggregate length \(n)", at: lineStart + 1) }
            let kind: Kind
            switch type {
            case UInt8(ascii: "*"): kind = .array
            case UInt8(ascii: "%"): kind = .map
            case UInt8(ascii: "~"): kind = .set
            case UInt8(ascii: ">"): kind = .push
            default: kind = .attribute
            }
            let paired = kind == .map || kind == .attribute
            guard n <= Int64(paired ? limits.maxAggregateCount / 2 : limits.maxAggregateCount) else {
                throw fail("aggregate of \(n) \(paired ? "pairs" : "elements") exceeds the limit of \(limits.maxAggregateCount) elements", at: lineStart + 1)
            }
            let count = Int(n) * (paired ? 2 : 1)
            if count == 0 {
                switch kind {
                case .array: return .some(.array([]))
                case .set: return .some(.set([]))
                case .push: return .some(.push([]))
                case .map: return .some(.map([]))
                case .attribute:
                    // An empty attribute: nothing to attach.
                    return .some(nil)
                }
            }
            let depth = hasCur ? stack.count + 1 : 0
            guard depth < limits.maxDepth else {
                throw fail("aggregates nested deeper than \(limits.maxDepth)", at: lineStart)
            }
            if hasCur {
                stack.append(Frame(kind: curKind, remaining: curRemaining, items: cur, attrs: curAttrs))
            }
            cur = []
            // Room only for what the buffered bytes could hold (an element takes >= 3 bytes).
            cur.reserveCapacity(depth == 0 ? min(count, (end - start) / 3 + 16, 1 << 20) : min(count, 16))
            hasCur = true; curKind = kind; curRemaining = count; curAttrs = nil
            return .some(nil)
        case UInt8(ascii: "_"):
            guard blen == 0 else { throw fail("null with a payload", at: lineStart + 1) }
            return .some(.null)
        case UInt8(ascii: "#"):
            guard blen == 1, body[0] == UInt8(ascii: "t") || body[0] == UInt8(ascii: "f") else {
                throw fail("invalid boolean '\(RESPParser.show(body, blen))'", at: lineStart + 1)
            }
            return .some(.boolean(body[0] == UInt8(ascii: "t")))
        case UInt8(ascii: ","):
            guard let d = RESPParser.double(body, blen) else {
                throw fail("invalid double '\(RESPParser.show(body, blen))'", at: lineStart + 1)
            }
            return .some(.double(d))
        case UInt8(ascii: "("):
            guard RESPParser.isBigNumber(body, blen) else {
                throw fail("invalid big number '\(RESPParser.show(body, blen))'", at: lineStart + 1)
            }
            return .some(.bigNumber([UInt8](UnsafeBufferPointer(start: body, count: blen))))
        default:
            throw fail("unknown reply type byte 0x\(String(type, radix: 16))", at: lineStart)
        }
    }

    private func continueBlob() throws(RESPProtocolError) -> RESPValue? {
        if blobRemaining > 0 {
            let k = min(blobRemaining, end - start)
            if k > 0 {
                appendBlob(UnsafeRawBufferPointer(start: storage + start, count: k))
                start += k
            }
            if blobRemaining > 0 { shrinkIfIdle(); return nil }
        }
        guard end - start >= 2 else { return nil }
        let q = (storage + start).assumingMemoryBound(to: UInt8.self)
        guard q[0] == 0x0D, q[1] == 0x0A else {
            throw fail("bulk payload not followed by CRLF", at: base + start)
        }
        start += 2
        let type = blobType
        blobType = 0
        let data = blobData
        blobData = []
        return try finishBlob(type, data, at: blobStartOffset)
    }

    private func finishBlob(_ type: UInt8, _ data: [UInt8], at off: Int) throws(RESPProtocolError) -> RESPValue {
        switch type {
        case UInt8(ascii: "$"): return .bulkString(data)
        case UInt8(ascii: "!"): return .error(data)
        default:
            guard data.count >= 4, data[3] == UInt8(ascii: ":") else {
                throw fail("verbatim string without a 'fmt:' prefix", at: off)
            }
            return .verbatim(format: Array(data[0..<3]), text: Array(data[4...]))
        }
    }

    // MARK: scalars

    @inline(__always)
    private static func int(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        if n == 0 || n > 20 { return nil }
        var i = 0
        var neg = false
        if p[0] == UInt8(ascii: "-") { neg = true; i = 1 } else if p[0] == UInt8(ascii: "+") { i = 1 }
        if i == n { return nil }
        var v: UInt64 = 0
        while i < n {
            let d = p[i] &- 0x30
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = s
            i += 1
        }
        if neg {
            if v > UInt64(Int64.max) + 1 { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        if v > UInt64(Int64.max) { return nil }
        return Int64(v)
    }

    private static func double(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        if n == 0 || n > 400 { return nil }
        let first = p[0]
        // strtod skips leading white space and reads hex floats; RESP3 has neither.
        guard first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (first >= 0x30 && first <= 0x39) || first | 0x20 == UInt8(ascii: "i") || first | 0x20 == UInt8(ascii: "n")
        else { return nil }
        for i in 0..<n where p[i] | 0x20 == UInt8(ascii: "x") { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf -> Double? in
            for i in 0..<n { buf[i] = CChar(bitPattern: p[i]) }
            buf[n] = 0
            var endp: UnsafeMutablePointer<CChar>? = nil
            let d = strtod(buf.baseAddress!, &endp)
            guard let e = endp, e - buf.baseAddress! == n else { return nil }
            return d
        }
    }

    private static func isBigNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        if n > 0 && (p[0] == UInt8(ascii: "-") || p[0] == UInt8(ascii: "+")) { i = 1 }
        if i == n { return false }
        while i < n { if p[i] &- 0x30 > 9 { return false }; i += 1 }
        return true
    }

    private static func show(_ p: UnsafePointer<UInt8>, _ n: Int) -> String {
        let k = min(n, 40)
        var s = ""
        for i in 0..<k {
            let c = p[i]
            if c >= 0x20 && c < 0x7F { s.append(Character(Unicode.Scalar(c))) } else { s += "\\x" + String(c, radix: 16) }
        }
        return n > k ? s + "..." : s
    }
}
