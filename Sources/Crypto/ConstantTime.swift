/// Comparisons of secrets whose time depends only on the lengths, never on where the first
/// difference is (API keys and their hashes).
public enum ConstantTime {
    public static func equal<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        var ia = a.startIndex, ib = b.startIndex
        for _ in 0..<max(a.count, b.count) {
            let x: UInt8 = ia < a.endIndex ? a[ia] : 0
            let y: UInt8 = ib < b.endIndex ? b[ib] : 0
            diff |= x ^ y
            if ia < a.endIndex { ia = a.index(after: ia) }
            if ib < b.endIndex { ib = b.index(after: ib) }
        }
        return diff == 0
    }
}
