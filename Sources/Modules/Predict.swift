import LuaRuntime
import Predict
import Synchronization

/// `opsh.predict`: the load predictor (Sources/Predict) as Lua sees it. `predict.new(opts)`
/// makes one, `predict.load(path)` reads a saved one; a predictor takes samples
/// (`:observe{t=, requests=, latency_ms=, errors=, cpu=, memory=}`), forecasts the load at a
/// horizon in seconds, trains on demand or on its own triggers, reports its held-out accuracy,
/// and saves itself atomically (refused under --dry-run).
public enum PredictModule {
    static let predictorType = "opsh.predict.predictor"

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: predictorType, methods: [
            ("observe", observe), ("predict", predict), ("train", train), ("accuracy", accuracy), ("save", save),
        ]))
        lua.newModule([("new", new), ("load", load)])
        return 1
    }

    /// The predictor behind a Lua handle.
    final class Handle: LuaClosable {
        var predictor: LoadPredictor
        init(_ p: LoadPredictor) {
            predictor = p
            PredictModule.live.withLock { list in
                list.removeAll { $0.handle == nil }
                list.append(Weak(handle: self))
            }
        }
        func close() {}
    }

    struct Weak: @unchecked Sendable { weak var handle: Handle? }
    /// Every predictor of the process, for opsh.pool.metrics() (held weakly).
    static let live = Mutex<[Weak]>([])

    /// The Prometheus text of every live predictor: the pools' (labelled pool=NAME) and the
    /// scripts' (predictor="1", "2", ... in the order they were made); empty with none.
    static func metricsText(pools: [(String, LoadPredictor)]) -> String {
        let handles = live.withLock { $0.compactMap(\.handle) }
        var all = pools.map { (labels: [("pool", $0.0)], predictor: $0.1) }
        all += handles.enumerated().map { (labels: [("predictor", String($0.offset + 1))], predictor: $0.element.predictor) }
        return all.isEmpty ? "" : LoadPredictor.prometheusText(all)
    }

    static func number(_ v: LuaValue) -> Double? {
        switch v { case .integer(let i): return Double(i); case .number(let d): return d; default: return nil }
    }

    /// A table of string keys, each one of `allowed`; an unknown key is an error naming it and
    /// the keys that exist.
    static func fields(_ lua: Lua, _ i: Int32, allowed: [String], what: String) throws(LuaRaise) -> [String: LuaValue] {
        let o = try lua.options(i, known: nil)
        for k in o.keys.sorted() where !allowed.contains(k) {
            throw .argument(i, "unknown \(what) '\(k)' (\(what)s: \(allowed.joined(separator: ", ")))")
        }
        return o
    }

    /// predict.new([opts]) -> predictor. opts: interval, horizons, history, capacity,
    /// latency_threshold_ms, retrain_every, accuracy_window, min_samples, auto_train.
    static let new: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try fields(lua, 1, allowed: PredictorConfig.optionNames, what: "option")
            var c = PredictorConfig()
            func num(_ k: String) throws(LuaRaise) -> Double? {
                guard let v = o[k] else { return nil }
                guard let d = number(v) else { throw .argument(1, "option '\(k)' must be a number") }
                return d
            }
            func whole(_ k: String) throws(LuaRaise) -> Int? {
                guard let d = try num(k) else { return nil }
                guard d.isFinite, d == d.rounded(), abs(d) < 1e15 else { throw .argument(1, "option '\(k)' must be a whole number, got \(d)") }
                return Int(d)
            }
            if let v = try num("interval") { c.interval = v }
            if let v = try num("capacity") { c.capacity = v }
            if let v = try num("latency_threshold_ms") { c.latencyThresholdMs = v }
            if let v = try whole("history") { c.history = v }
            if let v = try whole("retrain_every") { c.retrainEvery = v }
            if let v = try whole("accuracy_window") { c.accuracyWindow = v }
            if let v = try whole("min_samples") { c.minSamples = v }
            if let v = o["auto_train"] {
                guard case .boolean(let b) = v else { throw .argument(1, "option 'auto_train' must be a boolean") }
                c.autoTrain = b
            }
            if let v = o["horizons"] {
                let list: [LuaValue]
                switch v {
                case .array(let a): list = a
                case .map(let m) where m.isEmpty: list = []
                default: list = [v]
                }
                var hs: [Double] = []
                for x in list {
                    guard let d = number(x) else { throw .argument(1, "option 'horizons' must be a list of seconds") }
                    hs.append(d)
                }
                c.horizons = hs
            }
            do throws(PredictError) {
                lua.push(object: Handle(try LoadPredictor(c)), type: predictorType)
                return 1
            } catch { throw .argument(1, error.message) }
        }
    }

    static func handle(_ lua: Lua) throws(LuaRaise) -> Handle {
        try lua.checkObject(1, type: predictorType, as: Handle.self)
    }

    /// p:observe{t=, requests=, latency_ms=, errors=, cpu=, memory=} -> nil, or the training it
    /// caused. A NaN, infinite or out-of-range field is an error naming it.
    static let observe: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            try lua.checkTable(2)
            let o = try fields(lua, 2, allowed: Sample.fieldNames, what: "sample field")
            func num(_ k: String) throws(LuaRaise) -> Double? {
                guard let v = o[k] else { return nil }
                guard let d = number(v) else { throw .argument(2, "sample field '\(k)' must be a number") }
                return d
            }
            let s = Sample(t: try num("t"), requests: try num("requests"), latencyMs: try num("latency_ms"),
                           errors: try num("errors"), cpu: try num("cpu"), memory: try num("memory"))
            do throws(PredictError) {
                guard let report = try h.predictor.observe(s) else { lua.pushNil(); return 1 }
                lua.push(value: value(report))
                return 1
            } catch { throw .argument(2, error.message) }
        }
    }

    /// p:predict(horizon_seconds) -> {load, confidence, trend, horizon, steps, recommendation,
    /// feature_importance = {name = share}, trained}
    static let predict: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let horizon = try lua.checkNumber(2)
            do throws(PredictError) {
                lua.push(value: value(try h.predictor.predict(horizon: horizon)))
                return 1
            } catch { throw .argument(2, error.message) }
        }
    }

    static func value(_ f: Forecast) -> LuaValue {
        var importance: [LuaValue: LuaValue] = [:]
        for i in f.featureImportance { importance[.string(i.name)] = .number(i.weight) }
        return .map([
            .string("load"): .number(f.load), .string("confidence"): .number(f.confidence),
            .string("trend"): .string(f.trend.rawValue), .string("horizon"): .number(f.horizon),
            .string("steps"): .integer(Int64(f.steps)), .string("recommendation"): .string(f.recommendation.rawValue),
            .string("feature_importance"): .map(importance), .string("trained"): .boolean(f.trained),
        ])
    }

    /// p:train() -> {reason, samples, duration, accuracy}
    static let train: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            lua.push(value: value(h.predictor.train()))
            return 1
        }
    }

    /// p:accuracy() -> {{horizon, steps, trained, source, mae, mape, mase, count, model}, ...}
    static let accuracy: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            lua.push(value: .array(h.predictor.accuracy().map(value)))
            return 1
        }
    }

    /// p:save(path) -> true, or nil, err {code = "io"}; refused under --dry-run.
    static let save: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let h = try handle(lua)
            let path = try lua.checkString(2)
            if lua.dryRun { return lua.would("save the predictor to \(path)") }
            do throws(PredictError) {
                try h.predictor.save(to: path)
                lua.push(true)
                return 1
            } catch { return lua.failure(code: "io", message: error.message, fields: [("path", .string(path))]) }
        }
    }

    /// predict.load(path) -> predictor, or nil, err {code = "io" | "corrupt_model"}
    static let load: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do throws(PredictError) {
                lua.push(object: Handle(try LoadPredictor.load(from: path)), type: predictorType)
                return 1
            } catch {
                return lua.failure(code: error.kind == .io ? "io" : "corrupt_model", message: error.message, fields: [("path", .string(path))])
            }
        }
    }

    static func value(_ a: Accuracy) -> LuaValue {
        var m: [LuaValue: LuaValue] = [
            .string("horizon"): .number(a.horizonSeconds), .string("steps"): .integer(Int64(a.steps)),
            .string("trained"): .boolean(a.trained), .string("source"): .string(a.source.rawValue),
            .string("count"): .integer(Int64(a.count)),
        ]
        if let v = a.mae { m[.string("mae")] = .number(v) }
        if let v = a.mape { m[.string("mape")] = .number(v) }
        if let v = a.mase { m[.string("mase")] = .number(v) }
        if let v = a.model { m[.string("model")] = .string(v) }
        return .map(m)
    }

    static func value(_ r: TrainingReport) -> LuaValue {
        .map([.string("reason"): .string(r.reason.rawValue), .string("samples"): .integer(Int64(r.samples)),
              .string("duration"): .number(r.duration), .string("accuracy"): .array(r.accuracy.map(value))])
    }
}
