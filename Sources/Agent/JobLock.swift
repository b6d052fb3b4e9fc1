import RESP

/// A job runs on one agent at a time (docs/agent.md "Locks"): the lock is a Redis key set with
/// SET NX PX (it expires on its own when its holder dies), renewed every third of its life
/// while the job runs, deleted when the job ends; each acquisition takes a fencing token from
/// INCR on the job's fence key. A run that outlived its lock (its agent froze or died and
/// another took over) holds a token lower than the fence key's: every shared write the job
/// makes goes through `FencedWrite.script`, which Redis runs atomically and which refuses a
/// token that is not the latest.
///
/// Keys (prefix `opsh:agent:`): `lock:JOB` = "AGENT TOKEN", `fence:JOB` = the last token given.
public final class JobLock {
    public static let prefix = "opsh:agent:"
    public let job: String
    public let owner: String
    let ttlMillis: Int
    let session: RESPSession
    public private(set) var token: Int64 = 0

    public static func lockKey(_ job: String) -> String { prefix + "lock:" + job }
    public static func fenceKey(_ job: String) -> String { prefix + "fence:" + job }

    /// SET NX PX, then INCR, in one script: a lock is never held without its token.
    static let acquireScript = """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
          local t = redis.call('INCR', KEYS[2])
          redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. t, 'PX', ARGV[2])
          return t
        end
        return redis.call('GET', KEYS[1])
        """
    /// renews only the lock this holder still owns
    static let renewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """

    /// Connects to `url` and takes the lock, or throws `.locked` naming the holder.
    public init(url: String, job: String, owner: String, ttl: Double) throws(AgentError) {
        self.job = job
        self.owner = owner
        self.ttlMillis = max(1000, Int(ttl * 1000))
        do { session = try RESPSession.connect(url: url) } catch { throw AgentError.redis("\(url): \(error)") }
        let reply: RESPValue
        do {
            reply = try session.evalCached(JobLock.acquireScript, keys: [Array(JobLock.lockKey(job).utf8), Array(JobLock.fenceKey(job).utf8)],
                                           args: [Array(owner.utf8), Array(String(ttlMillis).utf8)])
        } catch {
            session.close()
            throw AgentError.redis("lock \(job): \(error)")
        }
        switch reply {
        case .integer(let t):
            token = t
        case .bulkString(let b?):
            session.close()
            throw AgentError.locked(job: job, holder: String(decoding: b, as: UTF8.self))
        default:
            session.close()
            throw AgentError.redis("lock \(job): unexpected reply \(reply)")
        }
    }

    var value: [UInt8] { Array((owner + " " + String(token)).utf8) }

    /// Extends the lock by its lifetime; false when it was lost (expired, taken over).
    public func renew() -> Bool {
        let r = try? session.evalCached(JobLock.renewScript, keys: [Array(JobLock.lockKey(job).utf8)], args: [value, Array(String(ttlMillis).utf8)])
        return r == .integer(1)
    }

    /// Deletes the lock if it is still this holder's, and closes the connection.
    public func release() {
        _ = try? session.evalCached(JobLock.releaseScript, keys: [Array(JobLock.lockKey(job).utf8)], args: [value])
        session.close()
    }

    /// A fenced write on this lock's connection (the agent's own shared writes).
    public func fenced(_ command: [String]) throws(AgentError) -> RESPValue {
        try FencedWrite.call(session, job: job, token: token, command: command)
    }
}

/// Shared writes checked against the job's fence key by a script Redis runs atomically:
/// the write happens only if the caller's token is still the last one given out. The same
/// script serves the agent (Swift) and the job's Lua process (stdlib opsh.fence, with the
/// token from OPSH_AGENT_FENCE_TOKEN).
public enum FencedWrite {
    /// KEYS[1]: the fence key; ARGV[1]: the token; ARGV[2...]: the command and its arguments.
    public static let script = """
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) ~= current then
          return redis.error_reply('STALE fencing token ' .. ARGV[1] .. ' for ' .. KEYS[1] .. ' (current ' .. current .. ')')
        end
        return redis.call(unpack(ARGV, 2))
        """

    public static func call(_ session: RESPSession, job: String, token: Int64, command: [String]) throws(AgentError) -> RESPValue {
        let reply: RESPValue
        do {
            reply = try session.evalCached(script, keys: [Array(JobLock.fenceKey(job).utf8)],
                                           args: [Array(String(token).utf8)] + command.map { Array($0.utf8) })
        } catch {
            throw AgentError.redis("\(error)")
        }
        if case .error(let e) = reply { throw AgentError.redis(String(decoding: e, as: UTF8.self)) }
        return reply
    }
}
