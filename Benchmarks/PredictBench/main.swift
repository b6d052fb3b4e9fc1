// predict-bench: the load predictor (Sources/Predict), measured; driven by
// Benchmarks/predict/run.sh, see BENCHMARKS.md "Load predictor".
//
//   predict-bench walk TRACE.csv INTERVAL H1 H2 FROM OUT.csv
//       Feeds every sample of TRACE.csv ("t,requests") to a predictor with the default
//       configuration but for `interval` and horizons H1, H2 (seconds), training on its own
//       triggers as it goes; from sample FROM on, writes "i,load,forecast_h1,forecast_h2" for
//       each sample i (the forecasts made after sample i was taken in). Prints the trainings.
//   predict-bench count predict|train N
//       N predictions or N trainings on 1,000 samples, silent (for callgrind).
//   predict-bench speed
//       The cost of one predict() on a trained predictor (ns, best of 7 runs of 1,000,000),
//       of one observe(), and of train() on 1,000 samples (ms, median of 21).
import Glibc
import Predict

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// This thread's CPU time (on a shared machine, wall time also counts others' turns).
func cpuNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func fail(_ msg: String) -> Never {
    let line = Array("predict-bench: \(msg)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func readTrace(_ path: String) -> [(Double, Double)] {
    guard let f = fopen(path, "r") else { fail("cannot open \(path)") }
    defer { fclose(f) }
    var out: [(Double, Double)] = []
    var line: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    while getline(&line, &cap, f) > 0 {
        let s = String(cString: line!)
        let parts = s.split(separator: ",")
        guard parts.count == 2, let t = Double(parts[0]), let r = Double(parts[1].trimmingPrefixAndSuffixNewline) else { continue }
        out.append((t, r))
    }
    free(line)
    return out
}

extension Substring {
    var trimmingPrefixAndSuffixNewline: Substring {
        var s = self
        while let l = s.last, l == "\n" || l == "\r" { s = s.dropLast() }
        return s
    }
}

func walk(_ args: [String]) {
    guard args.count == 6, let interval = Double(args[1]), let h1 = Double(args[2]), let h2 = Double(args[3]), let from = Int(args[4]) else {
        fail("usage: walk TRACE.csv INTERVAL H1 H2 FROM OUT.csv")
    }
    let trace = readTrace(args[0])
    var c = PredictorConfig()
    c.interval = interval
    c.horizons = [h1, h2]
    var p: LoadPredictor
    do { p = try LoadPredictor(c) } catch { fail("\(error)") }
    guard let out = fopen(args[5], "w") else { fail("cannot write \(args[5])") }
    fputs("i,load,forecast_h1,forecast_h2\n", out)
    var trainings = 0, trainingSeconds = 0.0
    for (i, (t, r)) in trace.enumerated() {
        do {
            if let report = try p.observe(Sample(t: t, requests: r)) {
                trainings += 1
                trainingSeconds += report.duration
                if trainings <= 3 || report.reason != .newSamples {
                    let models = report.accuracy.map { "\(Int($0.horizonSeconds)) s: \($0.model ?? "none")" }.joined(separator: "; ")
                    print("sample \(i): trained (\(report.reason.rawValue)) on \(report.samples) in \(Int(report.duration * 1000)) ms; \(models)")
                }
            }
            if i >= from {
                let a = try p.predict(horizon: h1), b = try p.predict(horizon: h2)
                fputs("\(i),\(p.currentLoad!),\(a.load),\(b.load)\n", out)
            }
        } catch { fail("sample \(i): \(error)") }
    }
    fclose(out)
    print("trainings: \(trainings), \(Int(trainingSeconds * 1000)) ms in all")
    for a in p.accuracy() {
        print("own accuracy at \(a.horizonSeconds) s (\(a.source.rawValue), \(a.count) forecasts): MAE \(a.mae ?? .nan) MAPE \(a.mape ?? .nan) MASE \(a.mase ?? .nan); \(a.model ?? "untrained")")
    }
}

/// A predictor at horizons 25 s and 900 s that has taken 1,000 samples (5 s apart) and trained.
func trainedPredictor() -> LoadPredictor {
    var c = PredictorConfig()
    c.horizons = [25, 900]
    c.autoTrain = false
    var p = try! LoadPredictor(c)
    for i in 0..<1000 {
        let t = 1_700_438_400.0 + Double(i) * 5
        let r = 25 + 10 * sin(2 * Double.pi * t / 86_400) + 5 * sin(Double(i) / 7) + Double(i % 13) * 0.2
        try! p.observe(Sample(t: t, requests: r))
    }
    p.train()
    return p
}

/// N predictions, or N trainings on the 1,000 samples, nothing printed (callgrind runs it
/// with two N and takes the difference: the cost of one operation without the setup's).
func count(_ what: String, _ n: Int) {
    let p = trainedPredictor()
    var sink = 0.0
    if what == "predict" {
        for k in 0..<n { sink += try! p.predict(horizon: k & 1 == 0 ? 25 : 900).load }
    } else {
        for _ in 0..<n { var r = p; sink += Double(r.train().samples) }
    }
    if sink.isNaN { exit(1) }
}

func speed() {
    let p = trainedPredictor()

    var best = Double.infinity, bestCPU = Double.infinity
    var sink = 0.0
    let n = 1_000_000
    for _ in 0..<7 {
        let t0 = now(), c0 = cpuNow()
        for k in 0..<n { sink += try! p.predict(horizon: k & 1 == 0 ? 25 : 900).load }
        best = min(best, (now() - t0) / Double(n))
        bestCPU = min(bestCPU, (cpuNow() - c0) / Double(n))
    }
    print("predict \(Int((best * 1e9).rounded())) ns, thread CPU time \(Int((bestCPU * 1e9).rounded())) ns   (best of 7 x \(n), horizons 25 s and 900 s alternately; sink \(sink > 0))")

    var q = p
    var bestObserve = Double.infinity
    for run in 0..<5 {
        let t0 = now()
        for k in 0..<100_000 { try! q.observe(Sample(t: 1_700_443_400.0 + Double(run * 100_000 + k) * 5, requests: 20 + Double(k % 17))) }
        bestObserve = min(bestObserve, (now() - t0) / 100_000)
    }
    print("observe \(Int((bestObserve * 1e9).rounded())) ns   (best of 5 x 100000, no training)")

    var times: [Double] = [], cpu: [Double] = []
    for _ in 0..<21 {
        var r = p
        let t0 = now(), c0 = cpuNow()
        r.train()
        times.append(now() - t0)
        cpu.append(cpuNow() - c0)
    }
    times.sort(); cpu.sort()
    print("train(1000 samples) \(String(Int(times[10] * 1e6))) us median, \(String(Int(times[0] * 1e6))) us best (21 runs); thread CPU time \(String(Int(cpu[10] * 1e6))) us median")
}

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "walk": walk(Array(args.dropFirst()))
case "speed": speed()
case "count": count(args[1], Int(args[2])!)
default: fail("usage: predict-bench walk|speed|count ...")
}
