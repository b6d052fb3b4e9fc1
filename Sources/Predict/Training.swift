/// Why a model was trained.
public enum TrainingReason: String, Sendable {
    case onDemand = "on demand"
    case firstModel = "enough samples for a first model"
    case historyDoubled = "the history doubled since the last training"
    case newSamples = "retrain_every new samples"
    case horizonReady = "a horizon has enough samples for its first model"
    case maseAboveOne = "MASE above 1 on the last window"
}

/// What one training did.
public struct TrainingReport: Sendable, Equatable {
    public let reason: TrainingReason
    /// Slots trained on.
    public let samples: Int
    /// Seconds the training took.
    public let duration: Double
    /// The holdout accuracy of each configured horizon (untrained ones with `trained` false).
    public let accuracy: [Accuracy]
}

extension LoadPredictor {
    /// The ridge penalties tried, in units of each input's variance (infinity: the anchor alone).
    /// Fixed before any scoring; the choice among them, of the anchor and of whether the seasonal
    /// lags are inputs (`Candidate`) is made on a validation split inside the training rows,
    /// never on the holdout. Tried largest first, and a later candidate must do strictly better:
    /// ties go to the simpler model.
    static let lambdas: [Double] = [10, 1, 0.1, 1e-2, 1e-3, 1e-4]
    static let minimumFitRows = 30, minimumHoldout = 20

    /// The rows of one horizon: with R = slots − steps forecast origins, the holdout is the last
    /// fifth of them (at least 20), the fit rows end `steps` slots before it so that no fitted
    /// target falls in the holdout, and the fit rows are split the same way for choosing λ.
    struct Split {
        let rows: Int, holdoutStart: Int, fitEnd: Int, validationStart: Int, innerFitEnd: Int
        init?(count n: Int, steps h: Int) {
            rows = n - h
            holdoutStart = rows - max(LoadPredictor.minimumHoldout, rows / 5)
            fitEnd = holdoutStart - h
            guard fitEnd >= LoadPredictor.minimumFitRows else { return nil }
            validationStart = fitEnd - max(10, fitEnd / 5)
            innerFitEnd = validationStart - h
        }
        var cuts: [Int] { [0, max(0, innerFitEnd), fitEnd, rows] }
    }

    /// The trigger that is due, if any (checked as each slot closes).
    func trainingDue() -> TrainingReason? {
        let n = history.count
        guard let at = trainedAtTotal else { return n >= config.minSamples ? .firstModel : nil }
        let since = history.total - at
        if since >= config.retrainEvery { return .newSamples }
        if trainedCount < config.retrainEvery && n >= 2 * trainedCount { return .historyDoubled }
        for k in steps.indices where models[k] == nil {
            if Split(count: n, steps: steps[k]) != nil && Split(count: trainedCount, steps: steps[k]) == nil { return .horizonReady }
        }
        // MASE on a full window, looked at a dozen times per window
        if since % max(1, config.accuracyWindow / 12) == 0 {
            for k in steps.indices where models[k] != nil && live[k].window.isFull {
                if let mase = live[k].window.summary.mase, mase > 1 { return .maseAboveOne }
            }
        }
        return nil
    }

    /// Trains a model for every horizon the history is long enough for, on everything kept.
    @discardableResult
    public mutating func train() -> TrainingReport { train(reason: .onDemand) }

    @discardableResult
    mutating func train(reason: TrainingReason) -> TrainingReport {
        let started = Self.monotonic()
        let n = history.count, p = lags.count, base = history.oldest
        // the design matrix, row by row as the EWMAs run over the history
        var x = [Double](repeating: 0, count: n * p)
        var y = [Double](repeating: 0, count: n)
        var measured = [Bool](repeating: true, count: n)
        var s = Features.Smoothing()
        let h = history, lags = lags
        x.withUnsafeMutableBufferPointer { xb in
            for r in 0..<n {
                let i = base + r
                y[r] = h.loadAt(i)
                measured[r] = !h.isFilled(i)
                s = s.adding(y[r])
                Features.write(h, i, s, lags, time: time(ofSlot: i), into: xb.baseAddress! + r * p)
            }
        }
        let splits = steps.map { Split(count: n, steps: $0) }

        // prefix sums of the rows, taken at every cut any split needs
        let candidates = steps.map { Candidate.all(lags, steps: $0) }
        var cutSet = Set<Int>()
        for sp in splits { if let sp { cutSet.formUnion(sp.cuts) } }
        for cs in candidates { for m in cs where m.start < n { cutSet.insert(m.start) } }
        let cuts = cutSet.sorted()
        var rowPrefix: [Int: RowSums] = [:]
        var targetPrefix: [[Int: TargetSums]] = Array(repeating: [:], count: steps.count)
        var rows = 0.0
        var sums = [Double](repeating: 0, count: p)
        var gram = [Double](repeating: 0, count: p * p)
        var ts = steps.map { _ in TargetSums(p) }
        x.withUnsafeBufferPointer { xb in
            gram.withUnsafeMutableBufferPointer { g in
                var next = 0
                for r in 0...n {
                    while next < cuts.count && cuts[next] == r {
                        var snapshot = RowSums(p)
                        snapshot.rows = rows; snapshot.sums = sums; snapshot.gram = Array(g)
                        rowPrefix[r] = snapshot
                        for k in steps.indices { targetPrefix[k][r] = ts[k] }
                        next += 1
                    }
                    if r == n || next == cuts.count { break }
                    let row = xb.baseAddress! + r * p
                    for j in 0..<p {
                        let xj = row[j]
                        sums[j] += xj
                        // through a pointer to the row of the Gram matrix: no index arithmetic
                        // to check, so the loop vectorises
                        let gj = g.baseAddress! + j * p
                        for k in j..<p { gj[k] += xj * row[k] }
                    }
                    rows += 1
                    for k in steps.indices where r < n - steps[k] {
                        let d = y[r + steps[k]] - y[r]
                        ts[k].sum += d
                        ts[k].cross.withUnsafeMutableBufferPointer { c in
                            let cp = c.baseAddress!
                            for j in 0..<p { cp[j] += d * row[j] }
                        }
                    }
                }
            }
        }

        func fit(_ k: Int, _ a: Int, _ b: Int, _ m: Candidate) -> LinearFit? {
            guard let rb = rowPrefix[b], let ra = rowPrefix[a], let tb = targetPrefix[k][b], let ta = targetPrefix[k][a] else { return nil }
            return Ridge.fit(rb - ra, tb - ta, lambda: m.lambda, anchor: m.anchor, column: m.column, inputs: m.inputs)
        }
        func score(_ f: LinearFit, _ k: Int, _ a: Int, _ b: Int) -> ErrorSummary {
            var e = ErrorSummary()
            x.withUnsafeBufferPointer { xb in
                for r in a..<b where measured[r + steps[k]] {
                    let forecast = Self.clamp(y[r] + f.predict(xb.baseAddress! + r * p))
                    e.add(predicted: forecast, naive: y[r], actual: y[r + steps[k]])
                }
            }
            return e
        }

        for k in steps.indices {
            guard let sp = splits[k] else { models[k] = nil; continue }
            // the best on the validation rows of a fit on the rows before them (those where its
            // inputs are measured)
            var chosen = Candidate(anchor: .lastValue, column: nil, inputs: p, lambda: 0.1, start: 0)
            if sp.innerFitEnd >= Self.minimumFitRows {
                var best = Double.infinity
                for m in candidates[k] where sp.innerFitEnd - m.start >= Self.minimumFitRows {
                    guard let f = fit(k, m.start, sp.innerFitEnd, m), let mae = score(f, k, sp.validationStart, sp.fitEnd).mae else { continue }
                    if mae < best { best = mae; chosen = m }
                }
            }
            guard let heldOut = fit(k, chosen.start, sp.fitEnd, chosen), let final = fit(k, chosen.start, sp.rows, chosen) else { models[k] = nil; continue }
            let holdout = score(heldOut, k, sp.holdoutStart, sp.rows)
            models[k] = HorizonModel(fit: final, holdout: holdout, importance: Self.importance(final, rowPrefix[sp.rows]! - rowPrefix[0]!, groups: lags.groups))
        }
        trainedAtTotal = history.total
        trainedCount = n
        retrains += 1
        live = steps.map { LiveScore(steps: $0, window: config.accuracyWindow) }
        let report = TrainingReport(reason: reason, samples: n, duration: Self.monotonic() - started, accuracy: accuracy())
        lastTraining = report
        return report
    }

    /// One model a horizon may get: its anchor (and the anchor's input), the inputs it regresses
    /// on (the first `inputs` columns: all, or the base features without the seasonal lags), and
    /// the ridge penalty; it is fitted on the rows from `start` on (`SeasonalLags.firstRow`).
    struct Candidate {
        let anchor: Anchor, column: Int?, inputs: Int, lambda: Double, start: Int

        /// Simplest first: each anchor alone, then ridge around each anchor, without the seasonal
        /// lags then with them, each penalty largest first. Anchors whose lag does not exist at
        /// this interval are left out.
        static func all(_ lags: SeasonalLags, steps h: Int) -> [Candidate] {
            let anchors = Anchor.allCases.compactMap { a -> (Anchor, Int?)? in
                let c = lags.column(of: a, steps: h)
                return a == .lastValue || c != nil ? (a, c) : nil
            }
            var out = anchors.map { Candidate(anchor: $0.0, column: $0.1, inputs: lags.count, lambda: .infinity, start: 0) }
            let inputSets = lags.count > Features.baseCount ? [Features.baseCount, lags.count] : [lags.count]
            for (a, c) in anchors {
                for q in inputSets {
                    let start = lags.firstRow(inputs: q, column: c)
                    for l in LoadPredictor.lambdas { out.append(Candidate(anchor: a, column: c, inputs: q, lambda: l, start: start)) }
                }
            }
            return out
        }
    }

    /// |weight| × standard deviation per input, summed per group, as shares of the total.
    static func importance(_ f: LinearFit, _ rows: RowSums, groups: [(name: String, range: Range<Int>)]) -> [FeatureImportance] {
        let p = f.weights.count
        var raw = [Double](repeating: 0, count: p)
        for j in 0..<p where rows.rows > 0 {
            let mean = rows.sums[j] / rows.rows
            let v = max(0, rows.gram[j * p + j] / rows.rows - mean * mean)
            raw[j] = abs(f.weights[j]) * v.squareRoot()
        }
        let total = raw.reduce(0, +)
        guard total > 0 else { return [] }
        return groups.map { g in
            FeatureImportance(name: g.name, weight: raw[g.range].reduce(0, +) / total)
        }.sorted { $0.weight > $1.weight }
    }
}
