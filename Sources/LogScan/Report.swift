/// What a scan found. Line numbers are 1-based and count every line of the file (a gzipped
/// file's lines are those of its decompressed text).
public struct ScanReport: Sendable {
    public var files: [FileResult] = []
    public var lines = 0
    public var malformed = 0
    /// Lines outside the time window (`since`/`until`), not counted anywhere else.
    public var outside = 0
    public var bytes: Int64 = 0
    public var topIPs: [Counted] = []
    /// Status code and its count, most frequent first (access logs).
    public var statuses: [(status: Int, count: Int)] = []
    public var topPaths: [Counted] = []
    /// Clients with more status-200 requests than the threshold, most first.
    public var okClients: [Counted] = []
    /// Requests whose client (or path) was first seen once the table of distinct keys was
    /// full: not in `topIPs`/`okClients` (or `topPaths`). Zero unless a log has more distinct
    /// clients than `ScanOptions.maxKeys`.
    public var untrackedIPs = 0
    public var untrackedPaths = 0
    public var distinctIPs = 0
    public var responseTimes: ResponseTimes?
    public var sets: [SetResult] = []
    public var problems: [Problem] = []
    public var firstTime: Int64?
    public var lastTime: Int64?
}

public struct FileResult: Sendable {
    public let path: String
    public var bytes: Int64 = 0
    public var lines = 0
    public var malformed = 0
    public var outside = 0
    public var gzip = false
    /// False when the file could not be read at all (the reason is in the problems).
    public var readable = true
    /// Lines matching each set, in the order of `ScanOptions.patterns`.
    public var setCounts: [Int] = []
    public var firstTime: Int64?
    public var lastTime: Int64?
    public init(path: String) { self.path = path }
}

public struct SetResult: Sendable {
    public let name: String
    public var count = 0
    /// The last matching lines (as `grep | tail`), oldest first.
    public var samples: [Sample] = []
}

public struct Sample: Sendable {
    public let file: String
    public let line: Int
    /// The line's bytes, cut at `ScanOptions.sampleBytes`.
    public let text: [UInt8]
}

/// Something about one file the reader should know: a line that could not be read, a file that
/// could not be opened, grew or was rotated while it was read. `line` is 0 when no line applies.
public struct Problem: Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// Response times in milliseconds (millisecond resolution, exact up to a minute).
public struct ResponseTimes: Sendable {
    public let count: Int
    public let mean: Double
    public let p50: Int
    public let p90: Int
    public let p95: Int
    public let p99: Int
    public let max: Int
}
