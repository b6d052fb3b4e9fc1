/// The least-squares line through (time, value) points: how fast a resource grows, and when it
/// reaches a limit at that pace (the guide's capacity planning: days until a disk is full).
public struct LinearFit: Sendable, Equatable {
    /// Change per second.
    public let slope: Double
    /// The value at time 0.
    public let intercept: Double
    /// How much of the values' variation the line explains (1: a straight line; 0: none).
    public let r2: Double
    public let count: Int
    /// The first and last times fitted.
    public let from: Double, to: Double

    /// Nil with fewer than two points or all at one time.
    public init?(_ points: [(time: Double, value: Double)]) {
        let n = Double(points.count)
        guard points.count >= 2 else { return nil }
        // centred on the means: Unix times squared lose every digit of a per-second slope
        let mt = points.reduce(0) { $0 + $1.time } / n
        let mv = points.reduce(0) { $0 + $1.value } / n
        var stt = 0.0, stv = 0.0, svv = 0.0
        for p in points {
            let dt = p.time - mt, dv = p.value - mv
            stt += dt * dt; stv += dt * dv; svv += dv * dv
        }
        guard stt > 0 else { return nil }
        slope = stv / stt
        intercept = mv - slope * mt
        r2 = svv > 0 ? (stv * stv) / (stt * svv) : 1
        count = points.count
        from = points.map(\.time).min()!
        to = points.map(\.time).max()!
    }

    public func value(at time: Double) -> Double { intercept + slope * time }

    /// When the line reaches `limit` (a Unix time), nil when it never does going forward
    /// (flat or moving away from it).
    public func time(reaching limit: Double) -> Double? {
        guard slope != 0 else { return nil }
        let t = (limit - intercept) / slope
        return t.isFinite ? t : nil
    }
}
