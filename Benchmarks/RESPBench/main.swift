// resp-bench: opsh's RESP client and parser, measured the same way as Benchmarks/redis/hiredis_bench.c.
// Driven by Benchmarks/redis/run.sh, which pins it with taskset and runs it alternately with
// the hiredis loop against one redis-server; see BENCHMARKS.md "Redis (RESP) vs hiredis".
//
//   resp-bench MODE [--port P] [--host H] [--n N] [--reps R]
//
// MODE is one of
//   get          sequential GET round trips (one command, wait for the reply), us/req
//   set          sequential SET round trips, us/req
//   pipe16       pipelined GET, 16 commands sent then 16 replies read, req/s
//   pipe1000     pipelined GET at depth 1000, req/s
//   parse-array  one array reply of 1,000,000 short bulks ("value:N"), parsed from memory in
//                64 KB feeds, MB/s
//   parse-bulk   ten 10 MiB bulk strings (100 MiB), parsed from memory in 64 KB feeds, MB/s
//
// Each of the R timed repetitions (after one untimed warm-up) prints one line:
//   MODE VALUE UNIT
// The server modes use RESP2 (no HELLO), key "resp-bench:k" holding "xxx" (redis-benchmark's
// default 3-byte value); SET writes the same value.
import Glibc
import RESP

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func fail(_ msg: String) -> Never {
    let line = Array("resp-bench: \(msg)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else {
    fail("usage: resp-bench get|set|pipe16|pipe1000|parse-array|parse-bulk [--host H] [--port P] [--n N] [--reps R]")
}
args.removeFirst()
var optHost = "127.0.0.1"
var optPort: UInt16 = 6379
var n: Int? = nil
var optReps = 3
while !args.isEmpty {
    let flag = args.removeFirst()
    guard let v = args.first else { fail("\(flag) needs a value") }
    args.removeFirst()
    switch flag {
    case "--host": optHost = v
    case "--port": guard let p = UInt16(v) else { fail("bad port \(v)") }; optPort = p
    case "--n": guard let k = Int(v), k > 0 else { fail("bad --n \(v)") }; n = k
    case "--reps": guard let k = Int(v), k > 0 else { fail("bad --reps \(v)") }; optReps = k
    default: fail("unknown option \(flag)")
    }
}
let host = optHost, port = optPort, reps = optReps

let key = "resp-bench:k"
let value: [UInt8] = Array("xxx".utf8)

func connect() -> RESPSession {
    do {
        let c = try RESPSession.connect(endpoint: .tcp(host, port))
        let r = try c.command(["SET", key, "xxx"])
        guard r == .simpleString(Array("OK".utf8)) else { fail("SET replied \(r)") }
        return c
    } catch {
        fail("\(error)")
    }
}

/// Sequential round trips: time per request in microseconds.
func sequential(_ c: RESPSession, _ cmd: [String], _ count: Int, _ expect: RESPValue) -> Double {
    let t0 = now()
    for _ in 0..<count {
        let r: RESPValue
        do { r = try c.command(cmd) } catch { fail("\(error)") }
        if r != expect { fail("\(cmd[0]) replied \(r)") }
    }
    return (now() - t0) / Double(count) * 1e6
}

/// Pipelined GET at `depth`: requests per second over `count` requests.
func pipelined(_ c: RESPSession, depth: Int, _ count: Int) -> Double {
    let batch = Array(repeating: ["GET", key], count: depth)
    let expect = RESPValue.bulkString(value)
    var total = 0
    let t0 = now()
    while total < count {
        let rs: [RESPValue]
        do { rs = try c.pipeline(batch) } catch { fail("\(error)") }
        if rs.count != depth || rs[depth - 1] != expect { fail("pipeline replied \(rs.count) replies, last \(rs.last.map { "\($0)" } ?? "none")") }
        total += depth
    }
    return Double(total) / (now() - t0)
}

/// Parses `data` in 64 KB feeds: MB/s (10^6 bytes). Every reply is built and dropped.
func parse(_ data: [UInt8], expect: Int) -> Double {
    let p = RESPParser()
    var replies = 0
    let t0 = now()
    data.withUnsafeBytes { all in
        var off = 0
        while off < all.count {
            let k = min(65536, all.count - off)
            p.feed(UnsafeRawBufferPointer(rebasing: all[off..<(off + k)]))
            off += k
            do {
                while let _ = try p.next() { replies += 1 }
            } catch { fail("parser: \(error)") }
        }
    }
    let dt = now() - t0
    if replies != expect { fail("parsed \(replies) replies, expected \(expect)") }
    return Double(data.count) / dt / 1e6
}

func arrayReply() -> [UInt8] {
    var a: [UInt8] = []
    a.reserveCapacity(20 << 20)
    a += Array("*1000000\r\n".utf8)
    for i in 0..<1_000_000 {
        let s = "value:\(i)"
        a += Array("$\(s.utf8.count)\r\n\(s)\r\n".utf8)
    }
    return a
}

func bulkReplies() -> [UInt8] {
    let size = 10 << 20
    var b: [UInt8] = []
    b.reserveCapacity(10 * (size + 16))
    for _ in 0..<10 {
        b += Array("$\(size)\r\n".utf8)
        b += [UInt8](repeating: UInt8(ascii: "a"), count: size)
        b += [13, 10]
    }
    return b
}

func report(_ samples: () -> Double, unit: String) {
    _ = samples()  // warm-up
    for _ in 0..<reps {
        print("\(mode) \(samples()) \(unit)")
    }
}

switch mode {
case "get":
    let c = connect()
    let count = n ?? 20_000
    report({ sequential(c, ["GET", key], count, .bulkString(value)) }, unit: "us/req")
case "set":
    let c = connect()
    let count = n ?? 20_000
    report({ sequential(c, ["SET", key, "xxx"], count, .simpleString(Array("OK".utf8))) }, unit: "us/req")
case "pipe16":
    let c = connect()
    let count = n ?? 200_000
    report({ pipelined(c, depth: 16, count) }, unit: "req/s")
case "pipe1000":
    let c = connect()
    let count = n ?? 500_000
    report({ pipelined(c, depth: 1000, count) }, unit: "req/s")
case "parse-array":
    let data = arrayReply()
    report({ parse(data, expect: 1) }, unit: "MB/s")
case "parse-bulk":
    let data = bulkReplies()
    report({ parse(data, expect: 10) }, unit: "MB/s")
default:
    fail("unknown mode \(mode)")
}
