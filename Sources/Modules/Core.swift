import EventLoop
import LuaRuntime

/// `require "opsh"`: the core. null, spawn/all/sleep (tasks on the event loop),
/// dry_run, version.
public enum CoreModule {
    public static let name = "opsh"
    public static let version = "0.1.0"
    static let taskType = "opsh.task"

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: taskType, methods: [
            ("wait", taskWait), ("cancel", taskCancel), ("status", taskStatus),
        ]))
        lua.newModule([("spawn", spawn), ("all", all), ("sleep", sleep), ("is_null", isNull), ("error", error),
                       ("check_options", checkOptions)], extraFields: 3)
        lua.pushNull(); lua.rawSet(-2, field: "null")
        lua.push(version); lua.rawSet(-2, field: "version")
        lua.push(lua.dryRun); lua.rawSet(-2, field: "dry_run")
        return 1
    }

    /// opsh.spawn(fn, ...) or opsh.spawn({timeout = s}, fn, ...) -> task
    static let spawn: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var deadline: Deadline?
            var first: Int32 = 1
            if lua.type(at: 1) == .table {
                if try lua.optionField(1, "timeout", .number, arg: 1) {
                    let s = lua.toNumber(-1)!
                    lua.pop()
                    guard s >= 0 else { throw .argument(1, "field 'timeout' must not be negative") }
                    deadline = .after(seconds: s)
                }
                first = 2
            }
            try lua.checkFunction(first)
            let nargs = lua.top - first
            // move fn + args to the top is already the case: spawn pops them
            let task = lua.vm.scheduler.spawn(lua, nargs: nargs, deadline: deadline)
            lua.push(object: task, type: taskType)
            return 1
        }
    }

    /// task:wait([timeout]) -> results..., or raises the task's error value, or nil, err on timeout/cancel
    static let taskWait: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let task = try lua.checkObject(1, type: taskType, as: LuaTask.self)
            let timeout = try lua.optNumber(2, -1)
            let deadline: Deadline? = timeout >= 0 ? .after(seconds: timeout) : nil
            let scheduler = lua.vm.scheduler
            return lua.wait(.custom(start: { done in scheduler.whenFinished(task, done) }), deadline: deadline) { lua, outcome in
                if !task.isFinished {
                    return lua.failure(code: outcome == .timedOut ? "timeout" : "cancelled",
                                       message: outcome == .timedOut ? "task \(task.id) did not finish within \(timeout)s" : "wait cancelled")
                }
                return taskOutcome(lua, task)
            }
        }
    }

    static func taskOutcome(_ lua: Lua, _ task: LuaTask) -> Int32 {
        let scheduler = lua.vm.scheduler
        scheduler.observe(task)
        switch task.state {
        case .done:
            return scheduler.pushResults(of: task, to: lua)
        case .failed:
            return scheduler.raiseError(of: task, on: lua)
        case .timedOut:
            return lua.failure(code: "timeout", message: "task \(task.id): deadline exceeded")
        default:
            return lua.failure(code: "cancelled", message: "task \(task.id) was cancelled")
        }
    }

    static let taskCancel: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let task = try lua.checkObject(1, type: taskType, as: LuaTask.self)
            lua.vm.scheduler.cancel(task)
            return 0
        }
    }

    static let taskStatus: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let task = try lua.checkObject(1, type: taskType, as: LuaTask.self)
            let s: String
            switch task.state {
            case .ready: s = "ready"
            case .running: s = "running"
            case .waiting: s = "waiting"
            case .done: s = "done"
            case .failed: s = "failed"
            case .cancelled: s = "cancelled"
            case .timedOut: s = "timeout"
            }
            lua.push(s)
            return 1
        }
    }

    /// opsh.all({f1, f2, ...} [, {timeout = s}]) -> first result of each, in order.
    /// A function that raises cancels the others and its error value is raised here, unchanged.
    /// On timeout the unfinished ones are cancelled and all returns nil, err.
    static let all: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            var deadline: Deadline?
            if lua.type(at: 2) == .table, try lua.optionField(2, "timeout", .number, arg: 2) {
                deadline = .after(seconds: lua.toNumber(-1)!)
                lua.pop()
            } else if !lua.isNoneOrNil(2) && lua.type(at: 2) != .table {
                throw .type(2, "table")
            }
            let n = lua.rawLength(1)
            var tasks: [LuaTask] = []
            tasks.reserveCapacity(n)
            let scheduler = lua.vm.scheduler
            if n > 0 {
                for i in 1...n {
                    if lua.rawGet(1, index: Int64(i)) != .function {
                        lua.pop()
                        throw .argument(1, "element \(i) is not a function")
                    }
                    tasks.append(scheduler.spawn(lua, nargs: 0))
                }
            }
            var remaining = tasks.count
            var failed: LuaTask?
            let everything: NativeWait = .custom(start: { done in
                if remaining == 0 { done(.ready([])); return {} }
                var cancels: [() -> Void] = []
                for t in tasks {
                    cancels.append(scheduler.whenFinished(t) { _ in
                        remaining -= 1
                        if t.state == .failed && failed == nil { failed = t }
                        if remaining == 0 || failed != nil { done(.ready([])) }
                    })
                }
                return { for c in cancels { c() } }
            })
            // cancelled while waiting: the functions it started are cancelled with it
            let closer = lua.addCloseHandler { for t in tasks where !t.isFinished { scheduler.cancel(t) } }
            return lua.wait(everything, deadline: deadline) { lua, outcome in
                closer.release()
                // opsh.all answers for every function it ran: the first failure is raised here
                for t in tasks { scheduler.observe(t) }
                if let f = failed {
                    for t in tasks where !t.isFinished { scheduler.cancel(t) }
                    return scheduler.raiseError(of: f, on: lua)
                }
                if tasks.contains(where: { !$0.isFinished }) {
                    let pending = tasks.enumerated().filter { !$0.element.isFinished }.map { LuaValue.integer(Int64($0.offset + 1)) }
                    for t in tasks where !t.isFinished { scheduler.cancel(t, as: .timedOut) }
                    let why = outcome == .timedOut ? "timeout" : "cancelled"
                    return lua.failure(code: why, message: "opsh.all: \(pending.count) of \(tasks.count) functions did not finish",
                                       fields: [("pending", .array(pending))])
                }
                _ = lua.ensureStack(Int32(tasks.count) + 2)
                for t in tasks {
                    let k = scheduler.pushResults(of: t, to: lua)
                    if k == 0 { lua.pushNil() } else if k > 1 { lua.pop(k - 1) }
                }
                return Int32(tasks.count)
            }
        }
    }

    /// opsh.sleep(seconds)
    static let sleep: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let s = try lua.checkNumber(1)
            guard s >= 0, s.isFinite else { throw .argument(1, "seconds must be a finite number >= 0") }
            return lua.wait(.sleep, deadline: .after(seconds: s)) { lua, outcome in
                if outcome == .cancelled { return lua.failure(code: "cancelled", message: "sleep interrupted") }
                return 0
            }
        }
    }

    /// opsh.check_options(opts, known, fname) -> opts: raises "bad argument #1 to 'FNAME' (unknown
    /// option 'x' (options: ...))" for a key of `opts` not in the list `known`, as native modules
    /// do, so that a Lua module's misspelt option is never ignored silently (nil opts pass).
    static let checkOptions: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(2)
            let fname = try lua.checkString(3)
            if lua.isNoneOrNil(1) { lua.pushNil(); return 1 }
            guard lua.type(at: 1) == .table else {
                throw .message("bad argument #1 to '\(fname)' (table expected, got \(lua.typeName(at: 1)))")
            }
            guard case .array(let list)? = try? lua.value(at: 2, maxDepth: 2) else { throw .argument(2, "a list of option names") }
            let known = list.compactMap { $0.text }
            if let unknown = lua.unknownOptionKey(1, known) {
                throw .message("bad argument #1 to '\(fname)' (unknown option \(unknown) (options: \(known.sorted().joined(separator: ", "))))")
            }
            lua.pushValue(at: 1)
            return 1
        }
    }

    /// opsh.error(code, message [, fields]) -> the error value of the `nil, err` channel, the same
    /// the native modules return (err.code, err.message, the fields; prints as its message).
    /// The one constructor stdlib modules use.
    static let error: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let code = try lua.checkString(1)
            let message = try lua.checkString(2)
            let hasFields = !lua.isNoneOrNil(3)
            if hasFields { try lua.checkTable(3) }
            lua.pushError(code: code, message: message)
            if hasFields {
                let err = lua.top
                lua.withCollectorStopped {
                    lua.pushNil()
                    while lua.next(3) {   // key, value: the values as they are (a cause keeps its metatable)
                        lua.pushValue(at: -2)
                        lua.pushValue(at: -2)
                        lua.rawSet(err)
                        lua.pop()
                    }
                }
            }
            return 1
        }
    }

    static let isNull: LuaFunction = { L in
        let lua = Lua(L!)
        lua.push(lua.vm.isNull(lua, 1))
        return 1
    }
}
