/// The pickler: data values to protocol 4, which every Python since 3.4 reads (ARQ's workers
/// run `pickle.loads`). No frames and no memo (both optional for a reader); objects and globals
/// are not written.
extension PickleCodec {
    public static func encode(_ value: PickleValue, maxDepth: Int = 200) throws(PickleError) -> [UInt8] {
        var out: [UInt8] = [0x80, 4]
        try write(value, into: &out, depth: 0, maxDepth: maxDepth)
        out.append(0x2E)
        return out
    }

    static func write(_ v: PickleValue, into out: inout [UInt8], depth: Int, maxDepth: Int) throws(PickleError) {
        guard depth < maxDepth else { throw PickleError(.unencodable, "values nested deeper than \(maxDepth) levels") }
        switch v {
        case .none: out.append(0x4E)
        case .bool(let b): out.append(b ? 0x88 : 0x89)
        case .int(let i): int(i, into: &out)
        case .bigInt(let b):
            if b.count < 256 { out.append(0x8A); out.append(UInt8(b.count)) }
            else { out.append(0x8B); le(UInt64(b.count), 4, into: &out) }
            out.append(contentsOf: b)
        case .float(let d):
            out.append(0x47)
            let bits = d.bitPattern
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        case .str(let b):
            if b.count < 256 { out.append(0x8C); out.append(UInt8(b.count)) }
            else if b.count <= Int(UInt32.max) { out.append(0x58); le(UInt64(b.count), 4, into: &out) }
            else { out.append(0x8D); le(UInt64(b.count), 8, into: &out) }
            out.append(contentsOf: b)
        case .bytes(let b):
            if b.count < 256 { out.append(0x43); out.append(UInt8(b.count)) }
            else if b.count <= Int(UInt32.max) { out.append(0x42); le(UInt64(b.count), 4, into: &out) }
            else { out.append(0x8E); le(UInt64(b.count), 8, into: &out) }
            out.append(contentsOf: b)
        case .bytearray(let b):
            // BYTEARRAY8 is protocol 5; protocol 4 writes bytearray(b"...") through a global, so
            // write it as bytes (ARQ's payloads carry bytes, not bytearrays)
            try write(.bytes(b), into: &out, depth: depth, maxDepth: maxDepth)
        case .list(let items):
            out.append(0x5D)
            try batched(items, into: &out, op: 0x65, depth: depth, maxDepth: maxDepth)
        case .tuple(let items):
            switch items.count {
            case 0: out.append(0x29)
            case 1...3:
                for i in items { try write(i, into: &out, depth: depth + 1, maxDepth: maxDepth) }
                out.append(0x84 + UInt8(items.count))
            default:
                out.append(0x28)
                for i in items { try write(i, into: &out, depth: depth + 1, maxDepth: maxDepth) }
                out.append(0x74)
            }
        case .dict(let entries):
            out.append(0x7D)
            var i = 0
            while i < entries.count {
                let end = min(entries.count, i + 1000)
                if end - i == 1 {
                    try write(entries[i].key, into: &out, depth: depth + 1, maxDepth: maxDepth)
                    try write(entries[i].value, into: &out, depth: depth + 1, maxDepth: maxDepth)
                    out.append(0x73)
                } else {
                    out.append(0x28)
                    for e in entries[i..<end] {
                        try write(e.key, into: &out, depth: depth + 1, maxDepth: maxDepth)
                        try write(e.value, into: &out, depth: depth + 1, maxDepth: maxDepth)
                    }
                    out.append(0x75)
                }
                i = end
            }
        case .set(let items):
            out.append(0x8F)
            try batched(items, into: &out, op: 0x90, depth: depth, maxDepth: maxDepth)
        case .frozenset(let items):
            out.append(0x28)
            for i in items { try write(i, into: &out, depth: depth + 1, maxDepth: maxDepth) }
            out.append(0x91)
        case .global(let m, let n):
            throw PickleError(.unencodable, "cannot write a reference to the class \(m).\(n)")
        case .object(let o):
            throw PickleError(.unencodable, "cannot write an instance of \(o.module).\(o.name)")
        }
    }

    static func batched(_ items: [PickleValue], into out: inout [UInt8], op: UInt8, depth: Int, maxDepth: Int) throws(PickleError) {
        var i = 0
        while i < items.count {
            let end = min(items.count, i + 1000)
            out.append(0x28)
            for v in items[i..<end] { try write(v, into: &out, depth: depth + 1, maxDepth: maxDepth) }
            out.append(op)
            i = end
        }
    }

    static func int(_ i: Int64, into out: inout [UInt8]) {
        if i >= 0 && i < 256 { out.append(0x4B); out.append(UInt8(i)) }
        else if i >= 0 && i < 65536 { out.append(0x4D); le(UInt64(i), 2, into: &out) }
        else if i >= Int64(Int32.min) && i <= Int64(Int32.max) { out.append(0x4A); le(UInt64(UInt32(truncatingIfNeeded: i)), 4, into: &out) }
        else {
            let b = PickleInt.littleEndian(i)
            out.append(0x8A); out.append(UInt8(b.count)); out.append(contentsOf: b)
        }
    }

    static func le(_ v: UInt64, _ n: Int, into out: inout [UInt8]) {
        for k in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * k))) }
    }
}

/// Python ints as little-endian two's complement bytes (LONG1/LONG4) and decimal text.
public enum PickleInt {
    /// Minimal two's complement bytes of an Int64.
    public static func littleEndian(_ i: Int64) -> [UInt8] {
        var b: [UInt8] = []
        var v = i
        for _ in 0..<8 { b.append(UInt8(truncatingIfNeeded: v)); v >>= 8 }
        return minimal(b)
    }

    static func minimal(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        while b.count > 1 {
            let last = b[b.count - 1], prev = b[b.count - 2]
            if (last == 0 && prev & 0x80 == 0) || (last == 0xFF && prev & 0x80 != 0) { b.removeLast() } else { break }
        }
        return b
    }

    /// .int when it fits in 64 bits, else .bigInt with minimal bytes.
    public static func value(fromLittleEndian bytes: [UInt8]) -> PickleValue {
        if bytes.isEmpty { return .int(0) }
        let b = minimal(bytes)
        if b.count <= 8 {
            var v: UInt64 = 0
            for (k, x) in b.enumerated() { v |= UInt64(x) << UInt64(8 * k) }
            if b.count < 8, b[b.count - 1] & 0x80 != 0 {   // sign-extend
                v |= ~UInt64(0) << UInt64(8 * b.count)
            }
            return .int(Int64(bitPattern: v))
        }
        return .bigInt(b)
    }

    /// Decimal text of little-endian two's complement bytes.
    public static func decimal(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "0" }
        let negative = bytes[bytes.count - 1] & 0x80 != 0
        var mag = bytes
        if negative {   // two's complement negate
            var carry = 1
            for k in 0..<mag.count {
                let s = Int(~mag[k]) + carry
                mag[k] = UInt8(truncatingIfNeeded: s); carry = s >> 8
            }
        }
        // repeated division by 10^9 over big-endian 32-bit limbs
        var limbs: [UInt32] = []   // 32-bit limbs, least significant first, then reversed
        var k = 0
        while k < mag.count {
            var limb: UInt32 = 0
            for j in stride(from: min(k + 4, mag.count) - 1, through: k, by: -1) { limb = limb << 8 | UInt32(mag[j]) }
            limbs.append(limb)
            k += 4
        }
        limbs.reverse()
        var chunks: [UInt32] = []
        while limbs.contains(where: { $0 != 0 }) {
            var rem: UInt64 = 0
            for j in 0..<limbs.count {
                let cur = rem << 32 | UInt64(limbs[j])
                limbs[j] = UInt32(cur / 1_000_000_000)
                rem = cur % 1_000_000_000
            }
            chunks.append(UInt32(rem))
            while let f = limbs.first, f == 0 { limbs.removeFirst() }
        }
        if chunks.isEmpty { return "0" }
        var s = String(chunks[chunks.count - 1])
        for c in chunks.dropLast().reversed() {
            let t = String(c)
            s += String(repeating: "0", count: 9 - t.count) + t
        }
        return negative ? "-" + s : s
    }

    /// Little-endian two's complement bytes of decimal text ("-123…"); nil if it is not an integer.
    public static func parse(decimal text: String, maxDigits: Int = 2500) -> PickleValue? {
        var u = Array(text.utf8)
        var negative = false
        if let f = u.first, f == 0x2D || f == 0x2B { negative = f == 0x2D; u.removeFirst() }
        guard !u.isEmpty, u.count <= maxDigits, u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var mag: [UInt8] = [0]   // little-endian magnitude
        for d in u {
            var carry = UInt32(d - 0x30)
            for k in 0..<mag.count {
                let v = UInt32(mag[k]) * 10 + carry
                mag[k] = UInt8(truncatingIfNeeded: v); carry = v >> 8
            }
            while carry > 0 { mag.append(UInt8(truncatingIfNeeded: carry)); carry >>= 8 }
        }
        mag.append(0)   // room for the sign bit
        if negative {
            var carry = 1
            for k in 0..<mag.count {
                let s = Int(~mag[k]) + carry
                mag[k] = UInt8(truncatingIfNeeded: s); carry = s >> 8
            }
        }
        return value(fromLittleEndian: mag)
    }
}
