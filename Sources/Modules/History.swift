import History
import LuaRuntime
import Sys
import Store

/// `opsh._history`: the resource history file (Sources/History) as a Lua object, and the linear
/// fit. stdlib/opsh/history.lua is what scripts use: it finds the file under the state
/// directory and reads Prometheus instead when configured.
public enum HistoryModule {
    static let handleType = "opsh.history.store"

    final class Handle: LuaClosable, CustomStringConvertible {
        let history: History
        init(_ history: History) { self.history = history }
        func close() { history.close() }
        var description: String { history.path }
    }

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: handleType, methods: [
            ("record", record), ("samples", samples), ("metrics", metrics), ("prune", prune),
        ]))
        lua.newModule([("open", openStore), ("fit", fit)])
        return 1
    }

    static func failure(_ lua: Lua, _ e: StoreError) -> Int32 { lua.failure(code: "store", message: e.message) }

    static func number(_ v: LuaValue?) -> Double? {
        switch v {
        case .integer(let i)?: Double(i)
        case .number(let d)?: d
        default: nil
        }
    }

    /// _history.open(path) -> store, or nil, err (the directory must exist; under --dry-run a
    /// missing file is not created)
    static let openStore: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do throws(StoreError) {
                lua.push(object: Handle(try History(path: path, create: !lua.dryRun)), type: handleType)
                return 1
            } catch { return failure(lua, error) }
        }
    }

    /// store:record(kind, {metric = number, ...} [, time]) -> count stored. Under --dry-run
    /// nothing is written.
    static let record: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try lua.checkObject(1, type: handleType, as: Handle.self)
            let kind = try lua.checkString(2)
            try lua.checkTable(3)
            guard case .map(let m) = (try? lua.value(at: 3, maxDepth: 1)) ?? .map([:]) else { throw .argument(3, "a table of metric = number expected") }
            var values: [(metric: String, value: Double)] = []
            for (k, v) in m {
                guard let name = k.text, let x = number(v) else { throw .argument(3, "a table of metric = number expected") }
                values.append((name, x))
            }
            values.sort { $0.metric < $1.metric }
            let time = lua.isNoneOrNil(4) ? SystemClock.wall() : try lua.checkNumber(4)
            if lua.dryRun { return lua.would("record \(values.count) \(kind) sample(s) in \(h.history.path)") }
            do {
                try h.history.record(kind: kind, values: values, at: time)
                lua.push(values.count)
                return 1
            } catch let e as StoreError { return failure(lua, e) } catch {
                return lua.failure(code: "store", message: "\(h.history.path): \(error)")
            }
        }
    }

    /// store:samples(metric [, since [, until]]) -> {{time, value}, ...} oldest first (Unix times)
    static let samples: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try lua.checkObject(1, type: handleType, as: Handle.self)
            let metric = try lua.checkString(2)
            let since = try lua.optNumber(3, -.infinity), until = try lua.optNumber(4, .infinity)
            do throws(StoreError) {
                let list = try h.history.samples(metric: metric, since: since, until: until)
                lua.push(value: .array(list.map { .array([.number($0.time), .number($0.value)]) }))
                return 1
            } catch { return failure(lua, error) }
        }
    }

    /// store:metrics([prefix]) -> {name, ...}
    static let metrics: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try lua.checkObject(1, type: handleType, as: Handle.self)
            let prefix = lua.isNoneOrNil(2) ? "" : try lua.checkString(2)
            do throws(StoreError) {
                lua.push(value: .array(try h.history.metrics(prefix: prefix).map { .string($0) }))
                return 1
            } catch { return failure(lua, error) }
        }
    }

    /// store:prune(before) -> count deleted (nothing under --dry-run)
    static let prune: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try lua.checkObject(1, type: handleType, as: Handle.self)
            let before = try lua.checkNumber(2)
            if lua.dryRun { return lua.would("delete history samples older than \(before) from \(h.history.path)") }
            do throws(StoreError) {
                lua.push(try h.history.prune(before: before))
                return 1
            } catch { return failure(lua, error) }
        }
    }

    /// _history.fit({{time, value}, ...}) -> {slope, per_day, intercept, r2, count, from, to}, or nil
    /// (fewer than two points, or all at one time)
    static let fit: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            guard case .array(let list) = (try? lua.value(at: 1, maxDepth: 2)) ?? .array([]) else {
                lua.pushNil(); return 1
            }
            var points: [(time: Double, value: Double)] = []
            for p in list {
                guard case .array(let pair) = p, pair.count >= 2, let t = number(pair[0]), let v = number(pair[1]) else {
                    throw .argument(1, "a list of {time, value} pairs expected")
                }
                if t.isFinite && v.isFinite { points.append((t, v)) }
            }
            guard let f = LinearFit(points) else { lua.pushNil(); return 1 }
            lua.push(value: .map([.string("slope"): .number(f.slope), .string("per_day"): .number(f.slope * 86400),
                                  .string("intercept"): .number(f.intercept), .string("r2"): .number(f.r2),
                                  .string("count"): .integer(Int64(f.count)), .string("from"): .number(f.from),
                                  .string("to"): .number(f.to)]))
            return 1
        }
    }
}
