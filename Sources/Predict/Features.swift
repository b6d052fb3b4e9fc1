import Glibc

/// The model's inputs at one slot of the grid (the forecast origin): the load and its recent
/// changes, exponentially weighted means, the original's window statistics where they make sense
/// for a linear model, and time of day and day of week as Fourier terms.
///
/// Of the original's nine features: avg_requests and peak_requests become the load's EWMAs and
/// its window peak (the load is what is forecast, and `requests` may be missing); memory_trend,
/// response_time_variance, error_rate and volatility_index are kept over a 12-slot window;
/// time_of_day and day_of_week become three sine/cosine pairs each (a linear model cannot use
/// a sawtooth that jumps at midnight); cyclical_pattern (lag-1 autocorrelation of 10 points)
/// is left out: it is noise at that length, and the change terms carry the same signal.
///
/// Fourier terms are taken at the origin, not at the target time: sin ω(t+h) is a fixed linear
/// mix of sin ωt and cos ωt, so a model per horizon learns the shift, and every horizon shares
/// one design matrix.
///
/// After these `baseCount` inputs come the seasonal lags (`SeasonalLags`): the load at the same
/// time of day and of week as each horizon's target, and as its origin, which three Fourier
/// harmonics cannot draw when a day has a sharp shape.
enum Features {
    static let names = [
        "level", "change_1", "change_3", "change_12",
        "ewma_fast", "ewma_medium", "ewma_slow", "ewma_slowest",
        "peak", "volatility_index", "memory_trend", "response_time_variance", "error_rate",
        "time_of_day_sin1", "time_of_day_cos1", "time_of_day_sin2", "time_of_day_cos2", "time_of_day_sin3", "time_of_day_cos3",
        "day_of_week_sin1", "day_of_week_cos1", "day_of_week_sin2", "day_of_week_cos2", "day_of_week_sin3", "day_of_week_cos3",
    ]
    static let baseCount = 25
    /// The groups feature importance is reported by (the Fourier terms summed per cycle; the
    /// seasonal lags per period are added by `SeasonalLags.groups`).
    static let baseGroups: [(name: String, range: Range<Int>)] = [
        ("level", 0..<1), ("change_1", 1..<2), ("change_3", 2..<3), ("change_12", 3..<4),
        ("ewma_fast", 4..<5), ("ewma_medium", 5..<6), ("ewma_slow", 6..<7), ("ewma_slowest", 7..<8),
        ("peak", 8..<9), ("volatility_index", 9..<10), ("memory_trend", 10..<11),
        ("response_time_variance", 11..<12), ("error_rate", 12..<13),
        ("time_of_day", 13..<19), ("day_of_week", 19..<25),
    ]
    /// EWMA smoothing factors: spans of about 3, 20, 200 and 2,000 slots.
    static let alphas: (Double, Double, Double, Double) = (0.3, 0.05, 0.005, 0.0005)
    static let window = 12
    static let day = 86_400.0, week = 604_800.0

    /// The EWMAs of the load through some slot.
    struct Smoothing: Sendable, Equatable {
        var fast = 0.0, medium = 0.0, slow = 0.0, slowest = 0.0
        var started = false

        /// These means with `y` taken in.
        func adding(_ y: Double) -> Smoothing {
            guard started else { return Smoothing(fast: y, medium: y, slow: y, slowest: y, started: true) }
            return Smoothing(fast: fast + alphas.0 * (y - fast), medium: medium + alphas.1 * (y - medium),
                             slow: slow + alphas.2 * (y - slow), slowest: slowest + alphas.3 * (y - slowest), started: true)
        }
    }

    /// Writes the features of absolute slot `i` of `h` into `out` (`lags.count` values), where
    /// `s` already includes slot i's load and `time` is the slot's Unix time.
    static func write(_ h: History, _ i: Int, _ s: Smoothing, _ lags: SeasonalLags, time: Double, into out: UnsafeMutablePointer<Double>) {
        let y = h.loadAt(i)
        out[0] = y
        out[1] = y - h.loadAt(i - 1)
        out[2] = y - h.loadAt(i - 3)
        out[3] = y - h.loadAt(i - 12)
        out[4] = s.fast - y
        out[5] = s.medium - y
        out[6] = s.slow - y
        out[7] = s.slowest - y

        // window statistics over the last `window` slots kept (fewer at the start)
        let first = max(h.oldest, i - window + 1)
        let n = Double(i - first + 1)
        var peak = -Double.infinity, sum = 0.0, sumSq = 0.0
        var lSum = 0.0, lSumSq = 0.0, eSum = 0.0
        var mx = 0.0, mxy = 0.0, mxx = 0.0, my = 0.0
        for j in first...i {
            let v = h.loadAt(j)
            peak = max(peak, v); sum += v; sumSq += v * v
            let s = h.slot(j)
            let l = Double(h.latency[s]); lSum += l; lSumSq += l * l
            eSum += Double(h.errors[s])
            let x = Double(j - first), m = Double(h.memory[s])
            mx += x; my += m; mxy += x * m; mxx += x * x
        }
        let mean = sum / n
        out[8] = peak - y
        out[9] = max(0, sumSq / n - mean * mean).squareRoot()
        let vx = mxx / n - (mx / n) * (mx / n)
        out[10] = vx > 0 ? (mxy / n - (mx / n) * (my / n)) / vx : 0
        out[11] = max(0, lSumSq / n - (lSum / n) * (lSum / n))
        out[12] = eSum / n

        fourier(time, period: day, into: out + 13)
        fourier(time, period: week, into: out + 19)
        lags.write(h, i, y, into: out + baseCount)
    }

    /// sin and cos of the first three harmonics of `time` over `period` (UTC; the week's phase
    /// starts at the epoch, a Thursday).
    @inline(__always) static func fourier(_ time: Double, period: Double, into out: UnsafeMutablePointer<Double>) {
        var phase = time.truncatingRemainder(dividingBy: period) / period
        if phase < 0 { phase += 1 }
        let a = 2 * Double.pi * phase
        let s1 = sin(a), c1 = cos(a)
        let s2 = 2 * s1 * c1, c2 = c1 * c1 - s1 * s1
        out[0] = s1; out[1] = c1; out[2] = s2; out[3] = c2
        out[4] = s2 * c1 + c2 * s1; out[5] = c2 * c1 - s2 * s1
    }
}

/// The seasonal lags: for each period (a day, a week) and each horizon h (in slots), the load at
/// the most recent slot in the same phase as the target (i + h − k·P, with k = ⌈h / P⌉ so that it
/// is already known) and at the same shift before the origin (i − k·P), as differences from the
/// level, each the mean of the slots within `radiusSeconds` of it (never past the origin). "The
/// load one day and one week before the target" when h < P. A weekly lag older than the history
/// kept takes the daily lag of the same horizon and role instead (the best guess there is: a
/// weight learnt for "last week" stays right for the rows that have it, instead of being pulled
/// toward 0 by the first week's rows); a daily lag older than the history is 0.
///
/// The settings are fixed, not tuned on any trace: both periods, both lags, ±30 s of smoothing
/// (none at sampling intervals above 30 s), the daily lag standing in for a missing weekly one.
struct SeasonalLags: Sendable, Equatable {
    static let radiusSeconds = 30.0
    static let periods: [(name: String, seconds: Double)] = [("seasonal_day", Features.day), ("seasonal_week", Features.week)]

    /// Distinct slot offsets from the origin (all ≤ 0), grouped by period, and the group of each.
    let offsets: [Int]
    let groupOf: [Int]
    /// The input standing in for each one when its slot is older than the history (an earlier
    /// index: the daily lag of the same horizon and role), or -1 (then 0).
    let fallback: [Int]
    let radius: Int
    /// Slots per period (0 where the period is under two slots and has no lags).
    let periodSlots: [Int]

    init(interval: Double, steps: [Int]) {
        radius = Int((Self.radiusSeconds / interval).rounded(.down))
        var offsets: [Int] = [], groupOf: [Int] = [], fallback: [Int] = []
        // (horizon, role) -> index of the daily lag, for the weekly one to fall back on
        var daily: [Int: Int] = [:]
        var periodSlots: [Int] = []
        for (g, period) in Self.periods.enumerated() {
            let p = Int((period.seconds / interval).rounded())
            // a period of fewer than two slots has no phase to repeat
            periodSlots.append(p >= 2 ? p : 0)
            guard p >= 2 else { continue }
            var seen = Set<Int>()
            for h in steps {
                let back = (h + p - 1) / p * p
                for (role, o) in [h - back, -back].enumerated() {
                    let key = h * 2 + role
                    guard seen.insert(o).inserted else {
                        if g == 0, let at = offsets.firstIndex(of: o) { daily[key] = daily[key] ?? at }
                        continue
                    }
                    if g == 0 { daily[key] = offsets.count }
                    fallback.append(g == 0 ? -1 : daily[key] ?? -1)
                    offsets.append(o); groupOf.append(g)
                }
            }
        }
        self.offsets = offsets
        self.groupOf = groupOf
        self.fallback = fallback
        self.periodSlots = periodSlots
    }

    /// The input holding `anchor`'s load (minus the level) for a target `h` slots ahead: the
    /// target-phase lag of its period; nil for the last value or a period without lags.
    func column(of anchor: Anchor, steps h: Int) -> Int? {
        guard let g = anchor.period, periodSlots[g] > 0 else { return nil }
        let p = periodSlots[g]
        let o = h - (h + p - 1) / p * p
        guard let j = offsets.indices.first(where: { groupOf[$0] == g && offsets[$0] == o }) else { return nil }
        return Features.baseCount + j
    }

    /// The first row (slots after the oldest kept) at which the inputs a model uses are all
    /// measured rather than stood in for: the first `inputs` columns and the anchor's `column`.
    /// A model trained on the rows before it would learn from the stand-ins (a weekly lag that is
    /// really the daily one) what the real lag does.
    func firstRow(inputs: Int, column: Int?) -> Int {
        var used = inputs > Features.baseCount ? Array(offsets.prefix(inputs - Features.baseCount)) : []
        if let column { used.append(offsets[column - Features.baseCount]) }
        return used.map { radius - $0 }.max() ?? 0
    }

    /// Features.baseCount plus one input per offset.
    var count: Int { Features.baseCount + offsets.count }

    /// Feature importance groups: the base groups, then one per period with lags.
    var groups: [(name: String, range: Range<Int>)] {
        var gs = Features.baseGroups
        for g in Self.periods.indices {
            let cols = offsets.indices.filter { groupOf[$0] == g }
            if let first = cols.first, let last = cols.last {
                gs.append((Self.periods[g].name, Features.baseCount + first ..< Features.baseCount + last + 1))
            }
        }
        return gs
    }

    func write(_ h: History, _ i: Int, _ level: Double, into out: UnsafeMutablePointer<Double>) {
        for (j, o) in offsets.enumerated() {
            let at = i + o
            let lo = at - radius, hi = min(at + radius, i)
            guard lo >= h.oldest else { out[j] = fallback[j] >= 0 ? out[fallback[j]] : 0; continue }
            var sum = 0.0
            for k in lo...hi { sum += h.loadAt(k) }
            out[j] = sum / Double(hi - lo + 1) - level
        }
    }
}
