// pool-bench: the connection pool's hot path, the closed-breaker check, and adaptive against
// fixed sizing replaying a bursty trace against a real redis-server. Benchmarks/pool/run.sh
// starts the server and runs every mode; BENCHMARKS.md "Connection pool" has the figures.
//
//   pool-bench micro                 acquire+release (1 thread, 2 threads), breaker check
//   pool-bench count acquire|breaker N   N iterations, nothing printed (callgrind runs it twice)
//   pool-bench replay PORT [TICK]    the window through two adaptive pools driven by the predictor's
//                                    forecast (+25 s, +900 s of trace time), then a fixed one
import Glibc
import Pool
import RESP
import Synchronization

final class Conn {}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// This thread's CPU time: on a machine shared with other work, the time the loop really ran
/// (wall time also counts the time the scheduler gave to others).
func cpuNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func makePool(max: Int) -> Pool<Conn> {
    try! Pool(name: "bench", options: PoolOptions(min: 0, max: max, maxLifetime: 0, idleTimeout: 0),
              connector: .init(close: { _ in }, create: { _ in Conn() }))
}

/// One checkout + release; a fresh slot is filled the first time.
@inline(__always)
func cycle(_ p: Pool<Conn>) {
    switch p.checkout({ _ in }) {
    case .ready(let l): p.release(l)
    case .create(let permit): p.release(p.fill(permit, with: Conn()))
    case .waiting(let t):
        p.cancel(t, timedOut: false)
    case .failed(let e): fatalError("\(e)")
    }
}

func acquireLoop(_ p: Pool<Conn>, _ n: Int) {
    for _ in 0..<n { cycle(p) }
}

@inline(never)
func breakerLoop(_ b: CircuitBreaker, _ n: Int) -> Int {
    var passed = 0
    for _ in 0..<n where b.allow() == .pass { passed += 1 }
    return passed
}

final class Box<T>: @unchecked Sendable { var value: T; init(_ v: T) { value = v } }

func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    final class Arg { let i: Int; let body: @Sendable (Int) -> Void; init(_ i: Int, _ b: @escaping @Sendable (Int) -> Void) { self.i = i; body = b } }
    for i in 0..<count {
        var t = pthread_t()
        let arg = Unmanaged.passRetained(Arg(i, body)).toOpaque()
        pthread_create(&t, nil, { raw in
            let a = Unmanaged<Arg>.fromOpaque(raw!).takeRetainedValue()
            a.body(a.i)
            return nil
        }, arg)
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

func micro() {
    let n = 5_000_000
    var single: [Double] = [], singleCPU: [Double] = [], both: [Double] = [], check: [Double] = [], checkCPU: [Double] = []
    let p = makePool(max: 2)
    acquireLoop(p, 1000)
    for _ in 0..<7 {
        let t0 = now(), c0 = cpuNow()
        acquireLoop(p, n)
        single.append(Double(now() - t0) / Double(n))
        singleCPU.append(Double(cpuNow() - c0) / Double(n))
    }
    for _ in 0..<5 {
        let t0 = now()
        runThreads(2) { _ in acquireLoop(p, n / 2) }
        // both threads' cycles over the wall time: the pool's throughput under contention
        both.append(Double(now() - t0) / Double(n))
    }
    // two threads on a pool of one connection: every cycle contends (a waiter is queued, the
    // return is handed to it), through the blocking acquire
    var one: [Double] = []
    let q = makePool(max: 1)
    let m = 200_000
    for _ in 0..<5 {
        let t0 = now()
        runThreads(2) { _ in
            for _ in 0..<(m / 2) {
                let l = try! q.acquire(timeout: 30)
                q.release(l)
            }
        }
        one.append(Double(now() - t0) / Double(m))
    }
    let b = try! CircuitBreaker(name: "bench")
    var sink = 0
    for _ in 0..<7 {
        let t0 = now(), c0 = cpuNow()
        sink &+= breakerLoop(b, n * 4)
        check.append(Double(now() - t0) / Double(n * 4))
        checkCPU.append(Double(cpuNow() - c0) / Double(n * 4))
    }
    let s = p.stats
    print("acquire+release, 1 thread:          median \(fmt(median(single))) ns  (min \(fmt(single.min()!)), max \(fmt(single.max()!)))")
    print("  the same, thread CPU time:        median \(fmt(median(singleCPU))) ns  (min \(fmt(singleCPU.min()!)), max \(fmt(singleCPU.max()!)))")
    print("acquire+release, 2 threads, 1 pool: median \(fmt(median(both))) ns per cycle of wall time (min \(fmt(both.min()!)), max \(fmt(both.max()!)))")
    print("acquire+release, 2 threads, pool of 1 connection: median \(fmt(median(one))) ns per cycle of wall time (min \(fmt(one.min()!)), max \(fmt(one.max()!))); waits \(q.stats.acquireWait.count - q.stats.acquireWait.countAtMost(0)) of \(q.stats.acquiredTotal)")
    print("closed-breaker check:               median \(fmt(median(check))) ns  (min \(fmt(check.min()!)), max \(fmt(check.max()!)))")
    print("  the same, thread CPU time:        median \(fmt(median(checkCPU))) ns  (min \(fmt(checkCPU.min()!)), max \(fmt(checkCPU.max()!)))")
    print("pool: created \(s.createdTotal), acquired \(s.acquiredTotal), acquire-wait samples \(s.acquireWait.count) (sink \(sink % 2))")
}

func fmt(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    return String(r)
}

// MARK: replay

/// The replay runs in compressed time: one tick of `tick` real seconds (default 0.25) is one
/// 5-second sampling interval of trace time (x 20 at the default). Everything the sizer and the
/// predictor see is in trace time: samples every 5 s, the forecast horizon 25 s = 5 steps (or
/// 900 s = 180 steps), the rate limit the original's 300 s = 60 steps; only the traffic against
/// redis-server runs in real time, 20 times faster.
let traceInterval = 5.0
let monday = 1_700_438_400.0       // 2023-11-20 00:00 UTC
/// The slot of the day the replayed window starts at: 08:52.
let windowSlot = (8 * 3600 + 52 * 60) / 5

/// The window replayed, in 5 s slots: in-flight callers per slot. Quiet at 2, two bursts at 24
/// with a ramp (from 09:00:00 and 09:07:50), as a service sees a batch job or a cache stampede.
/// The 8 quiet minutes before the first let the adaptive pools leave their starting size more
/// than one rate-limit period (300 s) before it.
func trace() -> [Int] {
    var t: [Int] = []
    t += Array(repeating: 2, count: 96)
    t += [6, 12, 18] + Array(repeating: 24, count: 29)
    t += Array(repeating: 2, count: 32)
    t += [8, 16] + Array(repeating: 24, count: 30)
    t += Array(repeating: 2, count: 24)
    return t
}

/// Callers at slot `k` of any day: the window's shape every day at the same time, 2 otherwise.
func callers(slotOfDay k: Int) -> Int {
    let w = trace()
    return k >= windowSlot && k < windowSlot + w.count ? w[k - windowSlot] : 2
}

/// The rules the adaptive runs use (trace time); `rateLimit` is the original's 300 s but for the
/// run that shows what the forecast does without it.
func sizingRules(horizon: Double, rateLimit: Double = 300) -> SizingRules {
    var rules = SizingRules()
    rules.minSize = 2; rules.maxSize = 24; rules.baseSize = 12
    rules.requestScale = 8                 // 8 callers in flight saturate this 2-core machine
    rules.sampleInterval = traceInterval
    rules.horizon = horizon
    rules.rateLimit = rateLimit
    return rules
}

/// A predictor that has seen the two days before the replayed one (its history is two days):
/// one sample per 5 s slot with 60 to 100 % of the callers in flight (seeded) and a request latency of 1 ms (the
/// response term is 0.3 x 1/500 of the load: nothing), no CPU or memory (left out, as in the
/// live samples). Prints its trainings' accuracy at its horizons.
func warmedForecaster(_ rules: SizingRules) -> PredictorForecaster {
    let f = try! PredictorForecaster(rules: rules)
    let perDay = Int(86_400 / traceInterval)
    var seed: UInt64 = 1
    for i in 0..<(2 * perDay) {
        // a sample sees some of the callers between two calls: 60 to 100 % of them in flight
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let share = 0.6 + 0.4 * Double(seed >> 11) / Double(1 << 53)
        let s = LoadSample(t: monday + Double(i) * traceInterval, concurrent: Double(callers(slotOfDay: i % perDay)) * share,
                           requestsPerSecond: 0, latencyMs: 1, errors: 0)
        f.observe(s, loadFactor: rules.loadFactor(s))
    }
    let p = f.snapshot
    let acc = p.accuracy().map { "\(Int($0.horizonSeconds)) s: MASE \(fmt($0.mase ?? .nan)) (\($0.source.rawValue))" }
    print("predictor warmed on 2 days (\(p.sampleCount) slots, \(p.retrains) trainings): " + acc.joined(separator: ", "))
    return f
}

struct ReplayResult {
    var wait = LogLinearHistogram()
    var latency = LogLinearHistogram()
    var requests = 0
    var failed = 0
    var seconds = 0.0
    var averageSize = 0.0
    var decisions: [AdaptiveSizer.Decision] = []
}

/// One pool through the window: adaptive on the forecast at `horizon` (trace seconds), or fixed.
func replay(port: UInt16, tick: Double, horizon: Double?, fixedSize: Int?, rateLimit: Double = 300) -> ReplayResult {
    let ep = RESPEndpoint(address: .tcp(host: "127.0.0.1", port: port))
    let rules = horizon.map { sizingRules(horizon: $0, rateLimit: rateLimit) }
    let forecaster = rules.map { warmedForecaster($0) }
    let m = try! ManagedPool(name: fixedSize == nil ? "adaptive" : "fixed", kind: "redis",
                             options: PoolOptions(min: fixedSize ?? 2, max: fixedSize ?? 24, acquireTimeout: 10),
                             connector: RESPPooling.connector(endpoint: ep, connectTimeout: 2, timeout: 5),
                             sizing: rules, forecaster: forecaster)
    // the replayed day is the third: the predictor's history ends the slot before it
    let dayStart = monday + 2 * 86_400
    let plan = trace()
    let level = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let results = Mutex<ReplayResult>(ReplayResult())
    let workers = plan.max()!
    let start = now()
    let sizeSum = Box(0.0)
    let decisions = Box<[AdaptiveSizer.Decision]>([])
    let driver = Box(0)
    // the driver runs on its own thread: it sets the level each tick and samples the pool
    runThreads(workers + 1) { i in
        if i == workers {
            for (k, lv) in plan.enumerated() {
                level.store(lv, ordering: .relaxed)
                let until = start + UInt64(Double(k + 1) * tick * 1e9)
                while now() < until { usleep(2000) }
                // the slot that just ended, in trace time
                let t = dayStart + Double(windowSlot + k + 1) * traceInterval
                if let d = m.sample(t: t) { decisions.value.append(d) }
                sizeSum.value += Double(m.pool.capacity)
                driver.value += 1
            }
            stop.store(true, ordering: .relaxed)
            return
        }
        var local = ReplayResult()
        var k = 0
        while !stop.load(ordering: .relaxed) {
            if i >= level.load(ordering: .relaxed) { usleep(1000); continue }
            k += 1
            let t0 = now()
            var waited: UInt64 = 0
            do {
                _ = try m.call(pattern: "SET k:*", classify: RESPPooling.classify) { c -> RESPValue in
                    waited = now() - t0
                    return try c.command(["SET", "k:\(i)", String(k)])
                }
                local.latency.record(now() - t0)
                local.wait.record(waited)
                local.requests += 1
            } catch {
                local.failed += 1
            }
        }
        results.withLock { r in
            r.wait.merge(local.wait); r.latency.merge(local.latency)
            r.requests += local.requests; r.failed += local.failed
        }
    }
    var r = results.withLock { $0 }
    r.seconds = Double(now() - start) / 1e9
    r.averageSize = sizeSum.value / Double(max(driver.value, 1))
    r.decisions = decisions.value
    m.pool.close()
    return r
}

/// The size a held decision wanted (its reason says "target N, held: ...").
func heldTarget(_ d: AdaptiveSizer.Decision) -> Int? {
    let words = d.reason.split(separator: " ")
    guard let i = words.firstIndex(of: "target"), i + 1 < words.endIndex else { return nil }
    return Int(words[i + 1].prefix { $0.isNumber })
}

func report(_ name: String, _ r: ReplayResult) {
    func ms(_ ns: UInt64) -> String { fmt(Double(ns) / 1e3) + " us" }
    print("\(name): size avg \(fmt(r.averageSize)), \(r.requests) requests in \(fmt(r.seconds)) s (\(Int(Double(r.requests) / r.seconds))/s), \(r.failed) failed")
    print("  acquire wait  p50 \(ms(r.wait.quantile(0.5)))  p99 \(ms(r.wait.quantile(0.99)))  max \(ms(r.wait.max))")
    print("  request       p50 \(ms(r.latency.quantile(0.5)))  p99 \(ms(r.latency.quantile(0.99)))  max \(ms(r.latency.max))")
}

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : "" {
case "micro":
    micro()
case "count":
    let n = Int(args[3])!
    if args[2] == "acquire" {
        let p = makePool(max: 2)
        acquireLoop(p, n)
    } else {
        let b = try! CircuitBreaker(name: "bench")
        if breakerLoop(b, n) != n { exit(1) }
    }
case "forecast":
    // the predictor alone over the window, fed the plan's callers (no server): what it forecasts
    let h = Double(args[2])!
    let rules = sizingRules(horizon: h)
    let f = warmedForecaster(rules)
    for (k, c) in trace().enumerated() {
        let s = LoadSample(t: monday + 2 * 86_400 + Double(windowSlot + k) * traceInterval, concurrent: Double(c),
                           requestsPerSecond: 0, latencyMs: 1, errors: 0)
        f.observe(s, loadFactor: rules.loadFactor(s))
        let fc = f.forecast(horizon: h)
        print("slot \(k) callers \(c) load \(fmt(rules.loadFactor(s))) forecast \(fc.map { fmt($0.load) } ?? "-") truth \(k + Int(h / traceInterval) < trace().count ? fmt(rules.loadFactor(LoadSample(t: 0, concurrent: Double(trace()[k + Int(h / traceInterval)]), requestsPerSecond: 0, latencyMs: 1, errors: 0))) : "-")")
    }
case "replay":
    let port = UInt16(args[2])!
    let tick = args.count > 3 ? Double(args[3])! : 0.25
    let near = replay(port: port, tick: tick, horizon: 25, fixedSize: nil)
    let far = replay(port: port, tick: tick, horizon: 900, fixedSize: nil)
    let fixed = max(1, Int(near.averageSize.rounded()))
    let f = replay(port: port, tick: tick, horizon: nil, fixedSize: fixed)
    // what the forecast does when the original's rate limit does not hold it (one sample, 5 s),
    // against a fixed pool of that run's own average size
    let free = replay(port: port, tick: tick, horizon: 25, fixedSize: nil, rateLimit: traceInterval)
    let freeFixed = max(1, Int(free.averageSize.rounded()))
    let ff = replay(port: port, tick: tick, horizon: nil, fixedSize: freeFixed)
    print("window: \(trace().count) slots of 5 s from 08:52 of the third day, each replayed in \(tick) s (x \(fmt(traceInterval / tick)) compressed); callers 2 quiet, 24 in two bursts")
    report("adaptive (2..24), forecast at +25 s (5 steps)", near)
    report("adaptive (2..24), forecast at +900 s (180 steps)", far)
    report("fixed at the +25 s run's average (\(fixed))", f)
    report("adaptive (2..24), forecast at +25 s, rate limit 5 s instead of 300 s", free)
    report("fixed at that run's average (\(freeFixed))", ff)
    for (name, r) in [("+25 s", near), ("+900 s", far), ("+25 s, rate limit 5 s", free)] {
        let held = r.decisions.filter { !$0.applied && $0.reason.contains("rate limit") && heldTarget($0) != $0.from }
        print("sizing decisions applied (\(name)); \(held.count) more wanted a change the rate limit held, the largest target held \(held.compactMap(heldTarget).max().map(String.init) ?? "-"):")
        for d in r.decisions where d.applied {
            let slot = Int(((d.t - monday - 2 * 86_400) / traceInterval).rounded()) - windowSlot - 1
            print("  slot \(slot) (\(trace()[max(0, min(slot, trace().count - 1))]) callers) \(d.from) -> \(d.to): \(d.reason)")
        }
    }
default:
    print("usage: pool-bench micro | count acquire|breaker N | replay PORT [TICK]")
    exit(2)
}
