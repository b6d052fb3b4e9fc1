import JSON
import LuaRuntime
import Pickle

/// `opsh.arq`: ARQ's pickled job and result payloads as Lua tables (Sources/Pickle decodes them
/// without executing anything), and ARQ's key names. The procedures in lua/queue/ do the Redis
/// work through opsh.redis.
///
/// Python to Lua: None is `opsh.null`; bool, int, float, str as Lua values; an int beyond 64 bits
/// is a `json.bignum`; bytes are `arq.bytes` values ({value = "..."}); a tuple is a sequence with
/// the `opsh.arq.tuple` metatable; a list is a sequence (an empty one carries `json.array`'s
/// marker), a dict a table (an empty one `json.object`'s); sets are sequences marked
/// `opsh.arq.set`; an exception in a failed result is a table {class, module, name, args,
/// state, message} marked `opsh.arq.object`. Lua to Python reverses this: integers stay ints,
/// other numbers floats, strings must be UTF-8 (binary goes through `arq.bytes`).
public enum ARQModule {
    static let tupleType = "opsh.arq.tuple"
    static let bytesType = "opsh.arq.bytes"
    static let setType = "opsh.arq.set"
    static let objectType = "opsh.arq.object"

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        JSONModule.ensureMetatables(lua)
        for name in [tupleType, setType] { lua.newMetatable(name); lua.pop() }
        if lua.newMetatable(bytesType) {
            lua.push(function: bytesToString); lua.rawSet(-2, field: "__tostring")
            lua.push(function: bytesLength); lua.rawSet(-2, field: "__len")
        }
        lua.pop()
        if lua.newMetatable(objectType) {
            lua.push(function: objectToString); lua.rawSet(-2, field: "__tostring")
        }
        lua.pop()
        lua.newModule([
            ("decode", decode), ("encode", encode),
            ("decode_job", decodeJob), ("encode_job", encodeJob),
            ("decode_result", decodeResult), ("encode_result", encodeResult),
            ("retry_payload", retryPayload),
            ("bytes", makeBytes), ("tuple", makeTuple), ("is_bytes", isBytes), ("is_tuple", isTuple),
        ], extraFields: 2)
        lua.newTable(hashCount: 8)
        for (k, v) in [("job", "arq:job:"), ("result", "arq:result:"), ("in_progress", "arq:in-progress:"),
                       ("retry", "arq:retry:"), ("abort", "arq:abort"), ("health_check_suffix", ":health-check"),
                       ("default_queue", "arq:queue")] {
            lua.push(v); lua.rawSet(-2, field: k)
        }
        lua.rawSet(-2, field: "keys")
        lua.push(Int64(60)); lua.rawSet(-2, field: "abort_max_age_ms")
        return 1
    }

    // MARK: options and errors

    static func limits(_ lua: Lua, _ arg: Int32) throws(LuaRaise) -> PickleLimits {
        var l = PickleLimits()
        guard lua.type(at: arg) == .table else {
            if !lua.isNoneOrNil(arg) { throw .type(arg, "table") }
            return l
        }
        if try lua.optionField(arg, "max_bytes", .number, arg: arg) { l.maxInputBytes = Int(lua.toInteger(-1) ?? 0); lua.pop() }
        if try lua.optionField(arg, "max_depth", .number, arg: arg) { l.maxDepth = Int(max(1, min(1000, lua.toInteger(-1) ?? 200))); lua.pop() }
        if try lua.optionField(arg, "max_memo", .number, arg: arg) { l.maxMemo = Int(lua.toInteger(-1) ?? 0); lua.pop() }
        if try lua.optionField(arg, "max_values", .number, arg: arg) { l.maxNodes = Int(lua.toInteger(-1) ?? 0); lua.pop() }
        if try lua.optionField(arg, "allow_globals", .table, arg: arg) {
            let t = lua.top
            for i in 1...max(1, lua.rawLength(t)) where lua.rawLength(t) > 0 {
                _ = lua.rawGet(t, index: Int64(i))
                guard let s = lua.toString(-1) else { throw .argument(arg, "allow_globals holds \"module.Name\" strings") }
                l.allowedGlobals.insert(s)
                lua.pop()
            }
            lua.pop()
        }
        return l
    }

    static func fail(_ lua: Lua, _ e: PickleError) -> Int32 {
        let code: String
        switch e.kind {
        case .malformed: code = "pickle_malformed"
        case .refused: code = "pickle_refused"
        case .limit: code = "pickle_limit"
        case .unencodable: code = "pickle_encode"
        }
        return lua.failure(code: code, message: e.description, fields: [("offset", .integer(Int64(e.offset)))])
    }

    // MARK: decode

    /// arq.decode(bytes [, opts]) -> value, or nil, err
    static let decode: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let data = try lua.checkBytes(1)
            let l = try limits(lua, 2)
            let v: PickleValue
            do throws(PickleError) { v = try PickleCodec.decode(data, limits: l) } catch { return fail(lua, error) }
            lua.top = 2
            push(lua, v)
            return 1
        }
    }

    /// arq.decode_job(bytes [, {id=, score=, ...limits}]) -> job, or nil, err
    static let decodeJob: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let data = try lua.checkBytes(1)
            let l = try limits(lua, 2)
            let job: ARQJob
            do throws(PickleError) { job = try ARQJob(PickleCodec.decode(data, limits: l)) } catch { return fail(lua, error) }
            lua.top = 2
            push(lua, job: job, size: 8)
            copyFields(lua, from: 2, ["id", "score"])
            return 1
        }
    }

    /// arq.decode_result(bytes [, opts]) -> result, or nil, err
    static let decodeResult: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let data = try lua.checkBytes(1)
            let l = try limits(lua, 2)
            let r: ARQResult
            do throws(PickleError) { r = try ARQResult(PickleCodec.decode(data, limits: l)) } catch { return fail(lua, error) }
            lua.top = 2
            push(lua, result: r)
            copyFields(lua, from: 2, ["id"])
            return 1
        }
    }

    static func copyFields(_ lua: Lua, from opts: Int32, _ names: [String]) {
        guard lua.type(at: opts) == .table else { return }
        for n in names {
            if lua.rawGet(opts, field: n) == .nil { lua.pop() } else { lua.rawSet(-2, field: n) }
        }
    }

    static func push(_ lua: Lua, job: ARQJob, size: Int32) {
        lua.newTable(hashCount: size)
        lua.push(job.function); lua.rawSet(-2, field: "function")
        push(lua, .tuple(job.args)); lua.rawSet(-2, field: "args")
        push(lua, .dict(job.kwargs)); lua.rawSet(-2, field: "kwargs")
        if let t = job.jobTry { lua.push(t) } else { lua.pushNull() }
        lua.rawSet(-2, field: "job_try")
        lua.push(job.enqueueTimeMs); lua.rawSet(-2, field: "enqueue_time_ms")
    }

    static func push(_ lua: Lua, result r: ARQResult) {
        push(lua, job: r.job, size: 14)
        lua.push(r.success); lua.rawSet(-2, field: "success")
        push(lua, r.result); lua.rawSet(-2, field: "result")
        lua.push(r.startTimeMs); lua.rawSet(-2, field: "start_time_ms")
        lua.push(r.finishTimeMs); lua.rawSet(-2, field: "finish_time_ms")
        if let q = r.queueName { lua.push(q); lua.rawSet(-2, field: "queue_name") }
        if let id = r.jobId { lua.push(id); lua.rawSet(-2, field: "job_id") }
        if let e = r.errorSummary { lua.push(e); lua.rawSet(-2, field: "error") }
    }

    /// Pushes a decoded value (depth is bounded by the decoder's limits).
    static func push(_ lua: Lua, _ v: PickleValue) {
        _ = lua.ensureStack(8)
        switch v {
        case .none: lua.pushNull()
        case .bool(let b): lua.push(b)
        case .int(let i): lua.push(i)
        case .bigInt(let b):
            lua.newTable(hashCount: 1)
            lua.push(PickleInt.decimal(b)); lua.rawSet(-2, field: "digits")
            lua.setMetatable(named: JSONModule.bignumType)
        case .float(let d): lua.push(d)
        case .str(let b): lua.push(bytes: b)
        case .bytes(let b), .bytearray(let b):
            lua.newTable(hashCount: 1)
            lua.push(bytes: b); lua.rawSet(-2, field: "value")
            lua.setMetatable(named: bytesType)
        case .list(let items), .tuple(let items), .set(let items), .frozenset(let items):
            lua.newTable(arrayCount: Int32(clamping: items.count))
            for (k, x) in items.enumerated() {
                push(lua, x)
                lua.rawSet(-2, index: Int64(k + 1))
            }
            switch v {
            case .tuple: lua.setMetatable(named: tupleType)
            case .set, .frozenset: lua.setMetatable(named: setType)
            default: if items.isEmpty { lua.setMetatable(named: JSONModule.arrayMarker) }
            }
        case .dict(let entries):
            lua.newTable(hashCount: Int32(clamping: entries.count))
            for e in entries {
                if case .float(let d) = e.key, d.isNaN { continue }   // not a Lua key
                push(lua, e.key)
                push(lua, e.value)
                lua.rawSet(-3)
            }
            if entries.isEmpty { lua.setMetatable(named: JSONModule.objectMarker) }
        case .global(let m, let n):
            lua.newTable(hashCount: 3)
            lua.push("\(m).\(n)"); lua.rawSet(-2, field: "class")
            lua.push(m); lua.rawSet(-2, field: "module")
            lua.push(n); lua.rawSet(-2, field: "name")
            lua.setMetatable(named: objectType)
        case .object(let o):
            lua.newTable(hashCount: 6)
            lua.push("\(o.module).\(o.name)"); lua.rawSet(-2, field: "class")
            lua.push(o.module); lua.rawSet(-2, field: "module")
            lua.push(o.name); lua.rawSet(-2, field: "name")
            push(lua, .tuple(o.args)); lua.rawSet(-2, field: "args")
            if let s = o.state { push(lua, s); lua.rawSet(-2, field: "state") }
            lua.push(o.summary); lua.rawSet(-2, field: "message")
            lua.setMetatable(named: objectType)
        }
    }

    // MARK: encode

    /// arq.encode(value) -> bytes, or nil, err
    static let encode: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkAny(1)
            lua.top = 1
            let v: PickleValue
            do throws(PickleError) { v = try toValue(lua, 1) } catch { return fail(lua, error) }
            let bytes: [UInt8]
            do throws(PickleError) { bytes = try PickleCodec.encode(v) } catch { return fail(lua, error) }
            lua.push(bytes: bytes)
            return 1
        }
    }

    /// arq.encode_job{function=, args=, kwargs=, job_try=, enqueue_time_ms=} -> bytes, or nil, err
    static let encodeJob: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            lua.top = 1
            let job = try jobFields(lua, 1)
            let bytes: [UInt8]
            do throws(PickleError) { bytes = try job.get().encode() } catch { return fail(lua, error) }
            lua.push(bytes: bytes)
            return 1
        }
    }

    /// arq.encode_result{job fields..., success=, result=, start_time_ms=, finish_time_ms=, queue_name=, job_id=}
    static let encodeResult: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            lua.top = 1
            let job: ARQJob
            let fields = try jobFields(lua, 1)
            do throws(PickleError) { job = try fields.get() } catch { return fail(lua, error) }
            guard lua.rawGet(1, field: "success") == .boolean else { throw .argument(1, "field 'success' must be a boolean") }
            let success = lua.toBool(-1); lua.pop()
            _ = lua.rawGet(1, field: "result")
            let result: PickleValue
            do throws(PickleError) { result = try toValue(lua, lua.top) } catch { return fail(lua, error) }
            lua.pop()
            let st = try intField(lua, 1, "start_time_ms", default: job.enqueueTimeMs)
            let ft = try intField(lua, 1, "finish_time_ms", default: st)
            let q = try stringField(lua, 1, "queue_name"), id = try stringField(lua, 1, "job_id")
            let r = ARQResult(job: job, success: success, result: result, startTimeMs: st, finishTimeMs: ft, queueName: q, jobId: id)
            let bytes: [UInt8]
            do throws(PickleError) { bytes = try r.encode() } catch { return fail(lua, error) }
            lua.push(bytes: bytes)
            return 1
        }
    }

    /// arq.retry_payload(result_bytes [, {job_try=, enqueue_time_ms=}]) -> job_bytes, job, or nil, err
    /// The job a failed result describes, for re-enqueueing: the function, args and kwargs exactly
    /// as pickled (no trip through Lua values), job_try reset (None) unless given, enqueued now.
    static let retryPayload: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let data = try lua.checkBytes(1)
            var jobTry: Int64?
            var et = Int64((TimeModule.wallSeconds() * 1000).rounded(.down))
            if lua.type(at: 2) == .table {
                if try lua.optionField(2, "job_try", .number, arg: 2) { jobTry = lua.toInteger(-1); lua.pop() }
                if try lua.optionField(2, "enqueue_time_ms", .number, arg: 2) { et = lua.toInteger(-1) ?? et; lua.pop() }
            } else if !lua.isNoneOrNil(2) { throw .type(2, "table") }
            var job: ARQJob
            do throws(PickleError) { job = try ARQResult(PickleCodec.decode(data)).job } catch { return fail(lua, error) }
            job.jobTry = jobTry
            job.enqueueTimeMs = et
            let bytes: [UInt8]
            do throws(PickleError) { bytes = try job.encode() } catch { return fail(lua, error) }
            lua.top = 2
            lua.push(bytes: bytes)
            push(lua, job: job, size: 6)
            return 2
        }
    }

    static func intField(_ lua: Lua, _ t: Int32, _ name: String, default def: Int64?) throws(LuaRaise) -> Int64 {
        let ty = lua.rawGet(t, field: name)
        defer { lua.pop() }
        if ty == .nil, let def { return def }
        guard ty == .number, let i = lua.toInteger(-1) else { throw .argument(t, "field '\(name)' must be an integer") }
        return i
    }

    static func stringField(_ lua: Lua, _ t: Int32, _ name: String) throws(LuaRaise) -> String? {
        let ty = lua.rawGet(t, field: name)
        defer { lua.pop() }
        if ty == .nil { return nil }
        guard ty == .string else { throw .argument(t, "field '\(name)' must be a string") }
        return lua.toString(-1)
    }

    static func jobFields(_ lua: Lua, _ t: Int32) throws(LuaRaise) -> Result<ARQJob, PickleError> {
        guard lua.rawGet(t, field: "function") == .string, let f = lua.toString(-1) else {
            throw .argument(t, "field 'function' must be a string")
        }
        lua.pop()
        var args: [PickleValue] = [], kwargs: [PickleEntry] = []
        do throws(PickleError) {
            if lua.rawGet(t, field: "args") != .nil {
                guard lua.type(at: -1) == .table else { throw PickleError(.unencodable, "field 'args' must be a table") }
                let v = try toValue(lua, lua.top)
                switch v {
                case .list(let a), .tuple(let a): args = a
                case .dict(let d) where d.isEmpty: args = []
                default: throw PickleError(.unencodable, "field 'args' must be a sequence")
                }
            }
            lua.pop()
            if lua.rawGet(t, field: "kwargs") != .nil {
                guard lua.type(at: -1) == .table else { throw PickleError(.unencodable, "field 'kwargs' must be a table") }
                let v = try toValue(lua, lua.top, emptyIsDict: true)
                guard case .dict(let d) = v else { throw PickleError(.unencodable, "field 'kwargs' must be a table of names") }
                kwargs = d
            }
            lua.pop()
        } catch {
            lua.top = t
            return .failure(error)
        }
        var jobTry: Int64?
        switch lua.rawGet(t, field: "job_try") {
        case .nil: break
        case .number: jobTry = lua.toInteger(-1)
        default: if !lua.vm.isNull(lua, -1) { throw .argument(t, "field 'job_try' must be an integer") }
        }
        lua.pop()
        let et = try intField(lua, t, "enqueue_time_ms", default: Int64((TimeModule.wallSeconds() * 1000).rounded(.down)))
        return .success(ARQJob(function: f, args: args, kwargs: kwargs, jobTry: jobTry, enqueueTimeMs: et))
    }

    /// A Lua value as a Python value (tables nested at most 200 deep: a cycle is refused there).
    static func toValue(_ lua: Lua, _ i: Int32, depth: Int = 0, emptyIsDict: Bool = true) throws(PickleError) -> PickleValue {
        let i = lua.absIndex(i)
        switch lua.type(at: i) {
        case .nil, .none: return .none
        case .boolean: return .bool(lua.toBool(i))
        case .number:
            if lua.isInteger(i) { return .int(lua.toInteger(i)!) }
            return .float(lua.toNumber(i)!)
        case .string:
            let b = lua.toBytes(i)!
            guard UTF8Validation.isValid(b) else { throw PickleError(.unencodable, "a string that is not valid UTF-8 (use arq.bytes for binary data)") }
            return .str(Array(b))
        case .userdata where lua.vm.isNull(lua, i):
            return .none
        case .table:
            guard depth < 200 else { throw PickleError(.unencodable, "tables nested deeper than 200 levels (a cycle?)") }
            guard lua.ensureStack(6) else { throw PickleError(.unencodable, "out of Lua stack") }
            let mt = [tupleType, bytesType, setType, objectType, JSONModule.bignumType,
                      JSONModule.arrayMarker, JSONModule.objectMarker].first { lua.hasMetatable(i, named: $0) } ?? ""
            switch mt {
            case bytesType:
                _ = lua.rawGet(i, field: "value")
                defer { lua.pop() }
                guard let b = lua.toByteArray(-1) else { throw PickleError(.unencodable, "arq.bytes without a value") }
                return .bytes(b)
            case JSONModule.bignumType:
                _ = lua.rawGet(i, field: "digits")
                defer { lua.pop() }
                guard let d = lua.toString(-1), let v = PickleInt.parse(decimal: d) else { throw PickleError(.unencodable, "a bignum that is not an integer") }
                return v
            case objectType:
                throw PickleError(.unencodable, "cannot write a Python object (an exception read from a result)")
            default: break
            }
            let n = lua.rawLength(i)
            var count = 0
            // no finalizer may change a table under lua_next
            return try lua.withCollectorStopped { () throws(PickleError) -> PickleValue in
                lua.pushNil()
                while lua.next(i) { count += 1; lua.pop() }
                let sequence = mt == tupleType || mt == setType || mt == JSONModule.arrayMarker
                    || (mt != JSONModule.objectMarker && n > 0 && count == n)
                if sequence || (count == 0 && !emptyIsDict) {
                    guard count == n else { throw PickleError(.unencodable, "a tuple, set or array with keys other than 1..n") }
                    var items: [PickleValue] = []
                    items.reserveCapacity(n)
                    for k in 0..<n {
                        _ = lua.rawGet(i, index: Int64(k + 1))
                        let x = try toValue(lua, lua.top, depth: depth + 1)
                        lua.pop()
                        items.append(x)
                    }
                    if mt == tupleType { return .tuple(items) }
                    if mt == setType { return .set(items) }
                    return .list(items)
                }
                var entries: [PickleEntry] = []
                lua.pushNil()
                while lua.next(i) {
                    let k: PickleValue, v: PickleValue
                    do throws(PickleError) {
                        k = try toValue(lua, -2, depth: depth + 1)
                        v = try toValue(lua, -1, depth: depth + 1)
                    } catch {
                        lua.pop(2)
                        throw error
                    }
                    entries.append(PickleEntry(k, v))
                    lua.pop()
                }
                // a stable order: string keys sorted, then the others
                entries.sort { a, b in
                    switch (a.key, b.key) {
                    case (.str(let x), .str(let y)): return x.lexicographicallyPrecedes(y)
                    case (.str, _): return true
                    case (.int(let x), .int(let y)): return x < y
                    default: return false
                    }
                }
                return .dict(entries)
            }
        default:
            throw PickleError(.unencodable, "cannot write a Lua \(lua.typeName(at: i))")
        }
    }

    // MARK: markers

    /// arq.bytes(s) -> a bytes value
    static let makeBytes: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let b = try lua.checkBytes(1)
            lua.newTable(hashCount: 1)
            lua.push(bytes: b); lua.rawSet(-2, field: "value")
            lua.setMetatable(named: bytesType)
            return 1
        }
    }

    /// arq.tuple{...} -> the table, marked as a tuple
    static let makeTuple: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            if lua.isNoneOrNil(1) { lua.top = 0; lua.newTable() } else { try lua.checkTable(1); lua.top = 1 }
            lua.setMetatable(named: tupleType)
            return 1
        }
    }

    static func hasMetatable(_ lua: Lua, _ i: Int32, _ name: String) -> Bool {
        lua.type(at: i) == .table && lua.hasMetatable(i, named: name)
    }

    static let isBytes: LuaFunction = { L in
        let lua = Lua(L!); lua.push(hasMetatable(lua, 1, bytesType)); return 1
    }
    static let isTuple: LuaFunction = { L in
        let lua = Lua(L!); lua.push(hasMetatable(lua, 1, tupleType)); return 1
    }

    static let bytesToString: LuaFunction = { L in
        let lua = Lua(L!)
        if lua.type(at: 1) != .table || lua.rawGet(1, field: "value") != .string { lua.push("bytes") }
        return 1
    }
    static let bytesLength: LuaFunction = { L in
        let lua = Lua(L!)
        if lua.type(at: 1) == .table, lua.rawGet(1, field: "value") == .string { lua.push(lua.rawLength(-1)) } else { lua.push(0) }
        return 1
    }
    static let objectToString: LuaFunction = { L in
        let lua = Lua(L!)
        if lua.type(at: 1) != .table || lua.rawGet(1, field: "message") != .string {
            lua.top = 1
            if lua.type(at: 1) != .table || lua.rawGet(1, field: "class") != .string { lua.push("object") }
        }
        return 1
    }
}
