/// A pool's limits and timers. Seconds are Doubles; `validate()` refuses what cannot work and
/// names the option.
public struct PoolOptions: Sendable, Equatable {
    /// Connections kept open even when idle (made on demand, not ahead).
    public var min: Int = 0
    /// Connections open at most (idle + checked out + being made).
    public var max: Int = 10
    /// How long `acquire` waits for a free connection by default.
    public var acquireTimeout: Double = 5
    /// A connection older than this is closed when it is returned or found idle (0: never).
    public var maxLifetime: Double = 1800
    /// An idle connection above `min` unused for this long is closed (0: never).
    public var idleTimeout: Double = 600
    /// An idle connection unused for longer than this is validated before it is handed out
    /// (HikariCP's alive-bypass window: a connection just returned is not pinged again).
    public var validationInterval: Double = 0.5

    public init() {}

    public init(min: Int, max: Int, acquireTimeout: Double = 5, maxLifetime: Double = 1800,
                idleTimeout: Double = 600, validationInterval: Double = 0.5) {
        self.min = min; self.max = max; self.acquireTimeout = acquireTimeout
        self.maxLifetime = maxLifetime; self.idleTimeout = idleTimeout
        self.validationInterval = validationInterval
    }

    public func validate() throws(PoolError) {
        if min < 0 { throw .badOption("min", "must be 0 or more, got \(min)") }
        if max < 1 { throw .badOption("max", "must be 1 or more, got \(max)") }
        if min > max { throw .badOption("min", "must not be above max (\(min) > \(max))") }
        try Self.seconds("acquire_timeout", acquireTimeout, zeroAllowed: true)
        try Self.seconds("max_lifetime", maxLifetime, zeroAllowed: true)
        try Self.seconds("idle_timeout", idleTimeout, zeroAllowed: true)
        try Self.seconds("validation_interval", validationInterval, zeroAllowed: true)
    }

    static func seconds(_ name: String, _ v: Double, zeroAllowed: Bool) throws(PoolError) {
        if v.isNaN || v.isInfinite { throw .badOption(name, "must be a finite number of seconds, got \(v)") }
        if v < 0 || (!zeroAllowed && v == 0) {
            throw .badOption(name, zeroAllowed ? "must be 0 or more seconds, got \(v)" : "must be more than 0 seconds, got \(v)")
        }
    }
}
