/// Sufficient statistics of rows [0, k) of a design matrix and one target: the Gram matrix, the
/// column sums, and the cross products with the target. Statistics of a range [a, b) are the
/// difference of two prefixes, so one pass over the rows serves every split of every horizon.
struct RowSums: Sendable {
    var rows = 0.0
    var gram: [Double]      // p × p, upper triangle filled
    var sums: [Double]      // Σ x
    init(_ p: Int) { gram = [Double](repeating: 0, count: p * p); sums = [Double](repeating: 0, count: p) }

    static func - (a: RowSums, b: RowSums) -> RowSums {
        var r = a
        r.rows -= b.rows
        for i in r.gram.indices { r.gram[i] -= b.gram[i] }
        for i in r.sums.indices { r.sums[i] -= b.sums[i] }
        return r
    }
}

/// Σ x·d and Σ d for one horizon's target d (the change of the load over the horizon).
struct TargetSums: Sendable {
    var cross: [Double]
    var sum = 0.0
    init(_ p: Int) { cross = [Double](repeating: 0, count: p) }

    static func - (a: TargetSums, b: TargetSums) -> TargetSums {
        var r = a
        r.sum -= b.sum
        for i in r.cross.indices { r.cross[i] -= b.cross[i] }
        return r
    }
}

/// A fitted linear model: prediction = intercept + Σ weights·x.
struct LinearFit: Sendable, Equatable {
    var weights: [Double]
    var intercept: Double
    /// The ridge penalty it was fitted with (infinity: the last-value forecast, no weights).
    var lambda: Double

    static func lastValue(_ p: Int) -> LinearFit {
        LinearFit(weights: [Double](repeating: 0, count: p), intercept: 0, lambda: .infinity)
    }

    @inline(__always) func predict(_ x: UnsafePointer<Double>) -> Double {
        var s = intercept
        for j in 0..<weights.count { s += weights[j] * x[j] }
        return s
    }
}

enum Ridge {
    /// Ridge regression on standardised columns: minimises Σ(d − c − w·x)² + λ·n·Σ var_j w_j²,
    /// without penalising the intercept. A column with no variance in these rows gets weight 0.
    static func fit(_ x: RowSums, _ d: TargetSums, lambda: Double) -> LinearFit? {
        let p = x.sums.count
        let n = x.rows
        guard n >= 1 else { return nil }
        if lambda.isInfinite { return .lastValue(p) }
        var mean = [Double](repeating: 0, count: p)
        for j in 0..<p { mean[j] = x.sums[j] / n }
        let dMean = d.sum / n
        var a = [Double](repeating: 0, count: p * p)
        var b = [Double](repeating: 0, count: p)
        var active = [Bool](repeating: false, count: p)
        for j in 0..<p {
            let v = x.gram[j * p + j] / n - mean[j] * mean[j]
            active[j] = v > 1e-12
        }
        for j in 0..<p where active[j] {
            for k in j..<p where active[k] {
                let c = x.gram[j * p + k] / n - mean[j] * mean[k]
                a[j * p + k] = c; a[k * p + j] = c
            }
            a[j * p + j] *= 1 + lambda
            b[j] = d.cross[j] / n - mean[j] * dMean
        }
        for j in 0..<p where !active[j] { a[j * p + j] = 1; b[j] = 0 }
        guard let w = choleskySolve(&a, b, p) else { return nil }
        var c = dMean
        for j in 0..<p { c -= w[j] * mean[j] }
        return LinearFit(weights: w, intercept: c, lambda: lambda)
    }

    /// Solves A·w = b for a symmetric positive definite A (overwritten by its factor).
    static func choleskySolve(_ a: inout [Double], _ b: [Double], _ p: Int) -> [Double]? {
        for j in 0..<p {
            var s = a[j * p + j]
            for k in 0..<j { s -= a[j * p + k] * a[j * p + k] }
            guard s > 0, s.isFinite else { return nil }
            let l = s.squareRoot()
            a[j * p + j] = l
            for i in (j + 1)..<p {
                var t = a[i * p + j]
                for k in 0..<j { t -= a[i * p + k] * a[j * p + k] }
                a[i * p + j] = t / l
            }
        }
        var y = b
        for i in 0..<p {
            var t = y[i]
            for k in 0..<i { t -= a[i * p + k] * y[k] }
            y[i] = t / a[i * p + i]
        }
        for i in stride(from: p - 1, through: 0, by: -1) {
            var t = y[i]
            for k in (i + 1)..<p { t -= a[k * p + i] * y[k] }
            y[i] = t / a[i * p + i]
        }
        return y
    }
}
