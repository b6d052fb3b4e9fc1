import FileSystem

/// The saved form of a predictor: its configuration, the history it trains on, the state its
/// features run on, and its models, so a loaded predictor forecasts at once and retrains as the
/// saved one would have. The live accuracy windows are not saved: they start again (the holdout
/// accuracy of each model is kept).
///
/// Layout: "OPSHPRED", format version (u32), payload length (u64), payload, FNV-1a 64 of the
/// payload (u64); numbers little-endian. A file that is not one, is cut short, was changed, or is
/// of another version is refused with an error saying which.
extension LoadPredictor {
    static let magic = Array("OPSHPRED".utf8)
    static let formatVersion: UInt32 = 3
    /// Version 2 (before anchors) is still read: its models are ridge around the last value with
    /// the seasonal lags, which is what version 3 says with `Anchor.lastValue`.
    static let oldestReadable: UInt32 = 2

    /// The predictor as bytes (see the layout above).
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        let c = config
        w.double(c.interval); w.int(c.horizons.count); for h in c.horizons { w.double(h) }
        w.int(c.history); w.double(c.capacity); w.double(c.latencyThresholdMs); w.int(c.retrainEvery)
        w.int(c.accuracyWindow); w.int(c.minSamples); w.bool(c.autoTrain)
        for v in [factor.requests, factor.latencyMs, factor.errors, factor.cpu, factor.memory] { w.optional(v) }
        w.optional(t0)
        w.int(history.total)
        let slots = history.ordered()
        w.int(slots.count)
        for s in slots { w.double(s.0); w.float(s.1); w.float(s.2); w.float(s.3); w.bool(s.4) }
        w.int(openCount); w.double(openSum)
        w.bool(smoothing.started)
        for v in [smoothing.fast, smoothing.medium, smoothing.slow, smoothing.slowest] { w.double(v) }
        w.int(lags.count)
        w.int(models.count)
        for m in models {
            w.bool(m != nil)
            guard let m else { continue }
            w.double(m.fit.lambda); w.int(m.fit.anchor.rawValue); w.bool(m.fit.seasonalLags); w.double(m.fit.intercept); for v in m.fit.weights { w.double(v) }
            let e = m.holdout
            w.int(e.count); w.double(e.absoluteError); w.double(e.naiveAbsoluteError); w.double(e.percentageError); w.int(e.percentageCount)
            w.int(m.importance.count)
            for f in m.importance { w.string(f.name); w.double(f.weight) }
        }
        w.optional(trainedAtTotal.map(Double.init)); w.int(trainedCount); w.int(retrains)

        var out = Self.magic
        var head = ByteWriter()
        head.u32(Self.formatVersion); head.u64(UInt64(w.bytes.count))
        out += head.bytes
        out += w.bytes
        var tail = ByteWriter()
        tail.u64(fnv1a(w.bytes))
        out += tail.bytes
        return out
    }

    /// A predictor from `encoded()`'s bytes.
    public init(decoding bytes: [UInt8]) throws(PredictError) {
        func corrupt(_ why: String) -> PredictError { PredictError(.corruptModel, "not a usable saved predictor: \(why)") }
        guard bytes.count >= 8, Array(bytes[0..<8]) == Self.magic else { throw corrupt("it does not start with OPSHPRED (not a predictor file)") }
        guard bytes.count >= 20 else { throw corrupt("truncated (\(bytes.count) bytes, the header alone is 20)") }
        var r = ByteReader(bytes, from: 8)
        let version = try r.u32()
        guard version >= Self.oldestReadable && version <= Self.formatVersion else {
            throw corrupt("format version \(version), this opsh reads versions \(Self.oldestReadable) to \(Self.formatVersion)")
        }
        let length = try r.u64()
        guard UInt64(bytes.count) == 20 + length + 8 else {
            throw corrupt("truncated or padded (\(bytes.count) bytes, the header says \(20 + length + 8))")
        }
        let payload = Array(bytes[20..<(20 + Int(length))])
        var tr = ByteReader(bytes, from: 20 + Int(length))
        guard try tr.u64() == fnv1a(payload) else { throw corrupt("checksum mismatch (the file was changed or damaged)") }

        r = ByteReader(payload, from: 0)
        var c = PredictorConfig()
        c.interval = try r.double()
        c.horizons = try (0..<r.count(max: 1000)).map { _ throws(PredictError) in try r.double() }
        c.history = try r.int(); c.capacity = try r.double(); c.latencyThresholdMs = try r.double(); c.retrainEvery = try r.int()
        c.accuracyWindow = try r.int(); c.minSamples = try r.int(); c.autoTrain = try r.bool()
        do { try self.init(c) } catch { throw corrupt("its configuration is invalid (\(error.message))") }
        var f = LoadFactor(capacity: c.capacity, latencyThresholdMs: c.latencyThresholdMs)
        let known = try (0..<5).map { _ throws(PredictError) in try r.optional() }
        _ = f.update(Sample(requests: known[0], latencyMs: known[1], errors: known[2], cpu: known[3], memory: known[4]))
        factor = f
        t0 = try r.optional()
        let total = try r.int()
        let n = try r.count(max: c.history)
        guard n <= total else { throw corrupt("history of \(n) slots, more than the \(total) ever taken") }
        var slots: [(Double, Float, Float, Float, Bool)] = []
        slots.reserveCapacity(n)
        for _ in 0..<n { slots.append((try r.double(), try r.float(), try r.float(), try r.float(), try r.bool())) }
        history = History(capacity: c.history, total: total, slots: slots)
        openCount = try r.int(); openSum = try r.double()
        let started = try r.bool()
        smoothing = Features.Smoothing(fast: try r.double(), medium: try r.double(), slow: try r.double(), slowest: try r.double(), started: started)
        guard try r.int() == lags.count else { throw corrupt("made with another set of features") }
        guard try r.int() == steps.count else { throw corrupt("its models do not match its horizons") }
        for k in steps.indices {
            guard try r.bool() else { models[k] = nil; continue }
            let lambda = try r.double()
            var anchor = Anchor.lastValue, seasonalLags = true
            if version >= 3 {
                let anchorCode = try r.int()
                guard let a = Anchor(rawValue: anchorCode) else { throw corrupt("a model anchored on an unknown input (\(anchorCode))") }
                anchor = a
                seasonalLags = try r.bool()
            }
            let intercept = try r.double()
            let weights = try (0..<lags.count).map { _ throws(PredictError) in try r.double() }
            var e = ErrorSummary()
            e.count = try r.int(); e.absoluteError = try r.double(); e.naiveAbsoluteError = try r.double()
            e.percentageError = try r.double(); e.percentageCount = try r.int()
            let importance = try (0..<r.count(max: lags.count)).map { _ throws(PredictError) in
                FeatureImportance(name: try r.string(), weight: try r.double())
            }
            models[k] = HorizonModel(fit: LinearFit(weights: weights, intercept: intercept, lambda: lambda, anchor: anchor, seasonalLags: seasonalLags), holdout: e, importance: importance)
        }
        trainedAtTotal = try r.optional().map { Int($0) }
        trainedCount = try r.int(); retrains = try r.int()
        guard r.atEnd else { throw corrupt("\(payload.count - r.offset) bytes left over after the model") }
        if history.total > 0 { refreshCurrent() }
    }
}

func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func double(_ v: Double) { u64(v.bitPattern) }
    mutating func float(_ v: Float) { u32(v.bitPattern) }
    mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    mutating func optional(_ v: Double?) { bool(v != nil); double(v ?? 0) }
    mutating func string(_ s: String) { int(s.utf8.count); bytes += Array(s.utf8) }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset: Int
    init(_ bytes: [UInt8], from: Int) { self.bytes = bytes; offset = from }
    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ n: Int) throws(PredictError) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - offset >= n else {
            throw PredictError(.corruptModel, "not a usable saved predictor: truncated at byte \(offset)")
        }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    mutating func u32() throws(PredictError) -> UInt32 {
        var v: UInt32 = 0
        for (i, b) in try take(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }
    mutating func u64() throws(PredictError) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
    mutating func int() throws(PredictError) -> Int { Int(Int64(bitPattern: try u64())) }
    mutating func count(max: Int) throws(PredictError) -> Int {
        let n = try int()
        guard n >= 0, n <= max else { throw PredictError(.corruptModel, "not a usable saved predictor: a count of \(n) at byte \(offset - 8)") }
        return n
    }
    mutating func double() throws(PredictError) -> Double { Double(bitPattern: try u64()) }
    mutating func float() throws(PredictError) -> Float { Float(bitPattern: try u32()) }
    mutating func bool() throws(PredictError) -> Bool {
        let b = try take(1).first!
        guard b <= 1 else { throw PredictError(.corruptModel, "not a usable saved predictor: a flag of \(b) at byte \(offset - 1)") }
        return b == 1
    }
    mutating func optional() throws(PredictError) -> Double? {
        let present = try bool()
        let v = try double()
        return present ? v : nil
    }
    mutating func string() throws(PredictError) -> String {
        let n = try count(max: 256)
        return String(decoding: try take(n), as: UTF8.self)
    }
}

extension LoadPredictor {
    /// The largest file `load(from:)` reads (the longest history allowed is about 250 MB).
    public static let fileLimit = 512 << 20

    /// Writes `encoded()` to `path` atomically (FileSystem.writeAtomically: a reader sees the old
    /// file or the new one, never a part).
    public func save(to path: String) throws(PredictError) {
        do { try FileSystem.writeAtomically(path, encoded()) } catch {
            throw PredictError(.io, field: "path", error.message)
        }
    }

    /// A predictor saved by `save(to:)`; a corrupt, truncated or foreign file is refused with an
    /// error naming the file and what is wrong with it.
    public static func load(from path: String) throws(PredictError) -> LoadPredictor {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: fileLimit) } catch {
            throw PredictError(.io, field: "path", error.message)
        }
        do { return try LoadPredictor(decoding: bytes) } catch {
            throw PredictError(.corruptModel, field: "path", "\(path): \(error.message)")
        }
    }
}
