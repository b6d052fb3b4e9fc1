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

/// A fitted linear model: prediction = intercept + Σ weights·x, the change of the load over the
/// horizon. Fitted as a correction to an anchor (`Anchor`): the anchor's own input, when it has
/// one, carries weight 1 on top of what the fit gave it, so a forecast is one dot product whatever
/// the anchor.
struct LinearFit: Sendable, Equatable {
    var weights: [Double]
    var intercept: Double
    /// The ridge penalty it was fitted with (infinity: the anchor alone, no other weights).
    var lambda: Double
    var anchor: Anchor = .lastValue
    /// Whether the seasonal lags were inputs (they may still hold the anchor).
    var seasonalLags = true

    /// The anchor's forecast alone: weight 1 on its input (`column`; nil for the last value,
    /// whose change is 0).
    static func anchorOnly(_ p: Int, _ anchor: Anchor = .lastValue, column: Int? = nil) -> LinearFit {
        var w = [Double](repeating: 0, count: p)
        if let column { w[column] = 1 }
        return LinearFit(weights: w, intercept: 0, lambda: .infinity, anchor: anchor, seasonalLags: false)
    }

    @inline(__always) func predict(_ x: UnsafePointer<Double>) -> Double {
        var s = intercept
        for j in 0..<weights.count { s += weights[j] * x[j] }
        return s
    }

    /// What was chosen, for people: "ridge (λ 0.01) around the load a week before the target,
    /// with the seasonal lags".
    var summary: String {
        guard lambda.isFinite else { return "\(anchor.name) alone" }
        return "ridge (λ \(lambda)) around \(anchor.name), \(seasonalLags ? "with" : "without") the seasonal lags"
    }
}

enum Ridge {
    /// Ridge regression on standardised columns: minimises Σ(d − a − c − w·x)² + λ·n·Σ var_j w_j²,
    /// without penalising the intercept, where a is the anchor's input (`anchor`, a column of x;
    /// nil: 0) and only the first `inputs` columns are regressors (the others get weight 0). A
    /// column with no variance in these rows gets weight 0. The anchor's weight 1 is added to the
    /// result (see `LinearFit`).
    static func fit(_ x: RowSums, _ d: TargetSums, lambda: Double, anchor: Anchor = .lastValue, column: Int? = nil,
                    inputs: Int? = nil) -> LinearFit? {
        let p = x.sums.count
        let n = x.rows
        let q = min(p, inputs ?? p)
        guard n >= 1 else { return nil }
        if lambda.isInfinite { return .anchorOnly(p, anchor, column: column) }
        // the target less the anchor: its sums follow from the anchor column's
        var cross = d.cross, dSum = d.sum
        if let c = column {
            dSum -= x.sums[c]
            for j in 0..<p { cross[j] -= j <= c ? x.gram[j * p + c] : x.gram[c * p + j] }
        }
        var mean = [Double](repeating: 0, count: p)
        for j in 0..<p { mean[j] = x.sums[j] / n }
        let dMean = dSum / n
        var a = [Double](repeating: 0, count: p * p)
        var b = [Double](repeating: 0, count: p)
        var active = [Bool](repeating: false, count: p)
        for j in 0..<q {
            let v = x.gram[j * p + j] / n - mean[j] * mean[j]
            active[j] = v > 1e-12
        }
        for j in 0..<p where active[j] {
            for k in j..<p where active[k] {
                let c = x.gram[j * p + k] / n - mean[j] * mean[k]
                a[j * p + k] = c; a[k * p + j] = c
            }
            a[j * p + j] *= 1 + lambda
            b[j] = cross[j] / n - mean[j] * dMean
        }
        for j in 0..<p where !active[j] { a[j * p + j] = 1; b[j] = 0 }
        guard var w = choleskySolve(&a, b, p) else { return nil }
        var c = dMean
        for j in 0..<p { c -= w[j] * mean[j] }
        if let col = column { w[col] += 1 }
        return LinearFit(weights: w, intercept: c, lambda: lambda, anchor: anchor, seasonalLags: q == p)
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
