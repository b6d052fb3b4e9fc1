/// A log-linear histogram of non-negative integers (nanoseconds here), as HdrHistogram lays
/// them out: 16 linear sub-buckets per power of two, so any value is kept within 1/16 (6.25 %)
/// of itself, from 0 to 2^40 ns (18 minutes; larger values land in the last bucket), in 608
/// counters. Recording is a shift, a mask and an add. The sum and the maximum are exact.
///
/// Written here rather than taken from the hdrhistogram-swift package: that one brings
/// swift-numerics and a DocC plugin into a build that has no package dependency, for the same
/// layout.
public struct LogLinearHistogram: Sendable, Equatable {
    static let subBits = 4
    static let sub = 1 << subBits
    static let maxExponent = 40
    static let bucketCount = sub + (maxExponent - subBits + 1) * sub

    public private(set) var counts: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var sum: UInt64 = 0
    public private(set) var max: UInt64 = 0

    public init() { counts = [UInt64](repeating: 0, count: Self.bucketCount) }

    init(counts: [UInt64], count: UInt64, sum: UInt64, max: UInt64) {
        self.counts = counts; self.count = count; self.sum = sum; self.max = max
    }

    @inline(__always)
    static func index(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let e = 63 - v.leadingZeroBitCount
        if e > maxExponent { return bucketCount - 1 }
        let s = Int(truncatingIfNeeded: v >> UInt64(e - subBits)) & (sub - 1)
        return sub + (e - subBits) * sub + s
    }

    /// The largest value that lands in bucket `i`.
    static func upperBound(_ i: Int) -> UInt64 {
        if i < sub { return UInt64(i) }
        let e = (i - sub) / sub + subBits
        let s = UInt64((i - sub) % sub)
        let width = UInt64(1) << UInt64(e - subBits)
        return (UInt64(sub) + s) * width + width - 1
    }

    @inline(__always)
    public mutating func record(_ v: UInt64) {
        counts[Self.index(v)] &+= 1
        count &+= 1
        sum &+= v
        if v > max { max = v }
    }

    /// `n` samples of the value `v` at once.
    public mutating func record(_ v: UInt64, count n: Int) {
        guard n > 0 else { return }
        let k = UInt64(n)
        counts[Self.index(v)] &+= k
        count &+= k
        sum &+= v &* k
        if v > max { max = v }
    }

    public mutating func merge(_ o: LogLinearHistogram) {
        for i in 0..<counts.count { counts[i] &+= o.counts[i] }
        count &+= o.count
        sum &+= o.sum
        max = Swift.max(max, o.max)
    }

    /// The value at quantile `q` (0...1): the upper bound of its bucket, never above `max`.
    public func quantile(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((Swift.min(Swift.max(q, 0), 1) * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank { return Swift.min(Self.upperBound(i), max) }
        }
        return max
    }

    public var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }

    /// How many values are at most `bound` (counting whole buckets whose upper bound is at
    /// most `bound`: a Prometheus `le` bucket, exact to the bucket width).
    public func countAtMost(_ bound: UInt64) -> UInt64 {
        var n: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            if Self.upperBound(i) <= bound { n += c } else if Self.upperBound(i) > bound { break }
        }
        return n
    }
}
