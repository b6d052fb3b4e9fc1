import Archive
import Glibc

/// What a scan reads and counts.
public struct ScanOptions: Sendable {
    public enum Format: String, Sendable { case access, plain }
    /// `access`: combined-format access logs, parsed into fields and aggregated; `plain`: any
    /// text log, counted by the pattern sets only.
    public var format: Format = .plain
    /// The time window, in Unix seconds, by the lines' own timestamps; lines outside it are
    /// counted in `outside` only. A plain line without a timestamp takes the previous line's.
    public var since: Int64?
    public var until: Int64?
    /// How many top clients and paths to report.
    public var top = 10
    /// Report clients with more than this many status-200 requests (the guide's per-IP awk).
    public var okThreshold: Int?
    /// Count request paths (without the query) for `topPaths`.
    public var countPaths = true
    public var patterns: [PatternSpec] = []
    /// Matching lines kept per set (the last ones).
    public var samples = 10
    public var sampleBytes = 1024
    /// Threads for large files (each is cut at line boundaries) and for many files.
    public var threads = availableCores()
    /// Lines longer than this are reported and skipped.
    public var maxLine = 1 << 20
    /// Distinct clients (and paths) tracked per table: memory stays bounded.
    public var maxKeys = 200_000
    /// Read the response time at the end of each access-log line (for `responseTimes`): it is
    /// behind the user agent, so a scan that needs no percentiles reads less of every line.
    public var responseTimes = true
    /// Milliseconds per unit of the access log's response-time field (nginx's `$request_time`
    /// is in seconds: 1000).
    public var responseTimeScale = 1000.0
    /// Record the first and last timestamps even without a window (costs a parse per line).
    public var span = false
    /// The present, for syslog lines (they have no year).
    public var now: Int64 = Int64(time(nil))
    /// Called on the scanning thread after each read from a file, with the file and the bytes
    /// read so far by that reader: lets a caller watch progress (tests grow or rotate a file
    /// in the middle of a scan with it).
    public var progress: (@Sendable (String, Int64) -> Void)?
    /// Files of at least this size are cut into pieces, one per thread.
    public var splitSize: Int64 = 16 << 20

    public init() {}

    var needsTime: Bool { since != nil || until != nil || span }
}
