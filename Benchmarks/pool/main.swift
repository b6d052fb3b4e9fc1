// pool-bench: the connection pool's hot path, the closed-breaker check, and adaptive against
// fixed sizing replaying a bursty trace against a real redis-server. Benchmarks/pool/run.sh
// starts the server and runs every mode; BENCHMARKS.md "Connection pool" has the figures.
//
//   pool-bench micro                 acquire+release (1 thread, 2 threads), breaker check
//   pool-bench count acquire|breaker N   N iterations, nothing printed (callgrind runs it twice)
//   pool-bench replay PORT [SCALE]   the trace through an adaptive pool, then a fixed one
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

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func makePool(max: Int) -> Pool<Conn> {
    try! Pool(name: "bench", options: PoolOptions(min: 0, max: max, maxLifetime: 0, idleTimeout: 0),
              connector: .init(close: { _ in }))
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
    var single: [Double] = [], both: [Double] = [], check: [Double] = []
    let p = makePool(max: 2)
    acquireLoop(p, 1000)
    for _ in 0..<7 {
        let t0 = now()
        acquireLoop(p, n)
        single.append(Double(now() - t0) / Double(n))
    }
    for _ in 0..<5 {
        let t0 = now()
        runThreads(2) { _ in acquireLoop(p, n / 2) }
        // both threads' cycles over the wall time: the pool's throughput under contention
        both.append(Double(now() - t0) / Double(n))
    }
    let b = try! CircuitBreaker(name: "bench")
    var sink = 0
    for _ in 0..<7 {
        let t0 = now()
        sink &+= breakerLoop(b, n * 4)
        check.append(Double(now() - t0) / Double(n * 4))
    }
    let s = p.stats
    print("acquire+release, 1 thread:          median \(fmt(median(single))) ns  (min \(fmt(single.min()!)), max \(fmt(single.max()!)))")
    print("acquire+release, 2 threads, 1 pool: median \(fmt(median(both))) ns per cycle of wall time (min \(fmt(both.min()!)), max \(fmt(both.max()!)))")
    print("closed-breaker check:               median \(fmt(median(check))) ns  (min \(fmt(check.min()!)), max \(fmt(check.max()!)))")
    print("pool: created \(s.createdTotal), acquired \(s.acquiredTotal), acquire-wait samples \(s.acquireWait.count) (sink \(sink % 2))")
}

func fmt(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    return String(r)
}

// MARK: replay

/// The trace, in ticks of one sampling interval: in-flight callers per tick. Quiet at 2,
/// two bursts at 24 with a ramp, as a service sees a batch job or a cache stampede.
func trace() -> [Int] {
    var t: [Int] = []
    t += Array(repeating: 2, count: 24)
    t += [6, 12, 18] + Array(repeating: 24, count: 29)
    t += Array(repeating: 2, count: 32)
    t += [8, 16] + Array(repeating: 24, count: 30)
    t += Array(repeating: 2, count: 24)
    return t
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

/// Process CPU use since the last call, as a share of the machine (0...1).
final class CPUMeter {
    var lastCPU = 0.0, lastWall = 0.0
    func read() -> Double {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        let cpu = Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
        let wall = Double(now()) / 1e9
        defer { lastCPU = cpu; lastWall = wall }
        guard lastWall > 0 else { return 0 }
        return min(1, max(0, (cpu - lastCPU) / (wall - lastWall) / 2))
    }
}

func replay(port: UInt16, tick: Double, fixedSize: Int?) -> ReplayResult {
    let ep = RESPEndpoint(address: .tcp(host: "127.0.0.1", port: port))
    var rules = SizingRules()
    rules.minSize = 2; rules.maxSize = 24; rules.baseSize = 12
    rules.requestScale = 8                 // 8 callers saturate this 2-core machine
    rules.sampleInterval = tick
    rules.horizon = 5 * tick
    rules.rateLimit = 8 * tick             // the original's 300 s at its 5 s sampling is 60 ticks; see BENCHMARKS.md
    let m = try! ManagedPool(name: fixedSize == nil ? "adaptive" : "fixed", kind: "redis",
                             options: PoolOptions(min: fixedSize ?? 2, max: fixedSize ?? 24, acquireTimeout: 10),
                             connector: RESPPooling.connector(endpoint: ep, connectTimeout: 2, timeout: 5),
                             sizing: fixedSize == nil ? rules : nil, forecaster: nil)
    let plan = trace()
    let level = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let results = Mutex<ReplayResult>(ReplayResult())
    let workers = plan.max()!
    let cpu = CPUMeter()
    let start = now()
    var sizeSum = 0.0
    var decisions: [AdaptiveSizer.Decision] = []
    let driver = Box(0)
    // the driver runs on its own thread: it sets the level each tick and samples the pool
    runThreads(workers + 1) { i in
        if i == workers {
            for (k, lv) in plan.enumerated() {
                level.store(lv, ordering: .relaxed)
                let until = start + UInt64(Double(k + 1) * tick * 1e9)
                while now() < until { usleep(2000) }
                if let d = m.sample(t: Double(now() - start) / 1e9, cpu: cpu.read()) { decisions.append(d) }
                sizeSum += Double(m.pool.capacity)
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
    r.averageSize = sizeSum / Double(max(driver.value, 1))
    r.decisions = decisions
    m.pool.close()
    return r
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
case "replay":
    let port = UInt16(args[2])!
    let tick = args.count > 3 ? Double(args[3])! : 0.25
    let a = replay(port: port, tick: tick, fixedSize: nil)
    let fixed = max(1, Int(a.averageSize.rounded()))
    let f = replay(port: port, tick: tick, fixedSize: fixed)
    print("trace: \(trace().count) ticks of \(tick) s; callers 2 quiet, 24 in two bursts")
    report("adaptive (2..24, load factor of the current sample)", a)
    report("fixed at the adaptive average (\(fixed))", f)
    print("sizing decisions applied:")
    for d in a.decisions where d.applied { print("  t=\(fmt(d.t))s \(d.from) -> \(d.to): \(d.reason)") }
default:
    print("usage: pool-bench micro | count acquire|breaker N | replay PORT [TICK]")
    exit(2)
}
