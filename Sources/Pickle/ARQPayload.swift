/// ARQ's job and result payloads (arq/jobs.py `serialize_job`, `serialize_result`, checked
/// against arq 0.28): a pickled dict with short keys.
///
///     job    {'t': job_try|None, 'f': function, 'a': args tuple, 'k': kwargs dict, 'et': enqueue ms}
///     result job's keys + {'s': success, 'r': result (the exception when it failed),
///                          'st': start ms, 'ft': finish ms, 'q': queue name, 'id': job id}
public struct ARQJob: Equatable, Sendable {
    public var function: String
    public var args: [PickleValue]
    /// kwargs in order, keyed by name.
    public var kwargs: [PickleEntry]
    public var jobTry: Int64?
    public var enqueueTimeMs: Int64

    public init(function: String, args: [PickleValue] = [], kwargs: [PickleEntry] = [], jobTry: Int64? = nil, enqueueTimeMs: Int64) {
        self.function = function; self.args = args; self.kwargs = kwargs; self.jobTry = jobTry; self.enqueueTimeMs = enqueueTimeMs
    }

    public init(_ v: PickleValue) throws(PickleError) {
        guard case .dict = v else { throw PickleError(.malformed, "an ARQ job is a dict") }
        function = try ARQField.str(v, "f")
        args = try ARQField.sequence(v, "a")
        kwargs = try ARQField.dict(v, "k")
        jobTry = try ARQField.optInt(v, "t")
        enqueueTimeMs = try ARQField.int(v, "et")
    }

    public var value: PickleValue {
        .dict([
            PickleEntry(.str("t"), jobTry.map { .int($0) } ?? .none),
            PickleEntry(.str("f"), .str(function)),
            PickleEntry(.str("a"), .tuple(args)),
            PickleEntry(.str("k"), .dict(kwargs)),
            PickleEntry(.str("et"), .int(enqueueTimeMs)),
        ])
    }

    public static func decode(_ bytes: [UInt8], limits: PickleLimits = PickleLimits()) throws(PickleError) -> ARQJob {
        try ARQJob(PickleCodec.decode(bytes, limits: limits))
    }

    public func encode() throws(PickleError) -> [UInt8] { try PickleCodec.encode(value) }
}

public struct ARQResult: Equatable, Sendable {
    public var job: ARQJob
    public var success: Bool
    /// The function's return value, or the exception (`.object`) that ended the job.
    public var result: PickleValue
    public var startTimeMs: Int64
    public var finishTimeMs: Int64
    public var queueName: String?
    public var jobId: String?

    public init(job: ARQJob, success: Bool, result: PickleValue, startTimeMs: Int64, finishTimeMs: Int64,
                queueName: String? = nil, jobId: String? = nil) {
        self.job = job; self.success = success; self.result = result
        self.startTimeMs = startTimeMs; self.finishTimeMs = finishTimeMs; self.queueName = queueName; self.jobId = jobId
    }

    public init(_ v: PickleValue) throws(PickleError) {
        // a result's job part has an int try (never None)
        job = try ARQJob(v)
        guard case .bool(let s)? = v["s"] else { throw PickleError(.malformed, "ARQ result field 's' (success) is missing or not a bool") }
        success = s
        guard let r = v["r"] else { throw PickleError(.malformed, "ARQ result field 'r' (result) is missing") }
        result = r
        startTimeMs = try ARQField.int(v, "st")
        finishTimeMs = try ARQField.int(v, "ft")
        queueName = v["q"]?.text
        jobId = v["id"]?.text
    }

    public var value: PickleValue {
        guard case .dict(var entries) = job.value else { return .none }
        entries.append(PickleEntry(.str("s"), .bool(success)))
        entries.append(PickleEntry(.str("r"), result))
        entries.append(PickleEntry(.str("st"), .int(startTimeMs)))
        entries.append(PickleEntry(.str("ft"), .int(finishTimeMs)))
        if let q = queueName { entries.append(PickleEntry(.str("q"), .str(q))) }
        if let id = jobId { entries.append(PickleEntry(.str("id"), .str(id))) }
        return .dict(entries)
    }

    public static func decode(_ bytes: [UInt8], limits: PickleLimits = PickleLimits()) throws(PickleError) -> ARQResult {
        try ARQResult(PickleCodec.decode(bytes, limits: limits))
    }

    public func encode() throws(PickleError) -> [UInt8] { try PickleCodec.encode(value) }

    /// "ValueError: boom" for a failed job whose result is an exception, else nil.
    public var errorSummary: String? {
        guard !success else { return nil }
        if case .object(let o) = result { return o.summary }
        if let t = result.text { return t }   // ARQ writes 'unable to serialize result' as a str
        return "failed"
    }
}

enum ARQField {
    static func str(_ v: PickleValue, _ k: String) throws(PickleError) -> String {
        guard let s = v[k]?.text else { throw PickleError(.malformed, "ARQ field '\(k)' is missing or not a str") }
        return s
    }
    static func int(_ v: PickleValue, _ k: String) throws(PickleError) -> Int64 {
        guard case .int(let i)? = v[k] else { throw PickleError(.malformed, "ARQ field '\(k)' is missing or not an int") }
        return i
    }
    static func optInt(_ v: PickleValue, _ k: String) throws(PickleError) -> Int64? {
        switch v[k] {
        case .int(let i)?: return i
        case .none?, nil: return nil
        default: throw PickleError(.malformed, "ARQ field '\(k)' is not an int or None")
        }
    }
    static func sequence(_ v: PickleValue, _ k: String) throws(PickleError) -> [PickleValue] {
        switch v[k] {
        case .tuple(let a)?, .list(let a)?: return a
        default: throw PickleError(.malformed, "ARQ field '\(k)' is missing or not a tuple")
        }
    }
    static func dict(_ v: PickleValue, _ k: String) throws(PickleError) -> [PickleEntry] {
        guard case .dict(let d)? = v[k] else { throw PickleError(.malformed, "ARQ field '\(k)' is missing or not a dict") }
        return d
    }
}
