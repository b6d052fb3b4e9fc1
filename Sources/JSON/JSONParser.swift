import Glibc

/// Limits for `parse`. Every read of outside data is bounded (docs/ARCHITECTURE.md §3).
public struct JSONParseOptions: Sendable {
    /// Maximum nesting of arrays/objects (the root container is depth 1).
    public var maxDepth: Int
    /// Maximum input length in bytes.
    public var maxInputSize: Int
    /// Maximum length of one string in bytes, after unescaping.
    public var maxStringLength: Int

    public init(maxDepth: Int = 512, maxInputSize: Int = 1 << 30, maxStringLength: Int = 1 << 28) {
        self.maxDepth = maxDepth
        self.maxInputSize = maxInputSize
        self.maxStringLength = maxStringLength
    }
}

/// Parses one JSON document (RFC 8259, strict) into a new tape. The tape borrows `input`
/// (see `JSONTape`).
public func parse(_ input: UnsafeRawBufferPointer, options: JSONParseOptions = .init()) throws(JSONError) -> JSONTape {
    var tape = JSONTape()
    try tape.parse(input, options: options)
    return tape
}

extension JSONTape {
    /// Parses `input` into this tape, reusing its buffers. On error the tape is left empty.
    public mutating func parse(_ input: UnsafeRawBufferPointer, options: JSONParseOptions = .init()) throws(JSONError) {
        if !isKnownUniquelyReferenced(&storage) { storage = TapeStorage() }
        let st = storage
        st.count = 0
        st.input = nil
        guard input.count <= options.maxInputSize else {
            throw JSONError(kind: .inputTooLarge,
                            message: "input of \(input.count) bytes exceeds the limit of \(options.maxInputSize) bytes",
                            offset: 0, line: 1, column: 1)
        }
        guard let raw = input.baseAddress, input.count > 0 else {
            throw JSONError.at(.unexpectedEnd, "unexpected end of input", 0, input, hint: "expected a value")
        }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        var p = Parser(p: base, n: input.count, raw: input, storage: st, options: options)
        defer { p.release() }
        do {
            try p.run()
        } catch {
            st.count = 0
            throw error
        }
        st.count = p.wcount
        st.input = raw
    }
}

// MARK: - Parser

private let ws1: UInt8 = 0x20, ws2: UInt8 = 0x0A, ws3: UInt8 = 0x0D, ws4: UInt8 = 0x09

/// Exact powers of ten representable in a Double (Clinger's fast path).
private let pow10: (Double, Double, Double, Double, Double, Double, Double, Double, Double, Double, Double, Double,
                    Double, Double, Double, Double, Double, Double, Double, Double, Double, Double, Double) =
    (1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
     1e19, 1e20, 1e21, 1e22)

@inline(__always)
private func exactPow10(_ e: Int) -> Double {
    withUnsafeBytes(of: pow10) { $0.load(fromByteOffset: e &* 8, as: Double.self) }
}

private struct Parser {
    let p: UnsafePointer<UInt8>
    let n: Int
    let raw: UnsafeRawBufferPointer
    let storage: TapeStorage
    let maxDepth: Int
    let maxString: Int

    var words: UnsafeMutablePointer<UInt64>
    var wcount = 0
    var wcap: Int

    // Open containers: tape index of the start entry and running element count.
    var stackStart: UnsafeMutablePointer<Int>
    var stackCount: UnsafeMutablePointer<Int>
    var stackCap: Int
    var depth = 0

    var scratch: UnsafeMutablePointer<UInt8>?
    var scount = 0

    init(p: UnsafePointer<UInt8>, n: Int, raw: UnsafeRawBufferPointer, storage: TapeStorage, options: JSONParseOptions) {
        self.p = p
        self.n = n
        self.raw = raw
        self.storage = storage
        self.maxDepth = options.maxDepth
        self.maxString = min(options.maxStringLength, Int(scratchFlag) - 1)
        // Guess: about one word per 6 input bytes for typical documents.
        let want = max(16, n / 6)
        if storage.capacity < want {
            free(storage.words)
            storage.words = malloc(want * 8)!.assumingMemoryBound(to: UInt64.self)
            storage.capacity = want
        }
        words = storage.words
        wcap = storage.capacity
        stackCap = 32
        stackStart = malloc(stackCap * 8)!.assumingMemoryBound(to: Int.self)
        stackCount = malloc(stackCap * 8)!.assumingMemoryBound(to: Int.self)
        scratch = storage.scratch
    }

    func release() {
        free(stackStart)
        free(stackCount)
    }

    // MARK: errors

    @inline(never)
    func fail(_ kind: JSONError.Kind, _ what: String, _ at: Int, hint: String = "") -> JSONError {
        JSONError.at(kind, what, at, raw, hint: hint)
    }

    @inline(never)
    func unexpected(_ at: Int, _ hint: String) -> JSONError {
        if at >= n { return fail(.unexpectedEnd, "unexpected end of input", at, hint: hint) }
        let c = p[at]
        if c >= 0x80 {
            return fail(.unexpectedCharacter, "unexpected byte \(JSONError.describe(byte: c))", at, hint: hint)
        }
        return fail(.unexpectedCharacter, "unexpected character \(JSONError.describe(byte: c))", at, hint: hint)
    }

    // MARK: tape

    @inline(never)
    mutating func grow(_ need: Int) {
        var cap = wcap * 2
        while cap < wcount + need { cap *= 2 }
        words = realloc(words, cap * 8)!.assumingMemoryBound(to: UInt64.self)
        wcap = cap
        storage.words = words
        storage.capacity = cap
    }

    @inline(__always)
    mutating func push1(_ a: UInt64) {
        if wcount &+ 1 > wcap { grow(1) }
        words[wcount] = a
        wcount &+= 1
    }

    @inline(__always)
    mutating func push2(_ a: UInt64, _ b: UInt64) {
        if wcount &+ 2 > wcap { grow(2) }
        words[wcount] = a
        words[wcount &+ 1] = b
        wcount &+= 2
    }

    // MARK: driver

    @inline(__always)
    func skipWS(_ i: inout Int) {
        while i < n {
            let c = p[i]
            if c > ws1 { return }
            if c == ws1 || c == ws2 || c == ws3 || c == ws4 { i &+= 1 } else { return }
        }
    }

    @inline(never)
    mutating func growStack() {
        stackCap *= 2
        stackStart = realloc(stackStart, stackCap * 8)!.assumingMemoryBound(to: Int.self)
        stackCount = realloc(stackCount, stackCap * 8)!.assumingMemoryBound(to: Int.self)
    }

    @inline(__always)
    mutating func open(_ tag: UInt64, _ at: Int) throws(JSONError) {
        if depth >= maxDepth {
            throw fail(.depthLimitExceeded, "nesting deeper than \(maxDepth)", at)
        }
        if depth == stackCap { growStack() }
        stackStart[depth] = wcount
        stackCount[depth] = 0
        depth &+= 1
        push2(tag, 0)
    }

    @inline(__always)
    mutating func close(_ endTag: UInt64, _ startTag: UInt64) {
        depth &-= 1
        let s = stackStart[depth]
        words[s] = startTag | UInt64(stackCount[depth])
        words[s &+ 1] = UInt64(wcount)
        push1(endTag | UInt64(s))
    }

    /// At `i` (whitespace skipped) expects `"key"`, whitespace, `:`, whitespace; returns the
    /// index of the value.
    @inline(__always)
    mutating func keyColon(_ i: Int) throws(JSONError) -> Int {
        guard i < n && p[i] == 0x22 else { throw unexpected(i, "expected a string key") }
        var j = try parseString(i)
        skipWS(&j)
        guard j < n && p[j] == 0x3A else { throw unexpected(j, "expected ':' after key") }
        j &+= 1
        skipWS(&j)
        return j
    }

    mutating func run() throws(JSONError) {
        var i = 0
        skipWS(&i)
        valueLoop: while true {
            // A value starts at i.
            guard i < n else { throw unexpected(i, "expected a value") }
            let c = p[i]
            switch c {
            case 0x22:
                i = try parseString(i)
            case 0x30...0x39, 0x2D:
                i = try parseNumber(i)
            case 0x7B: // {
                try open(tagObjectStart, i)
                i &+= 1
                skipWS(&i)
                if i < n && p[i] == 0x7D {
                    close(tagObjectEnd, tagObjectStart)
                    i &+= 1
                } else {
                    i = try keyColon(i)
                    continue valueLoop
                }
            case 0x5B: // [
                try open(tagArrayStart, i)
                i &+= 1
                skipWS(&i)
                if i < n && p[i] == 0x5D {
                    close(tagArrayEnd, tagArrayStart)
                    i &+= 1
                } else {
                    continue valueLoop
                }
            case 0x74: // true
                guard i &+ 4 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6575_7274 else {
                    throw literalError(i)
                }
                push1(tagTrue)
                i &+= 4
            case 0x66: // false
                guard i &+ 5 <= n && UnsafeRawPointer(p + i + 1).loadUnaligned(as: UInt32.self) == 0x6573_6C61 else {
                    throw literalError(i)
                }
                push1(tagFalse)
                i &+= 5
            case 0x6E: // null
                guard i &+ 4 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6C6C_756E else {
                    throw literalError(i)
                }
                push1(tagNull)
                i &+= 4
            default:
                throw unexpected(i, "expected a value")
            }

            // A value just ended; continue the enclosing container.
            while true {
                if depth == 0 { break valueLoop }
                let top = depth &- 1
                stackCount[top] &+= 1
                skipWS(&i)
                guard i < n else {
                    throw unexpected(i, words[stackStart[top]] == tagObjectStart ? "expected ',' or '}'" : "expected ',' or ']'")
                }
                let d = p[i]
                let isObject = words[stackStart[top]] == tagObjectStart
                if d == 0x2C {
                    i &+= 1
                    skipWS(&i)
                    if isObject { i = try keyColon(i) }
                    continue valueLoop
                }
                if isObject {
                    guard d == 0x7D else { throw unexpected(i, "expected ',' or '}'") }
                    close(tagObjectEnd, tagObjectStart)
                } else {
                    guard d == 0x5D else { throw unexpected(i, "expected ',' or ']'") }
                    close(tagArrayEnd, tagArrayStart)
                }
                i &+= 1
            }
        }
        skipWS(&i)
        if i != n {
            throw fail(.trailingCharacters, "unexpected \(JSONError.describe(byte: p[i])) after the top-level value", i)
        }
    }

    @inline(never)
    func literalError(_ i: Int) -> JSONError {
        // Find the first byte that differs from the literal the first letter announced.
        let lit: [UInt8] = p[i] == 0x74 ? Array("true".utf8) : p[i] == 0x66 ? Array("false".utf8) : Array("null".utf8)
        var k = 0
        while k < lit.count && i + k < n && p[i + k] == lit[k] { k += 1 }
        let name = String(decoding: lit, as: UTF8.self)
        return unexpected(i + k, "invalid literal, expected '\(name)'")
    }

    // MARK: strings

    /// Index of the first byte at or after `i` that is `"`, `\`, a control character or
    /// non-ASCII; `n` if none.
    @inline(__always)
    func scanPlain(_ i: Int) -> Int {
        var j = i
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        while j &+ 8 <= n {
            let w = UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)
            let xq = w ^ (ones &* 0x22)
            let xb = w ^ (ones &* 0x5C)
            let m = ((xq &- ones) & ~xq) | ((xb &- ones) & ~xb) | ((w &- ones &* 0x20) & ~w) | w
            let t = m & high
            if t != 0 { return j &+ (t.trailingZeroBitCount &>> 3) }
            j &+= 8
        }
        while j < n {
            let c = p[j]
            if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { return j }
            j &+= 1
        }
        return n
    }

    /// Validates the UTF-8 sequence starting at `j` (its first byte is >= 0x80); returns the
    /// index after it.
    @inline(__always)
    func utf8(_ j: Int) throws(JSONError) -> Int {
        let b0 = p[j]
        @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            k < n && p[k] >= lo && p[k] <= hi
        }
        switch b0 {
        case 0xC2...0xDF:
            if cont(j &+ 1) { return j &+ 2 }
        case 0xE0:
            if cont(j &+ 1, 0xA0) && cont(j &+ 2) { return j &+ 3 }
        case 0xE1...0xEC, 0xEE, 0xEF:
            if cont(j &+ 1) && cont(j &+ 2) { return j &+ 3 }
        case 0xED:
            if cont(j &+ 1, 0x80, 0x9F) && cont(j &+ 2) { return j &+ 3 }
        case 0xF0:
            if cont(j &+ 1, 0x90) && cont(j &+ 2) && cont(j &+ 3) { return j &+ 4 }
        case 0xF1...0xF3:
            if cont(j &+ 1) && cont(j &+ 2) && cont(j &+ 3) { return j &+ 4 }
        case 0xF4:
            if cont(j &+ 1, 0x80, 0x8F) && cont(j &+ 2) && cont(j &+ 3) { return j &+ 4 }
        default:
            break
        }
        throw fail(.invalidUTF8, "invalid UTF-8 byte \(JSONError.describe(byte: b0)) in string", j)
    }

    /// Parses the string whose opening quote is at `q`; returns the index after the closing quote.
    @inline(__always)
    mutating func parseString(_ q: Int) throws(JSONError) -> Int {
        let s = q &+ 1
        var j = s
        while true {
            j = scanPlain(j)
            guard j < n else { throw fail(.unexpectedEnd, "unterminated string (opened at byte \(q))", n) }
            let c = p[j]
            if c == 0x22 {
                let len = j &- s
                if len > maxString { throw stringTooLong(q) }
                push2(tagString | UInt64(len), UInt64(s))
                return j &+ 1
            }
            if c >= 0x80 { j = try utf8(j); continue }
            if c == 0x5C { return try parseEscaped(q, j) }
            throw controlError(j)
        }
    }

    @inline(never)
    func controlError(_ j: Int) -> JSONError {
        fail(.controlCharacterInString, "control character \(JSONError.describe(byte: p[j])) in string", j,
             hint: "escape it as \\n, \\t, \\u00XX, ...")
    }

    @inline(never)
    func stringTooLong(_ q: Int) -> JSONError {
        fail(.stringTooLong, "string longer than \(maxString) bytes", q)
    }

    @inline(__always)
    func hex4(_ k: Int) -> Int {
        guard k &+ 4 <= n else { return -1 }
        var v = 0
        for t in 0..<4 {
            let c = Int(p[k &+ t])
            let d: Int
            switch c {
            case 0x30...0x39: d = c &- 0x30
            case 0x41...0x46: d = c &- 0x37
            case 0x61...0x66: d = c &- 0x57
            default: return -1
            }
            v = v &<< 4 | d
        }
        return v
    }

    /// Slow path: the string opened at `q` has an escape at `j`; decode into the side buffer.
    @inline(never)
    mutating func parseEscaped(_ q: Int, _ j0: Int) throws(JSONError) -> Int {
        // All decoded strings together are no longer than the input, so n bytes always suffice.
        if scratch == nil || storage.scratchCapacity < n {
            free(storage.scratch)
            storage.scratch = malloc(max(n, 16))!.assumingMemoryBound(to: UInt8.self)
            storage.scratchCapacity = max(n, 16)
            scratch = storage.scratch
            scount = 0 // only reached at the first escape of this parse
        }
        let s = q &+ 1
        let start = scratch! + scount
        var d = start
        d.update(from: p + s, count: j0 &- s)
        d += j0 &- s
        var k = j0
        while true {
            // k is at a special byte.
            guard k < n else { throw fail(.unexpectedEnd, "unterminated string (opened at byte \(q))", n) }
            let c = p[k]
            if c == 0x22 {
                let len = d - start
                if len > maxString { throw stringTooLong(q) }
                push2(tagString | scratchFlag | UInt64(len), UInt64(scount))
                scount &+= len
                return k &+ 1
            } else if c == 0x5C {
                guard k &+ 1 < n else { throw fail(.unexpectedEnd, "unterminated string (opened at byte \(q))", n) }
                let e = p[k &+ 1]
                var out: UInt8 = 0
                switch e {
                case 0x22: out = 0x22
                case 0x5C: out = 0x5C
                case 0x2F: out = 0x2F
                case 0x62: out = 0x08
                case 0x66: out = 0x0C
                case 0x6E: out = 0x0A
                case 0x72: out = 0x0D
                case 0x74: out = 0x09
                case 0x75:
                    var cp = hex4(k &+ 2)
                    if cp < 0 { throw fail(.invalidEscape, "invalid \\u escape (four hex digits expected)", k) }
                    if cp >= 0xD800 && cp <= 0xDBFF {
                        let lo = (k &+ 7 < n && p[k &+ 6] == 0x5C && p[k &+ 7] == 0x75) ? hex4(k &+ 8) : -1
                        guard lo >= 0xDC00 && lo <= 0xDFFF else {
                            throw fail(.invalidSurrogate, "lone UTF-16 high surrogate \\u\(hexString(cp))", k,
                                       hint: "a low surrogate \\uDC00...\\uDFFF must follow")
                        }
                        cp = 0x10000 &+ ((cp &- 0xD800) &<< 10) &+ (lo &- 0xDC00)
                        k &+= 6
                    } else if cp >= 0xDC00 && cp <= 0xDFFF {
                        throw fail(.invalidSurrogate, "lone UTF-16 low surrogate \\u\(hexString(cp))", k)
                    }
                    k &+= 6
                    if cp < 0x80 {
                        d[0] = UInt8(cp); d += 1
                    } else if cp < 0x800 {
                        d[0] = UInt8(0xC0 | (cp >> 6)); d[1] = UInt8(0x80 | (cp & 0x3F)); d += 2
                    } else if cp < 0x10000 {
                        d[0] = UInt8(0xE0 | (cp >> 12)); d[1] = UInt8(0x80 | ((cp >> 6) & 0x3F))
                        d[2] = UInt8(0x80 | (cp & 0x3F)); d += 3
                    } else {
                        d[0] = UInt8(0xF0 | (cp >> 18)); d[1] = UInt8(0x80 | ((cp >> 12) & 0x3F))
                        d[2] = UInt8(0x80 | ((cp >> 6) & 0x3F)); d[3] = UInt8(0x80 | (cp & 0x3F)); d += 4
                    }
                    let r = scanPlain(k)
                    d.update(from: p + k, count: r &- k)
                    d += r &- k
                    k = r
                    continue
                default:
                    throw fail(.invalidEscape, "invalid escape \\\(String(decoding: CollectionOfOne(e), as: UTF8.self))", k)
                }
                d[0] = out
                d += 1
                k &+= 2
            } else if c >= 0x80 {
                let r = try utf8(k)
                d.update(from: p + k, count: r &- k)
                d += r &- k
                k = r
            } else {
                throw controlError(k)
            }
            let r = scanPlain(k)
            d.update(from: p + k, count: r &- k)
            d += r &- k
            k = r
        }
    }

    func hexString(_ v: Int) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    // MARK: numbers

    @inline(__always)
    func isDigit(_ k: Int) -> Bool { k < n && p[k] &- 0x30 < 10 }

    /// Parses the number starting at `start`; returns the index after it.
    @inline(__always)
    mutating func parseNumber(_ start: Int) throws(JSONError) -> Int {
        var i = start
        let neg = p[i] == 0x2D
        if neg { i &+= 1 }
        guard i < n else { throw fail(.unexpectedEnd, "unexpected end of input in number", i) }
        var mant: UInt64 = 0
        let intStart = i
        let c0 = p[i]
        if c0 == 0x30 {
            i &+= 1
            if isDigit(i) { throw fail(.invalidNumber, "leading zero in number", start) }
        } else if c0 &- 0x31 < 9 {
            // Up to 19 digits fit in UInt64 without overflow.
            while i < n {
                let d = p[i] &- 0x30
                if d >= 10 { break }
                mant = mant &* 10 &+ UInt64(d)
                i &+= 1
            }
        } else {
            throw unexpected(i, "expected a digit after '-'")
        }
        let intDigits = i &- intStart
        var isFloat = false
        var fracDigits = 0
        if i < n && p[i] == 0x2E {
            isFloat = true
            i &+= 1
            let fs = i
            while i < n {
                let d = p[i] &- 0x30
                if d >= 10 { break }
                mant = mant &* 10 &+ UInt64(d)
                i &+= 1
            }
            fracDigits = i &- fs
            if fracDigits == 0 { throw unexpected(i, "expected a digit after the decimal point") }
        }
        var exp = 0
        if i < n && (p[i] | 0x20) == 0x65 {
            isFloat = true
            i &+= 1
            var eneg = false
            if i < n && (p[i] == 0x2D || p[i] == 0x2B) { eneg = p[i] == 0x2D; i &+= 1 }
            let es = i
            while i < n {
                let d = p[i] &- 0x30
                if d >= 10 { break }
                if exp < 100_000 { exp = exp &* 10 &+ Int(d) }
                i &+= 1
            }
            if i == es { throw unexpected(i, "expected a digit in the exponent") }
            if eneg { exp = -exp }
        }
        if !isFloat {
            if intDigits <= 18 || (intDigits == 19 && mant <= (neg ? 1 << 63 : UInt64(Int64.max))) {
                let v = neg ? Int64(bitPattern: 0 &- mant) : Int64(bitPattern: mant)
                push2(tagInt, UInt64(bitPattern: v))
            } else {
                push2(tagBig | UInt64(i &- start), UInt64(start))
            }
            return i
        }
        // Clinger's fast path: the digits form an integer <= 2^53 and the power of ten is exact.
        let totalDigits = intDigits &+ fracDigits
        if totalDigits <= 19 && mant <= (1 << 53) {
            let e10 = exp &- fracDigits
            var v = Double(mant)
            var ok = true
            if mant == 0 {
                v = 0
            } else if e10 >= 0 && e10 <= 22 {
                v *= exactPow10(e10)
            } else if e10 < 0 && e10 >= -22 {
                v /= exactPow10(-e10)
            } else if e10 > 22 && e10 <= 22 + 15 {
                // mant * 10^(e10-22) may still be an exact integer <= 2^53.
                let (m2, over) = mant.multipliedReportingOverflow(by: UInt64(exactPow10(e10 &- 22)))
                if !over && m2 <= (1 << 53) { v = Double(m2) * exactPow10(22) } else { ok = false }
            } else {
                ok = false
            }
            if ok {
                push2(tagDouble, (neg ? -v : v).bitPattern)
                return i
            }
        }
        let v = slowDouble(start, i)
        if v.isInfinite {
            throw fail(.numberOutOfRange, "number out of range for a double", start)
        }
        push2(tagDouble, v.bitPattern)
        return i
    }

    /// strtod (correctly rounded in glibc) on a NUL-terminated copy.
    @inline(never)
    func slowDouble(_ s: Int, _ e: Int) -> Double {
        let len = e - s
        if len < 128 {
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 128) { buf in
                let b = buf.baseAddress!
                UnsafeMutableRawPointer(b).copyMemory(from: p + s, byteCount: len)
                b[len] = 0
                return strtod(b, nil)
            }
        }
        let b = malloc(len + 1)!.assumingMemoryBound(to: CChar.self)
        defer { free(b) }
        UnsafeMutableRawPointer(b).copyMemory(from: p + s, byteCount: len)
        b[len] = 0
        return strtod(b, nil)
    }
}
